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

  const count = (n) => Number(n).toLocaleString("en-US");

  // Learning curves: metric vs time_attr, one series per trial shown (every trial, or the best ones
  // of a large run with a band of percentiles over a sample of all); milestones as dashed lines.
  function curves(el, view) {
    const of = view.curves_of || {};
    const cut = of.shown < of.with_results;
    const band = view.band;
    frame(el, `Learning curves (${view.summary.metric} vs ${view.time_attr})` + (cut ? `: the best ${count(of.shown)} of ${count(of.with_results)} trials` : ""));
    const ids = Object.keys(view.curves);
    const xs = [...new Set([...ids.flatMap((id) => view.curves[id].map((p) => p[0])), ...(band ? band.x : [])].filter((x) => x !== null))].sort((a, b) => a - b);
    let points = 0;
    const data = [xs];
    const series = [{ label: view.time_attr }];
    const byStatus = view.curve_status || {};
    const bands = [];
    if (band) {
      // 10-90th and 25-75th percentiles as filled bands, the median as a line.
      const keys = ["p10", "p25", "p50", "p75", "p90"];
      const styles = { p10: "#ddd", p25: "#ccc", p50: "#999", p75: "#ccc", p90: "#ddd" };
      for (const k of keys) {
        const at = new Map(band.x.map((x, i) => [x, band[k][i]]));
        data.push(xs.map((x) => (at.has(x) ? at.get(x) : null)));
        series.push({ label: k, stroke: styles[k], width: k === "p50" ? 1.5 : 1, dash: k === "p50" ? [4, 3] : undefined, spanGaps: true, points: { show: false } });
      }
      bands.push({ series: [5, 1], fill: "rgba(120,120,120,0.10)" }, { series: [4, 2], fill: "rgba(120,120,120,0.18)" });
    }
    ids.forEach((id, i) => {
      const at = new Map(view.curves[id].map((p) => [p[0], p[1]]));
      data.push(xs.map((x) => (at.has(x) ? at.get(x) : null)));
      points += view.curves[id].filter((p) => p[1] !== null).length;
      const stopped = byStatus[id] === "STOPPED" || byStatus[id] === "ERROR";
      series.push({ label: `trial ${id}`, stroke: stopped && !cut ? "#bbb" : colour(i), width: stopped && !cut ? 1 : 1.5, spanGaps: true, points: { size: 3 } });
    });
    if (!points) return empty(el, "no results yet");
    const milestones = view.milestones;
    const opts = {
      width: 620, height: 300, series, bands, legend: { show: false },
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
    if (band) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = `grey: 10th-90th and 25th-75th percentiles and median over ${count(band.trials)} trials spread over the run`;
      el.appendChild(note);
    }
    el.dataset.points = String(points);
    el.dataset.series = String(ids.length);
    el.dataset.milestones = String(milestones.length);
    el.dataset.band = String(band ? band.trials : 0);
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
    spentSoFar(el, view, t0);
  }

  // Money spent vs wall time (runs with prices), under best-so-far on the same time axis.
  function spentSoFar(el, view, t0) {
    const pts = view.spent_so_far || [];
    if (!pts.length) return;
    const title = document.createElement("h3");
    title.textContent = `Money spent: ${pts[pts.length - 1][1].toFixed(2)}`;
    el.appendChild(title);
    new uPlot({ width: 420, height: 160, legend: { show: false }, scales: { x: { time: false } },
      series: [{ label: "seconds" }, { label: "spent", stroke: "#b8860b", width: 2 }] }, [pts.map((p) => p[0] - t0), pts.map((p) => p[1])], el);
    el.dataset.spent = String(pts.length);
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
  // event that ended it), coloured by the rung reached or red for a failure. A large run comes per
  // slot at the chart's resolution (timeline_bins): each bin has the colour that held the slot longest.
  function timeline(el, view) {
    frame(el, "Worker timeline");
    const binned = view.timeline_bins;
    const spans = view.timeline;
    if (!binned && !spans.length) return empty(el, "no trial has run yet");
    const key = view.timeline_legend;
    // reduce, not Math.max(...spans): a long run has more bars than a call takes arguments.
    const slots = binned ? binned.slots : spans.reduce((m, s) => Math.max(m, s.slot), 0) + 1;
    const t0 = binned ? binned.t0 : spans.reduce((m, s) => Math.min(m, s.start), Infinity);
    const t1 = binned ? binned.t1 : spans.reduce((m, s) => Math.max(m, s.end), -Infinity);
    const W = 620, row = slots > 32 ? 8 : 18, H = slots * row + 24, left = 50;
    const ctx = canvas(el, W, H);
    const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (W - left - 10);
    ctx.font = "11px sans-serif";
    const every = row < 12 ? 8 : 1;
    for (let s = 0; s < slots; s += every) { ctx.fillStyle = "#333"; ctx.fillText(`slot ${s}`, 2, s * row + Math.min(row, 13)); }
    if (binned) {
      const width = (W - left - 10) / binned.bins;
      for (const [slot, first, length, legend] of binned.runs) {
        ctx.fillStyle = key.items[legend].colour;
        ctx.fillRect(left + first * width, slot * row + 1, length * width, row - 2);
      }
    } else {
      for (const sp of spans) {
        ctx.fillStyle = key.items[sp.legend].colour;
        const a = x(sp.start), b = Math.max(x(sp.end), a + 3);
        ctx.fillRect(a, sp.slot * row + 2, b - a, row - 4);
        ctx.strokeStyle = "#fff"; ctx.strokeRect(a, sp.slot * row + 2, b - a, row - 4);
        if (b - a > 24) { ctx.fillStyle = dark(key.items[sp.legend].colour) ? "#fff" : "#222"; ctx.fillText(String(sp.trial), a + 3, sp.slot * row + 13); }
      }
    }
    const total = t1 - t0;
    ctx.fillStyle = "#333"; ctx.fillText(`0 s`, left, H - 6);
    ctx.fillText(`${total < 10 ? total.toPrecision(2) : total.toFixed(0)} s`, W - 60, H - 6);
    legend(el, key.title, key.items);
    if (binned) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = `${count(binned.stretches)} running stretches in ${binned.bins} time bins per slot: each bin shows the colour that held the slot longest`;
      el.appendChild(note);
    }
    el.dataset.points = String(binned ? binned.stretches : spans.length);
    el.dataset.slots = String(slots);
    el.dataset.failed = String(binned ? binned.failed : spans.filter((s) => s.ended === "ERROR").length);
  }

  function numericParams(trials) {
    const keys = [...new Set(trials.flatMap((t) => Object.keys(t.config)))];
    return keys.filter((k) => trials.every((t) => typeof t.config[k] === "number" || typeof t.config[k] === "string")
      && new Set(trials.map((t) => t.config[k])).size > 1);
  }

  // Parallel coordinates: an axis per top-level hyperparameter and the metric; a line per trial (of
  // a large run: the best ones and others spread over the run).
  function parallel(el, view) {
    const of = view.parallel_of || {};
    frame(el, "Parallel coordinates" + (of.shown < of.scored ? ` (${count(of.shown)} of ${count(of.scored)} scored trials: the best and others spread over the run)` : ""));
    const metric = view.summary.metric;
    const trials = view.parallel.filter((t) => typeof t.best === "number");
    const keys = numericParams(trials);
    if (!trials.length || !keys.length) return empty(el, "no scored trial yet");
    const axes = [...keys, metric];
    const value = (t, k) => (k === metric ? t.best : t.config[k]);
    const scale = axes.map((k) => {
      const vals = trials.map((t) => value(t, k));
      if (vals.every((v) => typeof v === "number")) {
        const lo = vals.reduce((m, v) => Math.min(m, v), Infinity), hi = vals.reduce((m, v) => Math.max(m, v), -Infinity);
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
      const f = mScale(t.best);
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
    const of = view.importance_of || {};
    frame(el, "Hyperparameter importance" + (of.used < of.scored ? ` (from ${count(of.used)} of ${count(of.scored)} scored trials)` : ""));
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
    const iters = view.schedule_iterations || {};
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
