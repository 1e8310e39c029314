// Charts of the experiment page. Each draws into a container and sets data-points to the number of
// data points it drew, which the browser test reads. No user string is ever parsed as HTML.
"use strict";
const RungCharts = (() => {
  const PALETTE = ["#4a78c2", "#e07b39", "#3c9e5f", "#c2453f", "#8a63b8", "#8c6d4f", "#d66bb0", "#7f7f7f", "#b5b83a", "#3bb3c4"];
  const colour = (i) => PALETTE[i % PALETTE.length];

  function frame(el, title) {
    el.replaceChildren();
    const h = document.createElement("h3");
    h.textContent = title;
    el.appendChild(h);
    return el;
  }
  function empty(el, text) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = text;
    el.appendChild(p);
    el.dataset.points = "0";
  }
  function canvas(el, w, h) {
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    el.appendChild(c);
    return c.getContext("2d");
  }

  // Learning curves: metric vs time_attr, one series per trial; milestones as dashed lines.
  function curves(el, view) {
    frame(el, `Learning curves (${view.summary.metric} vs ${view.time_attr})`);
    const ids = Object.keys(view.curves);
    const xs = [...new Set(ids.flatMap((id) => view.curves[id].map((p) => p[0])).filter((x) => x !== null))].sort((a, b) => a - b);
    let points = 0;
    const data = [xs];
    const series = [{ label: view.time_attr }];
    const byStatus = Object.fromEntries(view.trials.map((t) => [String(t.id), t.status]));
    ids.forEach((id, i) => {
      const at = new Map(view.curves[id].map((p) => [p[0], p[1]]));
      data.push(xs.map((x) => (at.has(x) ? at.get(x) : null)));
      points += view.curves[id].filter((p) => p[1] !== null).length;
      const stopped = byStatus[id] === "STOPPED" || byStatus[id] === "ERROR";
      series.push({ label: `trial ${id}`, stroke: stopped ? "#bbb" : colour(i), width: stopped ? 1 : 1.5, spanGaps: true, points: { size: 3 } });
    });
    if (!points) return empty(el, "no results yet");
    const milestones = view.milestones;
    const opts = {
      width: 620, height: 300, series, legend: { show: false },
      scales: { x: { time: false } },
      hooks: { draw: [(u) => {
        const ctx = u.ctx;
        ctx.save(); ctx.setLineDash([4, 4]); ctx.strokeStyle = "#999";
        for (const m of milestones) {
          const x = u.valToPos(m, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        }
        ctx.restore();
      }] },
    };
    new uPlot(opts, data, el);
    el.dataset.points = String(points);
    el.dataset.series = String(ids.length);
    el.dataset.milestones = String(milestones.length);
  }

  // Best value so far vs wall time.
  function bestSoFar(el, view) {
    frame(el, `Best ${view.summary.metric} so far vs wall time`);
    const pts = view.best_so_far;
    if (!pts.length) return empty(el, "no finite result yet");
    const t0 = pts[0][0];
    const xs = pts.map((p) => p[0] - t0), ys = pts.map((p) => p[1]);
    new uPlot({ width: 420, height: 300, legend: { show: false }, scales: { x: { time: false } },
      series: [{ label: "seconds" }, { label: "best", stroke: "#3c9e5f", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }] }, [xs, ys], el);
    el.dataset.points = String(pts.length);
  }

  // A legend of coloured swatches under a chart (labels as text).
  function legend(el, title, items) {
    const box = document.createElement("div");
    box.className = "legend";
    const t = document.createElement("span");
    t.className = "legend-title";
    t.textContent = `${title}:`;
    box.appendChild(t);
    for (const item of items) {
      const entry = document.createElement("span");
      entry.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = item.colour;
      entry.appendChild(swatch);
      entry.appendChild(document.createTextNode(item.label));
      box.appendChild(entry);
    }
    el.appendChild(box);
  }

  // True for a "#rrggbb" colour dark enough for white text on it.
  const dark = (hex) => { const n = parseInt(hex.slice(1), 16); return 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255) < 140; };

  // Worker timeline: one row per slot of the tuner, a bar per running stretch (RUNNING up to the
  // event that ended it), coloured by the rung reached or red for a failure.
  function timeline(el, view) {
    frame(el, "Worker timeline");
    const spans = view.timeline;
    if (!spans.length) return empty(el, "no trial has run yet");
    const key = view.timeline_legend;
    // reduce, not Math.max(...spans): a long run has more bars than a call takes arguments.
    const slots = spans.reduce((m, s) => Math.max(m, s.slot), 0) + 1;
    const t0 = spans.reduce((m, s) => Math.min(m, s.start), Infinity);
    const t1 = spans.reduce((m, s) => Math.max(m, s.end), -Infinity);
    const W = 620, row = 18, H = slots * row + 24, left = 50;
    const ctx = canvas(el, W, H);
    const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (W - left - 10);
    ctx.font = "11px sans-serif";
    for (let s = 0; s < slots; s++) { ctx.fillStyle = "#333"; ctx.fillText(`slot ${s}`, 2, s * row + 13); }
    for (const sp of spans) {
      ctx.fillStyle = key.items[sp.legend].colour;
      const a = x(sp.start), b = Math.max(x(sp.end), a + 3);
      ctx.fillRect(a, sp.slot * row + 2, b - a, row - 4);
      ctx.strokeStyle = "#fff"; ctx.strokeRect(a, sp.slot * row + 2, b - a, row - 4);
      if (b - a > 24) { ctx.fillStyle = dark(key.items[sp.legend].colour) ? "#fff" : "#222"; ctx.fillText(String(sp.trial), a + 3, sp.slot * row + 13); }
    }
    const total = t1 - t0;
    ctx.fillStyle = "#333"; ctx.fillText(`0 s`, left, H - 6);
    ctx.fillText(`${total < 10 ? total.toPrecision(2) : total.toFixed(0)} s`, W - 60, H - 6);
    legend(el, key.title, key.items);
    el.dataset.points = String(spans.length);
    el.dataset.slots = String(slots);
    el.dataset.failed = String(spans.filter((s) => s.ended === "ERROR").length);
  }

  function numericParams(view) {
    const keys = [...new Set(view.trials.flatMap((t) => Object.keys(t.config)))];
    return keys.filter((k) => view.trials.every((t) => typeof t.config[k] === "number" || typeof t.config[k] === "string")
      && new Set(view.trials.map((t) => t.config[k])).size > 1);
  }

  // Parallel coordinates: an axis per top-level hyperparameter and the metric; a line per trial.
  function parallel(el, view) {
    frame(el, "Parallel coordinates");
    const metric = view.summary.metric;
    const trials = view.trials.filter((t) => t.best && typeof t.best[metric] === "number");
    const keys = numericParams(view);
    if (!trials.length || !keys.length) return empty(el, "no scored trial yet");
    const axes = [...keys, metric];
    const value = (t, k) => (k === metric ? t.best[metric] : t.config[k]);
    const scale = axes.map((k) => {
      const vals = trials.map((t) => value(t, k));
      if (vals.every((v) => typeof v === "number")) {
        const lo = Math.min(...vals), hi = Math.max(...vals);
        return (v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
      }
      const cats = [...new Set(vals.map(String))].sort();
      return (v) => (cats.length > 1 ? cats.indexOf(String(v)) / (cats.length - 1) : 0.5);
    });
    const W = 620, H = 260, top = 20, bottom = 30;
    const ctx = canvas(el, W, H);
    const ax = (i) => 30 + (i * (W - 60)) / Math.max(axes.length - 1, 1);
    const y = (f) => top + (1 - f) * (H - top - bottom);
    const mScale = scale[axes.length - 1];
    for (const t of trials) {
      const f = mScale(t.best[metric]);
      const good = view.summary.mode === "max" ? f : 1 - f;
      ctx.strokeStyle = `hsla(${Math.round(good * 120)}, 70%, 40%, 0.7)`;
      ctx.beginPath();
      axes.forEach((k, i) => (i ? ctx.lineTo(ax(i), y(scale[i](value(t, k)))) : ctx.moveTo(ax(i), y(scale[i](value(t, k))))));
      ctx.stroke();
    }
    ctx.fillStyle = "#333"; ctx.strokeStyle = "#333"; ctx.font = "11px sans-serif";
    axes.forEach((k, i) => { ctx.beginPath(); ctx.moveTo(ax(i), top); ctx.lineTo(ax(i), H - bottom); ctx.stroke(); ctx.fillText(k, ax(i) - 15, H - 10); });
    el.dataset.points = String(trials.length);
  }

  // Importance: a bar per hyperparameter (|rank correlation| or correlation ratio with the metric).
  function importance(el, view) {
    frame(el, "Hyperparameter importance");
    const entries = Object.entries(view.importance).sort((a, b) => b[1] - a[1]);
    if (!entries.length) return empty(el, "needs 3 scored trials");
    const table = document.createElement("table");
    for (const [k, v] of entries) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      const bar = document.createElement("span");
      bar.className = "bar"; bar.style.width = `${Math.round(v * 200)}px`;
      tr.insertCell().appendChild(bar);
      tr.insertCell().textContent = v.toFixed(2);
    }
    el.appendChild(table);
    el.dataset.points = String(entries.length);
  }

  // PBT schedules: a numeric hyperparameter over each trial's iterations, clone edges dashed.
  function schedules(el, view) {
    frame(el, "Hyperparameter schedules (PBT)");
    const ids = Object.keys(view.schedules);
    if (!ids.length) return empty(el, "no trial changed its hyperparameters");
    const keys = [...new Set(ids.flatMap((id) => view.schedules[id].flatMap((e) => Object.keys(e.config || {}))))]
      .filter((k) => ids.every((id) => view.schedules[id].every((e) => !e.config || typeof e.config[k] === "number")));
    if (!keys.length) return empty(el, "no numeric hyperparameter");
    const key = keys[0];
    const iters = Object.fromEntries(view.trials.map((t) => [String(t.id), t.iteration]));
    const segs = ids.flatMap((id) => view.schedules[id].map((e, i, all) => ({ id, from: e.iteration, to: i + 1 < all.length ? all[i + 1].iteration : Math.max(iters[id] || 0, e.iteration), v: e.config[key], donor: e.from_trial })));
    const vs = segs.map((s) => s.v), x1 = Math.max(...segs.map((s) => s.to), 1);
    const lo = Math.min(...vs), hi = Math.max(...vs);
    const W = 620, H = 260, left = 50;
    const ctx = canvas(el, W, H);
    const x = (i) => left + (i / x1) * (W - left - 10), y = (v) => 10 + (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5) * (H - 40);
    const valueAt = (id, it) => { let v = null; for (const s of segs) if (s.id === id && s.from <= it) v = s.v; return v; };
    segs.forEach((s) => {
      ctx.strokeStyle = colour(ids.indexOf(s.id)); ctx.lineWidth = 2; ctx.setLineDash([]);
      ctx.beginPath(); ctx.moveTo(x(s.from), y(s.v)); ctx.lineTo(x(s.to), y(s.v)); ctx.stroke();
      if (s.donor !== null && s.donor !== undefined && s.from > 0) {
        const dv = valueAt(String(s.donor), s.from);
        if (dv !== null) { ctx.setLineDash([3, 3]); ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(x(s.from), y(dv)); ctx.lineTo(x(s.from), y(s.v)); ctx.stroke(); }
      }
    });
    ctx.setLineDash([]); ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.fillText(key, 2, 12); ctx.fillText(String(hi), 2, 24); ctx.fillText(String(lo), 2, H - 30); ctx.fillText(view.time_attr || "iteration", W - 110, H - 6);
    el.dataset.points = String(segs.length);
  }

  return { curves, bestSoFar, timeline, parallel, importance, schedules };
})();
