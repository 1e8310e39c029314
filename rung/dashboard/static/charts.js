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
  // Charts of one metric do not apply to a run without one (no metric, or several objectives: the
  // Pareto chart shows those): hidden, not shown empty.
  function hideWithoutMetric(el, view) {
    el.hidden = typeof view.summary.metric !== "string";
    if (el.hidden) { el.replaceChildren(); el.dataset.points = "0"; }
    return el.hidden;
  }

  // Learning curves: metric vs time_attr, one series per trial shown (every trial, or the best ones
  // of a large run with a band of percentiles over a sample of all); milestones as dashed lines.
  function curves(el, view) {
    if (hideWithoutMetric(el, view)) return;
    const of = view.curves_of || {};
    const cut = of.shown < of.with_results;
    const band = view.band;
    frame(el, `Learning curves (${view.summary.metric} vs ${view.time_attr})` + (cut ? `: the best ${count(of.shown)} of ${count(of.with_results)} trials` : ""));
    const ids = Object.keys(view.curves);
    const bestId = (view.parallel_best || [])[0];
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
      const top = id === String(bestId);
      series.push({ label: `trial ${id}`, stroke: top ? "#c2185b" : stopped && !cut ? "#bbb" : colour(i), width: top ? 3 : stopped && !cut ? 1 : 1.5, spanGaps: true, points: { size: 3 } });
    });
    if (!points) return empty(el, "no results yet");
    const milestones = view.milestones;
    const opts = {
      width: 620, height: 300, series, bands, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: view.time_attr, labelSize: 20 }, { label: view.summary.metric, labelSize: 20 }],
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
    const named = [];
    if (bestId !== undefined && view.curves[String(bestId)]) named.push({ colour: "#c2185b", label: `best trial (${bestId}), thick` });
    if (!cut && ids.some((id) => byStatus[id] === "STOPPED" || byStatus[id] === "ERROR")) named.push({ colour: "#bbb", label: "stopped early or failed" });
    if (milestones.length) named.push({ colour: "#999", label: "dashed: the scheduler's milestones" });
    if (named.length) legend(el, "lines", named);
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

  // Seconds in the unit that reads best for a span of `span` seconds: [divisor, name].
  const unitOf = (span) => (span < 120 ? [1, "s"] : span < 7200 ? [60, "min"] : span < 172800 ? [3600, "h"] : [86400, "days"]);
  // About five "nice" tick values (1, 2 or 5 times a power of ten) from 0 to `hi`.
  function niceTicks(hi) {
    if (!(hi > 0)) return [0];
    const raw = hi / 5, power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw);
    const out = [];
    for (let v = 0; v <= hi * (1 + 1e-9); v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  // Best value so far vs the time since the experiment started, in a unit that fits the span; the
  // legend names the trial that holds the best value.
  function bestSoFar(el, view) {
    if (hideWithoutMetric(el, view)) return;
    frame(el, `Best ${view.summary.metric} so far`);
    const pts = view.best_so_far;
    if (!pts.length) return empty(el, "no finite result yet");
    const created = view.summary.created;
    // Wall-clock runs stamp results in epoch seconds; a simulated clock starts at 0 (below 1e9 s, 2001).
    const t0 = typeof created === "number" && created <= pts[0][0] ? created : pts[0][0] >= 0 && pts[0][0] < 1e9 ? 0 : pts[0][0];
    const [per, unit] = unitOf(pts[pts.length - 1][0] - t0);
    const xs = pts.map((p) => (p[0] - t0) / per), ys = pts.map((p) => p[1]);
    const xlabel = `time since the experiment started (${unit})`;
    new uPlot({ width: 420, height: 300, legend: { show: false }, scales: { x: { time: false } },
      axes: [{ label: xlabel, labelSize: 20 }, { label: view.summary.metric, labelSize: 20 }],
      series: [{ label: unit }, { label: "best", stroke: "#3c9e5f", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }] }, [xs, ys], el);
    const bestId = (view.parallel_best || [])[0];
    const last = ys[ys.length - 1];
    legend(el, "line", [{ colour: "#3c9e5f", label: `best ${view.summary.metric} so far` + (bestId === undefined ? "" : `: ${Number(last.toPrecision(5))}, trial ${bestId}`) }]);
    el.dataset.points = String(pts.length);
    el.dataset.unit = unit;
    el.dataset.xlabel = xlabel;  // drawn on the canvas: told here for tests
  }

  // Money spent vs the time since the experiment started (runs with prices; any number of objectives).
  function spent(el, view) {
    const pts = view.spent_so_far || [];
    el.hidden = !pts.length;
    if (el.hidden) { el.replaceChildren(); el.dataset.spent = "0"; return; }
    frame(el, `Money spent: ${pts[pts.length - 1][1].toFixed(2)}`);
    const created = view.summary.created;
    const t0 = typeof created === "number" && created <= pts[0][0] ? created : pts[0][0] >= 0 && pts[0][0] < 1e9 ? 0 : pts[0][0];
    const [per, unit] = unitOf(pts[pts.length - 1][0] - t0);
    new uPlot({ width: 420, height: 220, legend: { show: false }, scales: { x: { time: false } },
      axes: [{ label: `time since the experiment started (${unit})`, labelSize: 20 }, { label: "money spent", labelSize: 20 }],
      series: [{ label: unit }, { label: "spent", stroke: "#b8860b", width: 2 }] }, [pts.map((p) => (p[0] - t0) / per), pts.map((p) => p[1])], el);
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
    const [per, unit] = unitOf(t1 - t0);
    ctx.fillStyle = "#333"; ctx.strokeStyle = "#333"; ctx.textAlign = "center";
    for (const v of niceTicks((t1 - t0) / per)) {
      const at = x(t0 + v * per);
      ctx.beginPath(); ctx.moveTo(at, H - 22); ctx.lineTo(at, H - 18); ctx.stroke();
      ctx.fillText(String(v), at, H - 6);
    }
    ctx.textAlign = "left"; ctx.fillText(unit, 2, H - 6);
    legend(el, key.title, key.items);
    if (binned) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = `${count(binned.stretches)} running stretches in ${binned.bins} time bins per slot: each bin shows the colour that held the slot longest`;
      el.appendChild(note);
    }
    el.dataset.points = String(binned ? binned.stretches : spans.length);
    el.dataset.slots = String(slots);
    el.dataset.unit = unit;
    el.dataset.failed = String(binned ? binned.failed : spans.filter((s) => s.ended === "ERROR").length);
  }

  // Parallel coordinates: an axis per hyperparameter that varies and the metric, with the server's
  // scales (log for log-scaled dimensions, a tick per category, None kept as a value, see
  // rung/store/axes.py); a line per trial (of a large run: the best and others spread over the run),
  // the best trials drawn last, thick, and named in the legend.
  function parallel(el, view) {
    const multi = Boolean(view.pareto);  // several objectives: an axis each, the Pareto front highlighted
    if (multi) el.hidden = false; else if (hideWithoutMetric(el, view)) return;
    const of = view.parallel_of || {};
    frame(el, "Parallel coordinates" + (of.shown < of.scored ? ` (${count(of.shown)} of ${count(of.scored)} scored trials: the best and others spread over the run)` : ""));
    const trials = view.parallel || [];
    const axes = view.parallel_axes || [];
    if (!trials.length || axes.length < 2) return empty(el, "no scored trial yet");
    const best = view.parallel_best || [];
    const W = 620, H = 300, top = 14, bottom = 44, left = 56, right = 40;
    const ctx = canvas(el, W, H);
    const gap = (W - left - right) / Math.max(axes.length - 1, 1);
    const ax = (i) => left + i * gap;
    const y = (f) => top + (1 - f) * (H - top - bottom);
    const m = axes[axes.length - 1].at;
    const lo = Math.min(...m), hi = Math.max(...m);
    const good = (f) => (hi > lo ? (view.summary.mode === "max" ? (f - lo) / (hi - lo) : (hi - f) / (hi - lo)) : 1);
    const line = (row) => { ctx.beginPath(); axes.forEach((a, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, ax(i), y(a.at[row]))); ctx.stroke(); };
    const place = new Map(trials.map((t, row) => [t.id, row]));
    const top3 = new Set(best);
    ctx.lineWidth = 1;
    trials.forEach((t, row) => {
      if (top3.has(t.id)) return;
      ctx.strokeStyle = multi ? "rgba(74,120,194,0.35)" : `hsla(${Math.round(good(m[row]) * 120)}, 45%, 55%, 0.45)`;
      line(row);
    });
    [...best].reverse().forEach((id, k) => {  // the very best last, on top of the others
      const row = place.get(id);
      if (row === undefined) return;
      const first = k === best.length - 1 && !multi;
      ctx.strokeStyle = first || multi ? "#c2185b" : "#e07b39"; ctx.lineWidth = first ? 3 : 2;
      line(row);
    });
    ctx.lineWidth = 1; ctx.font = "10px sans-serif"; ctx.textBaseline = "middle";
    axes.forEach((a, i) => {
      const x = ax(i);
      ctx.strokeStyle = "#333"; ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, H - bottom); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillStyle = "#333";
      for (const [f, label] of a.ticks) {
        ctx.beginPath(); ctx.moveTo(x - 3, y(f)); ctx.lineTo(x, y(f)); ctx.stroke();
        ctx.fillText(fit(ctx, label, gap - 8), x - 4, y(f));
      }
      ctx.textAlign = "center"; ctx.font = "11px sans-serif";
      ctx.fillText(fit(ctx, a.key, gap - 4), x, H - bottom + 14);
      ctx.fillStyle = "#777"; ctx.font = "10px sans-serif";
      ctx.fillText(a.scale === "log" ? "log" : a.scale === "category" ? "categories" : "", x, H - bottom + 27);
    });
    if (multi) legend(el, "lines", [
      { colour: "#c2185b", label: best.length <= 8 ? `Pareto front: ${best.join(", ")}` : `Pareto front (${best.length} trials)` },
      ...(trials.length > best.length ? [{ colour: "rgba(74,120,194,0.6)", label: "other trials" }] : []),
    ]);
    else legend(el, "lines", [
      { colour: "#c2185b", label: `best trial (${best[0]})` },
      ...(best.length > 1 ? [{ colour: "#e07b39", label: `next best: ${best.slice(1).join(", ")}` }] : []),
      { colour: "hsl(120, 45%, 55%)", label: `others: better ${view.summary.metric}` },
      { colour: "hsl(0, 45%, 55%)", label: "worse" },
    ]);
    el.dataset.points = String(trials.length);
    el.dataset.scales = axes.map((a) => `${a.key}:${a.scale}`).join(",");
    el.dataset.best = best.join(",");
  }

  // `text`, cut with an ellipsis to fit `width` pixels.
  function fit(ctx, text, width) {
    if (ctx.measureText(text).width <= width) return text;
    let n = text.length;
    while (n > 1 && ctx.measureText(text.slice(0, n) + "…").width > width) n--;
    return text.slice(0, n) + "…";
  }

  // Importance, two measures side by side: each hyperparameter alone (|rank correlation| or correlation
  // ratio with the metric) and with its interactions (the share of the metric's variance that a GP
  // fitted to the trials explains with it: a Sobol total-effect index; the lighter part of the bar is
  // interactions only). Sorted by the second when there is one (8 scored trials or more).
  function importance(el, view) {
    if (hideWithoutMetric(el, view)) return;
    const of = view.importance_of || {};
    frame(el, "Hyperparameter importance" + (of.used < of.scored ? ` (from ${count(of.used)} of ${count(of.scored)} scored trials)` : ""));
    const alone = view.importance || {}, model = view.importance_model || {};
    const keys = [...new Set([...Object.keys(alone), ...Object.keys(model)])];
    if (!keys.length) return empty(el, "needs 3 scored trials");
    const rank = (k) => (model[k] ? model[k].effect : -1) * 10 + (alone[k] || 0);
    keys.sort((a, b) => rank(b) - rank(a) || (a < b ? -1 : 1));
    const table = document.createElement("table");
    table.className = "importance";
    const head = table.createTHead().insertRow();
    const modelled = Object.keys(model).length > 0;
    for (const h of ["", "alone", "", modelled ? "with interactions" : "with interactions: needs 8 scored trials", ""]) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    const bar = (width, cls, title) => { const b = document.createElement("span"); b.className = cls; b.style.width = `${Math.round(width * 120)}px`; b.title = title; return b; };
    const body = table.createTBody();
    for (const k of keys) {
      const tr = body.insertRow();
      tr.dataset.key = k;
      tr.insertCell().textContent = k;
      const a = alone[k];
      tr.insertCell().appendChild(bar(a || 0, "bar", "alone"));
      tr.insertCell().textContent = a === undefined ? "" : a.toFixed(2);
      const m = model[k];
      const cell = tr.insertCell();
      if (m) { cell.appendChild(bar(m.effect - m.interaction, "bar bar-total", "by itself")); cell.appendChild(bar(m.interaction, "bar bar-interaction", "through interactions")); }
      tr.insertCell().textContent = m ? m.effect.toFixed(2) : "";
    }
    el.appendChild(table);
    legend(el, "bars", [
      { colour: "#4a78c2", label: "alone: rank correlation with the metric" },
      { colour: "#e07b39", label: "with interactions (GP, Sobol total effect)" },
      { colour: "#f3c19d", label: "of which interactions" },
    ]);
    el.dataset.points = String(keys.length);
    el.dataset.model = modelled ? keys.join(",") : "";
  }

  // PBT schedules: a numeric hyperparameter over each trial's iterations, clone edges dashed.
  function schedules(el, view) {
    frame(el, "Hyperparameter schedules (PBT)");
    const ids = Object.keys(view.schedules);
    el.hidden = !ids.length;  // a run in which no trial changed its hyperparameters has none to show
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

  // Several objectives: each trial's judged result as a point of the first two objectives, the Pareto
  // front as a step line through its (larger, labelled) points, infeasible trials as grey crosses.
  // Hidden for a run with one objective.
  function pareto(el, view) {
    const data = view.pareto;
    el.hidden = !data;
    if (!data) { el.replaceChildren(); el.dataset.points = "0"; return; }
    const [a, b] = data.objectives;
    const of = data.of;
    frame(el, `Pareto front: ${a.metric} (${a.mode}) and ${b.metric} (${b.mode})` + (data.objectives.length > 2 ? `, 2 of ${data.objectives.length} objectives` : "") + (of.shown < of.judged ? ` (${count(of.shown)} of ${count(of.judged)} trials)` : ""));
    const pts = data.points;
    if (!pts.length) return empty(el, "no trial has reported every objective yet");
    const W = 620, H = 320, left = 60, right = 16, top = 12, bottom = 44;
    const ctx = canvas(el, W, H);
    const range = (k) => {
      const vs = pts.map((p) => p[1][k]);
      let lo = Math.min(...vs), hi = Math.max(...vs);
      if (hi <= lo) { lo -= 0.5; hi += 0.5; }
      const pad = (hi - lo) * 0.05;
      return [lo - pad, hi + pad];
    };
    const [x0, x1] = range(0), [y0, y1] = range(1);
    const x = (v) => left + ((v - x0) / (x1 - x0)) * (W - left - right);
    const y = (v) => top + (1 - (v - y0) / (y1 - y0)) * (H - top - bottom);
    ctx.font = "10px sans-serif"; ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#333";
    const ticks = (lo, hi) => { const step = niceTicks(hi - lo)[1] || 1, first = Math.ceil(lo / step) * step; return niceTicks(hi - lo).map((v) => first + v).filter((v) => v <= hi); };
    ctx.textAlign = "center";
    for (const v of ticks(x0, x1)) { ctx.beginPath(); ctx.moveTo(x(v), top); ctx.lineTo(x(v), H - bottom); ctx.stroke(); ctx.fillText(String(Number(v.toPrecision(6))), x(v), H - bottom + 12); }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of ticks(y0, y1)) { ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(W - right, y(v)); ctx.stroke(); ctx.fillText(String(Number(v.toPrecision(6))), left - 4, y(v)); }
    ctx.textAlign = "center"; ctx.textBaseline = "alphabetic"; ctx.font = "11px sans-serif";
    ctx.fillText(`${a.metric} (${a.mode})`, left + (W - left - right) / 2, H - 8);
    ctx.save(); ctx.translate(12, top + (H - top - bottom) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(`${b.metric} (${b.mode})`, 0, 0); ctx.restore();
    for (const [, v, feasible, on] of pts) {
      if (on) continue;
      const px = x(v[0]), py = y(v[1]);
      if (feasible) { ctx.fillStyle = "rgba(74,120,194,0.6)"; ctx.beginPath(); ctx.arc(px, py, 3.5, 0, 2 * Math.PI); ctx.fill(); }
      else { ctx.strokeStyle = "#999"; ctx.lineWidth = 1.5; ctx.beginPath(); ctx.moveTo(px - 4, py - 4); ctx.lineTo(px + 4, py + 4); ctx.moveTo(px - 4, py + 4); ctx.lineTo(px + 4, py - 4); ctx.stroke(); }
    }
    const front = pts.filter((p) => p[3]).sort((p, q) => p[1][0] - q[1][0] || p[1][1] - q[1][1]);
    if (data.objectives.length === 2 && front.length > 1) {
      // A step between neighbours: the region the front dominates has a staircase edge.
      const after = (a.mode === "min") === (b.mode === "min");
      ctx.strokeStyle = "#c2185b"; ctx.lineWidth = 1.5; ctx.beginPath();
      front.forEach((p, i) => {
        if (!i) { ctx.moveTo(x(p[1][0]), y(p[1][1])); return; }
        const prev = front[i - 1];
        if (after) ctx.lineTo(x(p[1][0]), y(prev[1][1])); else ctx.lineTo(x(prev[1][0]), y(p[1][1]));
        ctx.lineTo(x(p[1][0]), y(p[1][1]));
      });
      ctx.stroke();
    }
    ctx.font = "10px sans-serif"; ctx.textAlign = "left";
    for (const [id, v] of front) {
      ctx.fillStyle = "#c2185b"; ctx.beginPath(); ctx.arc(x(v[0]), y(v[1]), 5, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = "#333"; ctx.fillText(String(id), x(v[0]) + 6, y(v[1]) - 6);
    }
    const infeasible = pts.filter((p) => !p[2]).length;
    legend(el, "points", [
      { colour: "#c2185b", label: `Pareto front (${front.length} trials)` },
      ...(pts.some((p) => p[2] && !p[3]) ? [{ colour: "rgba(74,120,194,0.6)", label: "other trials" }] : []),
      ...(infeasible ? [{ colour: "#999", label: `infeasible (${infeasible}), crosses` }] : []),
    ]);
    el.dataset.points = String(pts.length);
    el.dataset.front = front.map((p) => p[0]).sort((p, q) => p - q).join(",");
    el.dataset.infeasible = String(infeasible);
  }

  return { curves, bestSoFar, spent, timeline, parallel, importance, schedules, pareto };
})();
