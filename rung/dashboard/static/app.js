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
      const priced = rows.some((x) => x.total_cost !== null && x.total_cost !== undefined);
      for (const h of ["name", "status", "trials", "by status", "best", "started", "duration", ...(priced ? ["spent"] : [])]) head.appendChild(el("th", h));
      const body = table.createTBody();
      for (const x of rows) {
        const tr = body.insertRow();
        const a = el("a", x.name); a.href = `/e/${encodeURIComponent(x.name)}`;
        tr.insertCell().appendChild(a);
        tr.insertCell().textContent = x.status;
        tr.insertCell().textContent = fmt(x.trials);
        tr.insertCell().textContent = Object.entries(x.by_status || {}).map(([k, v]) => `${k} ${v}`).join(", ");
        const several = (x.objectives || []).length > 1;
        tr.insertCell().textContent = several ? `front of ${(x.front || []).length}` : x.best === null || x.best === undefined ? "" : `${x.metric} ${x.mode} ${fmt(x.best)}`;
        tr.insertCell().textContent = when(x.created);
        tr.insertCell().textContent = x.created ? duration(x.created, x.updated) : "";
        if (priced) tr.insertCell().textContent = x.total_cost === null || x.total_cost === undefined ? "" : x.total_cost.toFixed(2);
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

  // The experiment page: the overview (summary, charts, the table's first page) polled; other pages
  // of the trials table, sorted and filtered by the server, asked for when the user turns to them.
  function experimentPage(name) {
    document.getElementById("crumb").textContent = ` / ${name}`;
    document.title = `rung: ${name}`;
    const base = `/api/experiments/${encodeURIComponent(name)}`;
    const summary = el("p"); summary.id = "summary";
    const filter = el("input"); filter.id = "filter"; filter.placeholder = "filter trials (text in any column)";
    const table = el("table"); table.id = "trials";
    const prev = el("button", "‹ previous"), next = el("button", "next ›"), where = el("span");
    prev.id = "prev"; next.id = "next"; where.id = "page-info";
    const pager = el("div", undefined, "pager"); pager.append(prev, " ", where, " ", next);
    const charts = el("div", undefined, "charts");
    const names = ["pareto", "curves", "best", "spent", "timeline", "parallel", "importance", "schedules"];
    const boxes = Object.fromEntries(names.map((n) => { const d = el("div", undefined, "chart"); d.id = `chart-${n}`; charts.appendChild(d); return [n, d]; }));
    main.replaceChildren(el("h2", name), summary, charts, el("h3", "Trials"), filter, pager, table);
    const PAGE = 100;
    const state = { sort: "id", order: "asc", q: "", offset: 0 };
    const initial = () => state.sort === "id" && state.order === "asc" && !state.q && state.offset === 0;
    let view = null, page = null, asked = 0;

    async function loadPage() {
      const mine = ++asked;  // answers to older requests (a quick second click) are dropped
      const query = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE), sort: state.sort, order: state.order, q: state.q });
      try {
        const answer = await fetchJSON(`${base}/trials?${query}`);
        if (mine === asked) { page = answer; drawTable(); }
      } catch (err) { live.textContent = `error: ${err.message}`; }
    }

    function drawTable() {
      if (!view || !page) return;
      const metric = view.summary.metric;
      const keys = [...new Set([...(view.config_keys || []), ...page.columns])].sort();
      // Several objectives: each one's value in the trial's judged result (its "best"), and whether it is on the front.
      const objectives = (view.summary.objectives || []).map((o) => o.metric);
      const front = new Set(view.summary.front || []);
      const judged = objectives.length > 1
        ? [...objectives.map((m) => [m, `best:${m}`, (t) => (t.best || {})[m]]), ["front", null, (t) => (front.has(t.id) ? "★" : "")]]
        : [[`last ${metric}`, "last", (t) => (t.last || {})[metric]], [`best ${metric}`, "best", (t) => (t.best || {})[metric]]];
      const cols = [["id", "id", (t) => t.id], ["status", "status", (t) => t.status], ["iteration", "iteration", (t) => t.iteration],
        ...judged,
        ...keys.map((k) => [k, `config:${k}`, (t) => flatten(t.config)[k]]), ["parent", "parent", (t) => t.parent_id], ["error", "error", (t) => t.error]];
      table.replaceChildren();
      const head = table.createTHead().insertRow();
      for (const [label, key] of cols) {
        const th = el("th", label + (key === page.sort ? (page.order === "asc" ? " ▲" : " ▼") : ""));
        head.appendChild(th);
        if (key === null) continue;  // not a sort key of the server's pages
        th.addEventListener("click", () => {
          state.order = state.sort === key && state.order === "asc" ? "desc" : "asc";
          state.sort = key; state.offset = 0; loadPage();
        });
      }
      const body = table.createTBody();
      for (const t of page.rows) {
        const tr = body.insertRow(); tr.dataset.trial = String(t.id);
        for (const [label, , f] of cols) {
          const td = tr.insertCell(); const v = f(t);
          if (label === "error" && v) { const pre = el("pre", v, "tb"); td.appendChild(pre); } else td.textContent = fmt(v);
          if (typeof v === "number") td.className = "num";
          if (label === "status") td.className = `status-${v}`;
        }
      }
      const shown = page.rows.length ? `trials ${page.offset + 1}–${page.offset + page.rows.length} of ${page.total}` : "no trials";
      where.textContent = page.q ? `${shown} with “${page.q}” (of ${page.trials})` : shown;
      prev.disabled = page.offset === 0;
      next.disabled = page.offset + page.rows.length >= page.total;
    }
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadPage(); });
    next.addEventListener("click", () => { state.offset += PAGE; loadPage(); });
    let typing = null;
    filter.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { state.q = filter.value.trim(); state.offset = 0; loadPage(); }, 150);
    });

    let timelineAsked = 0;
    async function loadTimeline() {
      const mine = ++timelineAsked;
      try {
        const t = await fetchJSON(`${base}/timeline`);
        if (mine === timelineAsked) RungCharts.timeline(boxes.timeline, t);
      } catch (err) { live.textContent = `error: ${err.message}`; }
    }

    loop(base, (v) => {
      view = v;
      const s = v.summary;
      const goal = (s.objectives || []).length > 1
        ? `${s.objectives.map((o) => `${o.metric} (${o.mode})`).join(", ")}: Pareto front of ${(s.front || []).length}${s.infeasible ? `, ${s.infeasible} infeasible` : ""}`
        : `best ${s.metric ?? ""} ${fmt(s.best)} (${s.mode})`;
      summary.textContent = `${s.status} · ${s.trials} trials (${Object.entries(s.by_status).map(([k, n]) => `${k} ${n}`).join(", ")}) · ${goal} · ${duration(s.created, s.updated)}`;
      // The overview holds the first page: the table is drawn with it unless the user moved on.
      if (initial()) { asked++; page = v.trials_page; drawTable(); } else loadPage();
      RungCharts.pareto(boxes.pareto, v);
      RungCharts.curves(boxes.curves, v);
      RungCharts.bestSoFar(boxes.best, v);
      RungCharts.spent(boxes.spent, v);
      loadTimeline();  // asked apart: the rest of the page is drawn first
      RungCharts.parallel(boxes.parallel, v);
      RungCharts.importance(boxes.importance, v);
      RungCharts.schedules(boxes.schedules, v);
    });
  }

  if (location.pathname.startsWith("/e/")) experimentPage(decodeURIComponent(location.pathname.slice(3)));
  else listPage();
})();
