// The dashboard's pages: poll the JSON API, redraw what changed. Text goes in with textContent only.
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  // ?poll=ms, within [200 ms, 1 hour] (Infinity or junk would poll in a tight loop or never).
  const asked = Number(params.get("poll"));
  const POLL_MS = Number.isFinite(asked) && asked > 0 ? Math.min(Math.max(200, asked), 3600000) : 2000;
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const fmt = (v) => (v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : typeof v === "object" ? JSON.stringify(v) : String(v));
  const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
  const duration = (a, b) => { const s = Math.max(0, b - a); return s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`; };

  async function fetchJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
    return r.json();
  }
  function loop(url, draw) {
    let last = null;
    const tick = async () => {
      try {
        const text = JSON.stringify(await fetchJSON(url));
        if (text !== last) { last = text; draw(JSON.parse(text)); }
        live.textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (err) { live.textContent = `error: ${err.message}`; }
      setTimeout(tick, POLL_MS);
    };
    tick();
  }

  function listPage() {
    const table = el("table"); table.id = "experiments";
    main.replaceChildren(el("h2", "Experiments"), table);
    loop("/api/experiments", (rows) => {
      table.replaceChildren();
      const head = table.createTHead().insertRow();
      for (const h of ["name", "status", "trials", "by status", "best", "started", "duration"]) head.appendChild(el("th", h));
      const body = table.createTBody();
      for (const x of rows) {
        const tr = body.insertRow();
        const a = el("a", x.name); a.href = `/e/${encodeURIComponent(x.name)}`;
        tr.insertCell().appendChild(a);
        tr.insertCell().textContent = x.status;
        tr.insertCell().textContent = fmt(x.trials);
        tr.insertCell().textContent = Object.entries(x.by_status || {}).map(([k, v]) => `${k} ${v}`).join(", ");
        tr.insertCell().textContent = x.best === null || x.best === undefined ? "" : `${x.metric} ${x.mode} ${fmt(x.best)}`;
        tr.insertCell().textContent = when(x.created);
        tr.insertCell().textContent = x.created ? duration(x.created, x.updated) : "";
      }
      if (!rows.length) body.insertRow().insertCell().textContent = "no experiments in this storage";
    });
  }

  function flatten(obj, prefix = "", out = {}) {
    for (const [k, v] of Object.entries(obj || {})) {
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}/`, out); else out[`${prefix}${k}`] = v;
    }
    return out;
  }

  function experimentPage(name) {
    document.getElementById("crumb").textContent = ` / ${name}`;
    document.title = `rung: ${name}`;
    const summary = el("p"); summary.id = "summary";
    const filter = el("input"); filter.id = "filter"; filter.placeholder = "filter trials (text in any column)";
    const table = el("table"); table.id = "trials";
    const charts = el("div", undefined, "charts");
    const names = ["curves", "best", "timeline", "parallel", "importance", "schedules"];
    const boxes = Object.fromEntries(names.map((n) => { const d = el("div", undefined, "chart"); d.id = `chart-${n}`; charts.appendChild(d); return [n, d]; }));
    main.replaceChildren(el("h2", name), summary, charts, el("h3", "Trials"), filter, table);
    let view = null, sortKey = "id", sortDir = 1;

    function drawTable() {
      if (!view) return;
      const metric = view.summary.metric;
      const keys = [...new Set(view.trials.flatMap((t) => Object.keys(flatten(t.config))))].sort();
      const cols = [["id", (t) => t.id], ["status", (t) => t.status], ["iteration", (t) => t.iteration],
        [`last ${metric}`, (t) => (t.last || {})[metric]], [`best ${metric}`, (t) => (t.best || {})[metric]],
        ...keys.map((k) => [k, (t) => flatten(t.config)[k]]), ["parent", (t) => t.parent_id], ["error", (t) => t.error]];
      table.replaceChildren();
      const head = table.createTHead().insertRow();
      for (const [label] of cols) {
        const th = el("th", label + (label === sortKey ? (sortDir > 0 ? " ▲" : " ▼") : ""));
        th.addEventListener("click", () => { sortDir = sortKey === label ? -sortDir : 1; sortKey = label; drawTable(); });
        head.appendChild(th);
      }
      const get = Object.fromEntries(cols);
      const q = filter.value.trim().toLowerCase();
      const rows = view.trials
        .filter((t) => !q || cols.some(([, f]) => fmt(f(t)).toLowerCase().includes(q)))
        .sort((a, b) => { const x = get[sortKey](a), y = get[sortKey](b); if (x === y) return 0; if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1; return (x < y ? -1 : 1) * sortDir; });
      const body = table.createTBody();
      for (const t of rows) {
        const tr = body.insertRow(); tr.dataset.trial = String(t.id);
        for (const [label, f] of cols) {
          const td = tr.insertCell(); const v = f(t);
          if (label === "error" && v) { const pre = el("pre", v, "tb"); td.appendChild(pre); } else td.textContent = fmt(v);
          if (typeof v === "number") td.className = "num";
          if (label === "status") td.className = `status-${v}`;
        }
      }
    }
    filter.addEventListener("input", drawTable);

    loop(`/api/experiments/${encodeURIComponent(name)}`, (v) => {
      view = v;
      const s = v.summary;
      summary.textContent = `${s.status} · ${s.trials} trials (${Object.entries(s.by_status).map(([k, n]) => `${k} ${n}`).join(", ")}) · best ${s.metric ?? ""} ${fmt(s.best)} (${s.mode}) · ${duration(s.created, s.updated)}`;
      drawTable();
      RungCharts.curves(boxes.curves, v);
      RungCharts.bestSoFar(boxes.best, v);
      RungCharts.timeline(boxes.timeline, v);
      RungCharts.parallel(boxes.parallel, v);
      RungCharts.importance(boxes.importance, v);
      RungCharts.schedules(boxes.schedules, v);
    });
  }

  if (location.pathname.startsWith("/e/")) experimentPage(decodeURIComponent(location.pathname.slice(3)));
  else listPage();
})();
