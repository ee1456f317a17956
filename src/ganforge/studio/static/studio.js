// ganforge studio: the pages (runs, run, compare, explore), drawn from the JSON API of `ganforge studio`.
//
// Plain ES2020, no dependencies; the charts are GanforgeChart (chart.js). Every value from the server is
// put into the page as text (textContent), never as HTML. Fetches go to the same origin, so the token
// cookie set by the first page load travels with them.
"use strict";

(() => {
  const PAGE = document.body.dataset.page;
  const app = document.getElementById("app");
  const params = new URLSearchParams(window.location.search);
  const PALETTE = window.GanforgeChart ? window.GanforgeChart.PALETTE : ["#2563eb"];
  const REFRESH_MS = 5000;
  const SEED_MAX = 4294967295;

  // -- DOM ---------------------------------------------------------------------------------------

  // h("a", {href: "/", class: "x", onclick: fn}, "text", child, [more children])
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== "string") e[k] = v;  // value, checked, hidden, disabled, ...
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(parent, c);
      else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return parent;
  }

  // Replaces the children of `parent` (nulls skipped, arrays flattened, strings as text).
  function fill(parent, ...children) {
    parent.replaceChildren();
    return append(parent, children);
  }

  function errorBox(message) {
    return h("div", { class: "error-box", role: "alert", hidden: !message }, message || "");
  }

  function showError(box, message) {
    box.textContent = message || "";
    box.hidden = !message;
  }

  function section(title, ...children) {
    return h("section", { class: "card" }, h("h2", { text: title }), ...children);
  }

  // -- formatting --------------------------------------------------------------------------------

  const DASH = "–";

  function isNum(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  function fmtNum(v) {
    if (!isNum(v)) return v === null || v === undefined ? DASH : String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
    if (a >= 100) return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    return String(Number(v.toPrecision(4)));
  }

  function fmtKimg(v) {
    if (!isNum(v)) return DASH;
    return v.toLocaleString("en-US", { maximumFractionDigits: 3 });
  }

  function fmtBytes(n) {
    if (!isNum(n)) return DASH;
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
  }

  function fmtDate(unix) {
    if (!isNum(unix)) return DASH;
    const d = new Date(unix * 1000);
    const pad = (x) => String(x).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // A short local date: "6 Dec 01:17" this year, "6 Dec 2025" before.
  function fmtShortDate(unix) {
    if (!isNum(unix)) return DASH;
    const d = new Date(unix * 1000);
    const pad = (x) => String(x).padStart(2, "0");
    const day = `${d.getDate()} ${MONTHS[d.getMonth()]}`;
    return d.getFullYear() === new Date().getFullYear() ? `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}` : `${day} ${d.getFullYear()}`;
  }

  function fmtClock(date) {
    const pad = (x) => String(x).padStart(2, "0");
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function fmtAgo(unix) {
    if (!isNum(unix)) return DASH;
    const s = Math.max(0, Date.now() / 1000 - unix);
    if (s < 90) return `${Math.round(s)} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function basename(path) {
    return String(path).split("/").pop();
  }

  // A run name ("00003-x" or "group/00003-x") as a URL path: each part encoded, the slashes kept.
  function encPath(name) {
    return String(name).split("/").map(encodeURIComponent).join("/");
  }

  // -- HTTP --------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function errorMessage(r) {
    let text = "";
    try { text = await r.text(); } catch (e) { /* the body is gone: the status says enough */ }
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === "string") return j.error;
    } catch (e) { /* not JSON */ }
    return `${r.status} ${r.statusText || "error"}${text ? `: ${text.slice(0, 200)}` : ""}`;
  }

  async function request(url, init) {
    let r;
    try {
      r = await fetch(url, { credentials: "same-origin", ...(init || {}) });
    } catch (e) {
      throw new ApiError(0, "cannot reach the studio server: is `ganforge studio` still running?");
    }
    if (!r.ok) throw new ApiError(r.status, await errorMessage(r));
    return r;
  }

  async function getJSON(url) {
    const r = await request(url, { headers: { Accept: "application/json" } });
    try {
      return await r.json();
    } catch (e) {
      throw new ApiError(r.status, `the server's answer to ${url} is no JSON`);
    }
  }

  // An image from the API as an object URL, with the time the request took (ms).
  async function getImage(url, init) {
    const t0 = performance.now();
    const r = await request(url, init);
    const blob = await r.blob();
    return { src: URL.createObjectURL(blob), ms: performance.now() - t0, bytes: blob.size };
  }

  // Loads images from the API into one <img>: the shown image stays until the next one has been
  // decoded; while a request runs, newer requests wait and only the newest of them is sent.
  class ImageSlot {
    constructor(img, { status, error, onload } = {}) {
      this.img = img;
      this.status = status;
      this.error = error;
      this.onload = onload;
      this.busy = false;
      this.next = null;
      this.objectUrl = null;
      this.seq = 0;
    }

    load(url, init) {
      this.next = { url, init };
      if (!this.busy) this._pump();
    }

    async _pump() {
      this.busy = true;
      while (this.next) {
        const { url, init } = this.next;
        this.next = null;
        this.img.classList.add("pending");
        if (this.status) this.status.textContent = "rendering…";
        try {
          const got = await getImage(url, init);
          const pre = new Image();
          pre.src = got.src;
          try { await pre.decode(); } catch (e) { /* shown anyway; the browser reports a broken image */ }
          if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
          this.objectUrl = got.src;
          this.img.src = got.src;
          this.img.dataset.url = url;
          this.img.dataset.seq = String(++this.seq);
          this.img.hidden = false;
          if (this.error) showError(this.error, "");
          if (this.status) this.status.textContent = `${Math.round(got.ms)} ms · ${fmtBytes(got.bytes)}`;
          if (this.onload) this.onload(pre);
        } catch (e) {
          if (this.error) showError(this.error, e.message);
          if (this.status) this.status.textContent = "";
        }
        this.img.classList.remove("pending");
      }
      this.busy = false;
    }
  }

  function debounce(fn, ms) {
    let t = 0;
    return (...args) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...args), ms);
    };
  }

  // An <img> sized to about `target` css pixels: a small image scaled up by a whole factor with crisp
  // pixels, a large one scaled down smoothly (pixelated downscaling aliases a grid into noise).
  function scaleImage(img, target) {
    const fit = () => {
      const w = img.naturalWidth;
      if (!w) return;
      const room = Math.min(target, (img.parentElement && img.parentElement.clientWidth) || target);
      const k = w >= room ? room / w : Math.max(1, Math.floor(room / w));
      img.style.width = `${Math.round(w * k)}px`;
      img.classList.toggle("smooth", k < 1);
    };
    img.addEventListener("load", fit);
    if (img.complete) fit();
  }

  // -- shared bits -------------------------------------------------------------------------------

  const STATE_ORDER = { running: 0, failed: 1, stopped: 2, finished: 3 };

  function stateBadge(state) {
    const s = typeof state === "string" ? state : "unknown";
    return h("span", { class: `badge state-${s}`, title: "run state" }, s);
  }

  function progress(kimg, total) {
    const pct = isNum(kimg) && isNum(total) && total > 0 ? Math.min(100, (100 * kimg) / total) : null;
    const fill = h("span", { class: "bar-fill" });
    fill.style.width = `${pct === null ? 0 : pct}%`;
    return h("span", { class: "progress", title: pct === null ? "" : `${pct.toFixed(1)} %` },
      h("span", { class: "progress-text" }, `${fmtKimg(kimg)} / ${fmtKimg(total)}`),
      h("span", { class: "bar" }, fill));
  }

  // Keys of a {name: number} object as small "name value" chips, the first `max` of them.
  function chips(obj, max = 4) {
    const keys = Object.keys(obj || {}).sort((a, b) => chipOrder(a) - chipOrder(b) || a.localeCompare(b));
    if (!keys.length) return h("span", { class: "muted" }, DASH);
    const shown = keys.slice(0, max).map((k) => h("span", { class: "chip" }, h("span", { class: "chip-key" }, k), fmtNum(obj[k])));
    const rest = keys.slice(max);
    return h("span", { class: "chips", title: keys.map((k) => `${k} = ${fmtNum(obj[k])}`).join("\n") },
      shown, rest.length ? h("span", { class: "chip more" }, `+${rest.length}`) : null);
  }

  function chipOrder(key) {
    if (key.startsWith("G/")) return key === "G/adv" ? 0 : 1;
    if (key.startsWith("D/")) return key === "D/adv" ? 2 : 3;
    return 4;
  }

  function updatedStamp() {
    return h("span", { class: "updated muted" });
  }

  function stamp(el, live) {
    el.textContent = `updated ${fmtClock(new Date())}${live ? " · refreshing every 5 s" : ""}`;
  }

  // Repeats `fn` every REFRESH_MS while it returns true (not while the tab is hidden).
  function poller(fn) {
    let timer = 0, waiting = false;
    const run = async () => {
      timer = 0;
      if (document.hidden) { waiting = true; return; }
      let again = false;
      try { again = await fn(); } catch (e) { again = true; }
      if (again) timer = setTimeout(run, REFRESH_MS);
    };
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && waiting) { waiting = false; run(); }
    });
    return {
      schedule() { if (!timer) timer = setTimeout(run, REFRESH_MS); },
    };
  }

  // A table; a header given as [text] heads a column of numbers (right-aligned).
  function table(headers, rows, cls) {
    return h("div", { class: "table-wrap" },
      h("table", { class: cls || "" },
        h("thead", {}, h("tr", {}, headers.map((t) => (Array.isArray(t) ? h("th", { class: "num", text: t[0] }) : h("th", { text: t }))))),
        h("tbody", {}, rows)));
  }

  function emptyNote(text, ...more) {
    return h("p", { class: "empty" }, text, ...more);
  }

  function download(href, label) {
    return h("a", { href, download: "", class: "button-link" }, label);
  }

  // Stats columns grouped into charts: [{title, keys, dropNulls}]: the G/* terms, the D/* terms, one chart
  // per metric (their scales differ), the speed, and what else holds a number other than 0.
  const NOT_PLOTTED = new Set(["kimg", "step", "time", "sec_per_tick"]);

  function chartGroups(stats) {
    const cols = numericColumns(stats).filter((k) => !NOT_PLOTTED.has(k));
    const g = cols.filter((k) => k.startsWith("G/"));
    const d = cols.filter((k) => k.startsWith("D/"));
    const m = cols.filter((k) => k.startsWith("metrics/"));
    const speed = cols.filter((k) => k === "img_per_s");
    const other = cols.filter((k) => !g.includes(k) && !d.includes(k) && !m.includes(k) && !speed.includes(k) && !allZero(stats, k));
    return [
      { title: "Generator (G/*)", keys: g },
      { title: "Discriminator (D/*)", keys: d },
      ...m.map((k) => ({ title: `Metric ${k.slice("metrics/".length)}`, keys: [k], dropNulls: true })),
      { title: "Speed (images per second)", keys: speed },
      { title: "Other", keys: other },
    ].filter((x) => x.keys.length);
  }

  function columnPoints(stats, key, dropNulls) {
    const xi = stats.columns.indexOf("kimg");
    const yi = stats.columns.indexOf(key);
    const pts = [];
    if (xi < 0 || yi < 0) return pts;
    for (const row of stats.rows) {
      const x = row[xi], y = row[yi];
      if (!isNum(x)) continue;
      if (!isNum(y)) { if (!dropNulls) pts.push([x, null]); continue; }
      pts.push([x, y]);
    }
    return pts;
  }

  // Whether column `key` holds no number other than 0 (bad_steps of a healthy run).
  function allZero(stats, key) {
    const i = stats.columns.indexOf(key);
    return !stats.rows.some((r) => isNum(r[i]) && r[i] !== 0);
  }

  // Columns that hold at least one number.
  function numericColumns(stats) {
    return stats.columns.filter((c, i) => stats.rows.some((r) => isNum(r[i])));
  }

  function sortKeys(keys) {
    const rank = (k) => (k.startsWith("G/") ? 0 : k.startsWith("D/") ? 1 : k.startsWith("metrics/") ? 2 : k === "img_per_s" ? 3 : 4);
    return keys.slice().sort((a, b) => rank(a) - rank(b));
  }

  // =============================================================================================
  // Runs
  // =============================================================================================

  function runsPage() {
    document.title = "Runs · ganforge studio";
    const selected = new Set();
    let runs = [];
    let root = "";
    let sort = { key: "name", dir: -1 };  // newest (highest number) first

    const COLS = [
      { key: "name", label: "Run", value: (r) => r.name },
      { key: "preset", label: "Preset", value: (r) => r.preset },
      { key: "family", label: "Family", value: (r) => r.family },
      { key: "kimg", label: "Progress (kimg)", value: (r) => r.kimg },
      { key: "state", label: "State", value: (r) => STATE_ORDER[r.state] ?? 9 },
      { key: "latest", label: "Latest losses", value: (r) => firstValue(r.latest, ["G/adv", "D/adv"]) },
      { key: "metrics", label: "Latest metrics", value: (r) => firstValue(r.metrics) },
      { key: "img_per_s", label: "img/s", value: (r) => r.img_per_s },
      { key: "started", label: "Started", value: (r) => r.started },
    ];

    const err = errorBox();
    const when = updatedStamp();
    const compareBtn = h("button", { type: "button", class: "primary", disabled: true, onclick: () => {
      const names = runs.map((r) => r.name).filter((n) => selected.has(n));
      window.location.href = `/compare?runs=${names.map(encodeURIComponent).join(",")}`;
    } }, "Compare selected");
    const body = h("div", { class: "runs-body" });
    fill(app, 
      h("div", { class: "page-head" }, h("h1", { text: "Runs" }), h("div", { class: "head-tools" }, when, compareBtn)),
      err, body);

    function firstValue(obj, prefer = []) {
      if (!obj) return null;
      for (const k of prefer) if (isNum(obj[k])) return obj[k];
      const keys = Object.keys(obj).sort();
      return keys.length && isNum(obj[keys[0]]) ? obj[keys[0]] : null;
    }

    function compare(a, b) {
      const col = COLS.find((c) => c.key === sort.key) || COLS[0];
      const va = col.value(a), vb = col.value(b);
      const na = va === null || va === undefined || va === "", nb = vb === null || vb === undefined || vb === "";
      if (na || nb) return na === nb ? 0 : na ? 1 : -1;  // blanks last, either way
      let c;
      if (typeof va === "number" && typeof vb === "number") c = va - vb;
      else c = String(va).localeCompare(String(vb), undefined, { numeric: true, sensitivity: "base" });
      return c * sort.dir;
    }

    function updateCompareButton() {
      const n = runs.filter((r) => selected.has(r.name)).length;
      compareBtn.disabled = n < 1;
      compareBtn.textContent = n ? `Compare selected (${n})` : "Compare selected";
      compareBtn.title = n ? "" : "tick the runs to compare";
    }

    function render() {
      if (!runs.length) {
        fill(body, h("div", { class: "card empty-state" },
          h("h2", { text: "No runs yet" }),
          h("p", {}, "The folder ", h("code", { text: root || "runs" }), " holds no training runs."),
          h("p", {}, "Train one and it shows up here (this page checks every 5 seconds):"),
          h("pre", { class: "cmd", text: `ganforge train --preset dcgan-fmnist32 --out ${root || "runs"}` }),
          h("p", { class: "muted" }, "Every run folder under it (with a config.json or stats.jsonl) is listed, " +
            "including those one level down in a group folder.")));
        updateCompareButton();
        return;
      }
      const sorted = runs.slice().sort((a, b) => compare(a, b) || a.name.localeCompare(b.name));
      const head = h("tr", {}, h("th", { class: "sel" }, h("span", { class: "sr-only", text: "select" })),
        COLS.map((c) => {
          const active = sort.key === c.key;
          return h("th", { "aria-sort": active ? (sort.dir > 0 ? "ascending" : "descending") : "none", dataset: { key: c.key } },
            h("button", { type: "button", class: "sort", onclick: () => {
              sort = { key: c.key, dir: active ? -sort.dir : 1 };
              render();
            } }, c.label, h("span", { class: "arrow", text: active ? (sort.dir > 0 ? " ▲" : " ▼") : "" })));
        }));
      const rows = sorted.map((r) => h("tr", { dataset: { run: r.name } },
        h("td", { class: "sel" }, h("input", {
          type: "checkbox", "aria-label": `select ${r.name}`, checked: selected.has(r.name),
          onchange: (e) => {
            if (e.target.checked) selected.add(r.name); else selected.delete(r.name);
            updateCompareButton();
          },
        })),
        h("td", { class: "name" }, h("a", { href: `/run/${encPath(r.name)}`, text: r.name })),
        h("td", { class: "preset", text: r.preset ?? DASH }),
        h("td", { text: r.family ?? DASH }),
        h("td", { class: "num" }, progress(r.kimg, r.total_kimg)),
        h("td", {}, stateBadge(r.state)),
        h("td", { class: "chips-cell" }, chips(r.latest, 2)),
        h("td", {}, chips(r.metrics, 2)),
        h("td", { class: "num", text: fmtNum(r.img_per_s) }),
        h("td", { class: "date", title: isNum(r.started) ? new Date(r.started * 1000).toString() : "", text: fmtShortDate(r.started) })));
      fill(body, h("div", { class: "table-wrap" }, h("table", { class: "runs" }, h("thead", {}, head), h("tbody", {}, rows))),
        h("p", { class: "muted small" }, `${runs.length} run${runs.length === 1 ? "" : "s"} in `, h("code", { text: root })));
      updateCompareButton();
    }

    const poll = poller(load);

    async function load() {
      let live = true;
      try {
        const data = await getJSON("/api/runs");
        runs = Array.isArray(data.runs) ? data.runs : [];
        root = data.root || "";
        for (const n of [...selected]) if (!runs.some((r) => r.name === n)) selected.delete(n);
        showError(err, "");
        live = !runs.length || runs.some((r) => r.state === "running");
        render();
      } catch (e) {
        showError(err, e.message);
      }
      stamp(when, live);
      if (live) poll.schedule();
      return false;
    }
    load();
  }

  // =============================================================================================
  // Run
  // =============================================================================================

  function runPage() {
    const name = decodeURIComponent(window.location.pathname.replace(/^\/run\//, "").replace(/\/+$/, ""));
    document.title = `${name} · ganforge studio`;
    const enc = encPath(name);
    const err = errorBox();
    const when = updatedStamp();
    const header = h("div", { class: "run-head" });
    const chartsBody = h("div", { class: "charts" });
    const samples = h("div", { class: "samples" });
    const configBody = h("div");
    const metricsBody = h("div");
    const exportsBody = h("div");
    const notes = h("div");
    const charts = new Map();  // group title -> GanforgeChart
    let grid = null;            // the sample viewer, once built
    let built = false;

    fill(app, 
      h("div", { class: "page-head" },
        h("h1", {}, h("a", { href: "/", class: "crumb", text: "Runs" }), " / ", h("span", { text: name })),
        h("div", { class: "head-tools" }, when)),
      err, header, notes,
      section("Training curves", chartsBody,
        h("p", { class: "muted small" }, "Drag across a chart to zoom, double-click to reset. Download the statistics: ",
          download(`/api/runs/${enc}/stats?format=csv`, "CSV"), " ", download(`/api/runs/${enc}/stats?format=json`, "JSON"))),
      section("Samples", samples),
      section("Metrics", metricsBody),
      section("Exports and checkpoints", exportsBody),
      section("Configuration", configBody));

    function renderHeader(d) {
      const s = d.summary || {};
      const st = d.status || {};
      fill(header, h("div", { class: "card run-summary" },
        h("div", { class: "run-facts" },
          fact("State", stateBadge(s.state)),
          fact("Progress (kimg)", progress(s.kimg, s.total_kimg)),
          fact("Preset", s.preset ?? DASH),
          fact("Family", s.family ?? s.recipe ?? DASH),
          fact("img/s", fmtNum(s.img_per_s)),
          fact("Started", fmtDate(s.started)),
          fact("Last tick", s.updated ? fmtAgo(s.updated) : DASH)),
        st.message ? h("p", { class: `status-message state-${s.state}`, text: st.message }) : null));
    }

    function fact(label, value) {
      return h("div", { class: "fact" }, h("div", { class: "fact-label", text: label }), h("div", { class: "fact-value" }, value));
    }

    function renderNotes(d) {
      const warnings = Array.isArray(d.warnings) ? d.warnings : [];
      const extra = Array.isArray(d.notes) ? d.notes : [];
      if (!warnings.length && !extra.length) { notes.replaceChildren(); return; }
      fill(notes, h("div", { class: "card notes" },
        warnings.length ? h("details", {}, h("summary", {}, `${warnings.length} warning${warnings.length === 1 ? "" : "s"} from training`),
          h("ul", {}, warnings.map((w) => h("li", {}, isNum(w.kimg) ? h("span", { class: "muted", text: `kimg ${fmtKimg(w.kimg)}: ` }) : null,
            typeof w.warning === "string" ? w.warning : JSON.stringify(w))))) : null,
        extra.map((n) => h("p", { class: "muted small", text: n }))));
    }

    function renderCharts(stats) {
      const groups = chartGroups(stats);
      if (!stats.rows.length || !groups.length) {
        if (!charts.size) fill(chartsBody, emptyNote("No statistics yet: training writes a row to stats.jsonl at the end of every tick."));
        return;
      }
      if (!charts.size) chartsBody.replaceChildren();
      for (const g of groups) {
        let chart = charts.get(g.title);
        if (!chart) {
          const box = h("div", { class: "chart-card" });
          chartsBody.appendChild(box);
          chart = new window.GanforgeChart(box, { title: g.title, height: 220 });
          charts.set(g.title, chart);
        }
        chart.setData(g.keys.map((k) => ({ name: k, points: columnPoints(stats, k, g.dropNulls) })));
      }
    }

    function renderSamples(d) {
      const grids = Array.isArray(d.grids) ? d.grids : [];
      if (!grid) {
        const img = h("img", { class: "pix grid-img", alt: "sample grid" });
        const label = h("span", { class: "tick-label" });
        const slider = h("input", { type: "range", min: 0, max: 0, step: 1, value: 0, class: "tick-slider", "aria-label": "tick" });
        const viewer = h("figure", { class: "grid-viewer" },
          h("div", { class: "slider-row" }, h("label", { text: "Tick " }), slider, label), img);
        const reals = h("figure", { class: "reals", hidden: true },
          h("figcaption", { text: "Real images" }), h("img", { class: "pix reals-img", alt: "real images" }));
        const empty = emptyNote("No sample grids yet: training draws one at the start and at every tick.");
        grid = { img, label, slider, viewer, reals, list: [], empty };
        scaleImage(img, 720);
        scaleImage(reals.lastChild, 300);
        slider.addEventListener("input", () => showGrid(Number(slider.value)));
        // the arrow keys step through the ticks also when the slider has no focus (but not in a form field)
        document.addEventListener("keydown", (e) => {
          if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || !grid.list.length) return;
          if (e.target.closest && e.target.closest("input, select, textarea, button, summary, [contenteditable]")) return;
          const step = e.key === "ArrowLeft" ? -1 : e.key === "ArrowRight" ? 1 : 0;
          if (!step) return;
          const i = Math.max(0, Math.min(grid.list.length - 1, Number(slider.value) + step));
          e.preventDefault();
          showGrid(i);
        });
        fill(samples, h("div", { class: "samples-row" }, viewer, reals), grid.empty);
      }
      const atEnd = Number(grid.slider.value) >= grid.list.length - 1;
      grid.list = grids;
      grid.viewer.hidden = !grids.length;
      grid.empty.hidden = !!grids.length;
      grid.slider.max = String(Math.max(0, grids.length - 1));
      grid.slider.disabled = grids.length < 2;
      if (grids.length) showGrid(atEnd ? grids.length - 1 : Math.min(Number(grid.slider.value), grids.length - 1));
      const realsImg = grid.reals.lastChild;
      if (d.reals) {
        if (realsImg.dataset.url !== d.reals) { realsImg.src = d.reals; realsImg.dataset.url = d.reals; }
        grid.reals.hidden = false;
      } else {
        grid.reals.hidden = true;
      }
    }

    function showGrid(i) {
      const g = grid.list[i];
      if (!g) return;
      grid.slider.value = String(i);
      grid.label.textContent = `kimg ${fmtKimg(g.kimg)} (${i + 1} of ${grid.list.length})`;
      if (grid.img.getAttribute("src") !== g.url) grid.img.src = g.url;
    }

    function protocolSummary(rec) {
      const p = rec.protocol;
      const parts = [];
      if (p && typeof p === "object") {
        for (const [k, v] of Object.entries(p).slice(0, 4)) parts.push(`${k} ${typeof v === "object" ? "…" : v}`);
        return parts.join(" · ");
      }
      if (typeof p === "string") parts.push(p);
      if (typeof rec.extractor === "string") parts.push(rec.extractor);
      if (isNum(rec.num_gen)) parts.push(`${fmtNum(rec.num_gen)} generated`);
      if (isNum(rec.num_real)) parts.push(`${fmtNum(rec.num_real)} real`);
      if (typeof rec.dataset === "string") parts.push(rec.dataset + (rec.real_split ? `:${rec.real_split}` : ""));
      return parts.join(" · ") || DASH;
    }

    function renderMetrics(d) {
      const recs = Array.isArray(d.metrics) ? d.metrics.slice().reverse() : [];
      if (!recs.length) {
        fill(metricsBody, emptyNote("No metric records: set metrics.names (e.g. --set metrics.names=fid1k) " +
          "to measure during training, or run `ganforge eval` on an export."));
        return;
      }
      const open = new Set([...metricsBody.querySelectorAll("details[open]")].map((x) => x.dataset.key));
      fill(metricsBody, table(["Metric", ["Value"], ["kimg"], "Protocol"], recs.map((rec, i) => {
        const key = `${rec.metric}@${rec.kimg}#${recs.length - i}`;
        const rest = {};
        for (const [k, v] of Object.entries(rec)) if (!["metric", "value", "kimg"].includes(k)) rest[k] = v;
        return h("tr", {},
          h("td", { class: "mono", text: String(rec.metric ?? DASH) }),
          h("td", { class: "num", text: fmtNum(rec.value) }),
          h("td", { class: "num", text: fmtKimg(rec.kimg) }),
          h("td", {}, h("details", { dataset: { key }, open: open.has(key) }, h("summary", { text: protocolSummary(rec) }),
            h("pre", { class: "json", text: JSON.stringify(rest, null, 2) }))));
      }), "metrics-table"));
    }

    function renderExports(d) {
      const exps = Array.isArray(d.exports) ? d.exports.slice().reverse() : [];
      const ckpts = Array.isArray(d.checkpoints) ? d.checkpoints.slice().reverse() : [];
      fill(exportsBody, 
        h("h3", { text: "Exports" }),
        exps.length ? table(["File", ["kimg"], "Kind", ""], exps.map((x) => h("tr", {},
          h("td", { class: "mono", text: x.name }),
          h("td", { class: "num", text: fmtKimg(x.kimg) }),
          h("td", { text: x.kind || DASH }),
          h("td", { class: "actions" },
            h("a", { href: `/explore?model=${encodeURIComponent(x.model)}`, class: "button-link", text: "Explore" }), " ",
            h("a", { href: x.url, download: x.name, class: "button-link", text: "Download" }))))) :
          emptyNote("No exports yet: training exports the generator at every snapshot."),
        h("h3", { text: "Checkpoints" }),
        ckpts.length ? table(["File", ["kimg"], ["Size"]], ckpts.map((c) => h("tr", {},
          h("td", { class: "mono", text: c.name }),
          h("td", { class: "num", text: fmtKimg(c.kimg) }),
          h("td", { class: "num", text: fmtBytes(c.bytes) })))) :
          emptyNote("No checkpoints."),
        ckpts.length ? h("p", { class: "muted small" }, "Checkpoints resume training (", h("code", { text: "ganforge train --resume" }),
          "); the studio lists them only and never loads one.") : null);
    }

    function renderConfig(d) {
      if (configBody.childElementCount) {
        // the config of a run does not change; keep the open/closed state of the full view
        return;
      }
      const diff = Array.isArray(d.preset_diff) ? d.preset_diff : [];
      const preset = (d.summary && d.summary.preset) || "its preset";
      const show = (v) => (v === undefined ? "(not in the preset)" : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
      fill(configBody, 
        d.preset_note ? h("p", { class: "muted", text: d.preset_note }) : null,
        diff.length ? h("div", {}, h("p", {}, "Settings that differ from the preset ", h("code", { text: preset }), ":"),
          table(["Key", "Value", "Preset value"], diff.map((r) => h("tr", {},
            h("td", { class: "mono", text: r.key }),
            h("td", { class: "mono", text: show(r.value) }),
            h("td", { class: "mono muted", text: show(r.preset) }))), "diff-table")) :
          (d.preset_note ? null : h("p", {}, "Same settings as the preset ", h("code", { text: preset }), ".")),
        h("details", { class: "full-config" }, h("summary", { text: "Full configuration (config.json)" }),
          h("pre", { class: "json", text: JSON.stringify(d.config || {}, null, 2) })));
    }

    const poll = poller(load);

    async function load() {
      let live = false;
      try {
        const [d, stats] = await Promise.all([getJSON(`/api/runs/${enc}`), getJSON(`/api/runs/${enc}/stats`)]);
        showError(err, "");
        renderHeader(d);
        renderNotes(d);
        renderCharts({ columns: Array.isArray(stats.columns) ? stats.columns : [], rows: Array.isArray(stats.rows) ? stats.rows : [] });
        renderSamples(d);
        renderMetrics(d);
        renderExports(d);
        renderConfig(d);
        built = true;
        live = d.summary && d.summary.state === "running";
      } catch (e) {
        showError(err, e.status === 404 ? `${e.message} — back to the list of runs: ` : e.message);
        if (e.status === 404) err.appendChild(h("a", { href: "/", text: "Runs" }));
        live = built;  // keep trying when a refresh failed; a missing run is not retried
      }
      stamp(when, live);
      if (live) poll.schedule();
      return false;
    }
    load();
  }

  // =============================================================================================
  // Compare
  // =============================================================================================

  function comparePage() {
    document.title = "Compare · ganforge studio";
    let names = [...new Set((params.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))];
    let all = [];
    const err = errorBox();
    const chipsEl = h("div", { class: "run-chips" });
    const picker = h("select", { "aria-label": "run to add" });
    const addBtn = h("button", { type: "button", onclick: () => {
      if (picker.value && !names.includes(picker.value)) { names.push(picker.value); changed(); }
    } }, "Add");
    const chartsBody = h("div", { class: "charts" });
    const gridsBody = h("div");
    fill(app, 
      h("div", { class: "page-head" }, h("h1", { text: "Compare runs" })),
      err,
      h("div", { class: "card compare-picker" }, chipsEl, h("div", { class: "picker-row" }, picker, addBtn)),
      section("Training curves", chartsBody),
      section("Samples", gridsBody));
    let charts = [];
    let loadSeq = 0;

    function colorOf(i) {
      return PALETTE[i % PALETTE.length];
    }

    function changed() {
      const url = names.length ? `/compare?runs=${names.map(encodeURIComponent).join(",")}` : "/compare";
      window.history.replaceState(null, "", url);
      load();
    }

    function renderPicker() {
      fill(chipsEl, names.length ? names.map((n, i) => {
        const sw = h("span", { class: "swatch" });
        sw.style.background = colorOf(i);
        return h("span", { class: "run-chip", dataset: { run: n } }, sw, h("a", { href: `/run/${encPath(n)}`, text: n }),
          h("button", { type: "button", class: "remove", title: `remove ${n}`, "aria-label": `remove ${n}`, onclick: () => {
            names = names.filter((x) => x !== n);
            changed();
          } }, "×"));
      }) : h("span", { class: "muted", text: "No runs chosen: add some below, or tick them on the Runs page." }));
      const others = all.filter((r) => !names.includes(r.name));
      fill(picker, h("option", { value: "", text: others.length ? "add a run…" : "(no other runs)" }),
        others.map((r) => h("option", { value: r.name, text: `${r.name}${r.preset ? ` (${r.preset})` : ""}` })));
      picker.disabled = addBtn.disabled = !others.length;
    }

    function renderCharts(loaded) {
      for (const c of charts) c.destroy();
      charts = [];
      chartsBody.replaceChildren();
      const withStats = loaded.filter((x) => x.stats.rows.length);
      if (!withStats.length) {
        chartsBody.appendChild(emptyNote(loaded.length ? "None of these runs has statistics yet." : "Choose runs to compare."));
        return;
      }
      let keys = null;
      for (const x of withStats) {
        const cols = numericColumns(x.stats).filter((k) => !NOT_PLOTTED.has(k));
        keys = keys === null ? cols : keys.filter((k) => cols.includes(k));
      }
      keys = sortKeys((keys || []).filter((k) => /^(G|D|metrics)\//.test(k) || withStats.some((x) => !allZero(x.stats, k))));
      if (!keys.length) {
        chartsBody.appendChild(emptyNote("These runs have no statistic in common."));
        return;
      }
      for (const k of keys) {
        const box = h("div", { class: "chart-card", dataset: { key: k } });
        chartsBody.appendChild(box);
        const chart = new window.GanforgeChart(box, { title: k, height: 200 });
        chart.setData(loaded.map((x) => ({ name: x.name, color: x.color, points: columnPoints(x.stats, k, k.startsWith("metrics/")) })));
        charts.push(chart);
      }
    }

    function renderGrids(loaded) {
      const ticks = [...new Set(loaded.flatMap((x) => x.grids.map((g) => g.kimg)).filter(isNum))].sort((a, b) => a - b);
      if (!ticks.length) {
        fill(gridsBody, emptyNote(loaded.length ? "None of these runs has sample grids yet." : "Choose runs to compare."));
        return;
      }
      const slider = h("input", {
        type: "range", min: 0, max: ticks.length - 1, step: 1, value: ticks.length - 1, class: "tick-slider", "aria-label": "kimg",
      });
      const label = h("span", { class: "tick-label" });
      const figs = loaded.map((x) => {
        const img = h("img", { class: "pix compare-img", alt: `samples of ${x.name}` });
        scaleImage(img, 560);
        const cap = h("figcaption", {});
        const fig = h("figure", { class: "compare-grid", dataset: { run: x.name } },
          cap, img, h("p", { class: "muted small no-grid", hidden: true }));
        const sw = h("span", { class: "swatch" });
        sw.style.background = x.color;
        return { x, img, cap, fig, sw };
      });
      const show = () => {
        const k = ticks[Number(slider.value)];
        label.textContent = `kimg ${fmtKimg(k)}`;
        for (const f of figs) {
          let best = null;
          for (const g of f.x.grids) if (isNum(g.kimg) && g.kimg <= k + 1e-9) best = g;
          fill(f.cap, f.sw, h("span", { text: f.x.name }), h("span", { class: "muted", text: best ? ` · kimg ${fmtKimg(best.kimg)}` : "" }));
          const note = f.fig.lastChild;
          f.img.hidden = !best;
          note.hidden = !!best;
          note.textContent = best ? "" : `no grid at or before kimg ${fmtKimg(k)}`;
          if (best && f.img.getAttribute("src") !== best.url) f.img.src = best.url;
        }
      };
      slider.addEventListener("input", show);
      fill(gridsBody, h("div", { class: "slider-row" }, h("label", { text: "kimg " }), slider, label),
        h("div", { class: "compare-grids" }, figs.map((f) => f.fig)));
      show();
    }

    async function load() {
      const seq = ++loadSeq;
      try {
        const [list, ...details] = await Promise.all([
          getJSON("/api/runs"),
          ...names.map((n) => Promise.all([getJSON(`/api/runs/${encPath(n)}`), getJSON(`/api/runs/${encPath(n)}/stats`)])
            .then(([d, s]) => ({ name: n, d, s }), (e) => ({ name: n, error: e }))),
        ]);
        if (seq !== loadSeq) return;
        all = Array.isArray(list.runs) ? list.runs : [];
        const failed = details.filter((x) => x.error);
        showError(err, failed.map((x) => `${x.name}: ${x.error.message}`).join("\n"));
        const loaded = [];
        details.forEach((x, i) => {
          if (x.error) return;
          loaded.push({
            name: x.name, color: colorOf(i),
            stats: { columns: Array.isArray(x.s.columns) ? x.s.columns : [], rows: Array.isArray(x.s.rows) ? x.s.rows : [] },
            grids: Array.isArray(x.d.grids) ? x.d.grids : [],
          });
        });
        renderPicker();
        renderCharts(loaded);
        renderGrids(loaded);
      } catch (e) {
        if (seq === loadSeq) showError(err, e.message);
      }
    }
    renderPicker();
    load();
  }

  // =============================================================================================
  // Explore
  // =============================================================================================

  function explorePage() {
    document.title = "Explore · ganforge studio";
    const err = errorBox();
    const picker = h("select", { id: "model-picker", "aria-label": "model" });
    const infoLine = h("p", { class: "muted small model-info" });
    const body = h("div", { class: "explore-body" });
    fill(app, 
      h("div", { class: "page-head" }, h("h1", { text: "Explore a model" })),
      err,
      h("div", { class: "card model-row" }, h("label", { for: "model-picker", text: "Model " }), picker, infoLine),
      body);
    let models = [];
    let current = 0;  // a counter: answers for an older model choice are dropped

    function modelLabel(m) {
      const kimg = isNum(m.kimg) ? ` · ${fmtKimg(m.kimg)} kimg` : "";
      return `${m.path}${kimg}${m.kind === "translator" ? " · translator" : ""}`;
    }

    async function start() {
      try {
        const data = await getJSON("/api/models");
        models = Array.isArray(data.models) ? data.models : [];
      } catch (e) {
        showError(err, e.message);
        return;
      }
      const wanted = params.get("model");
      if (wanted && !models.some((m) => m.path === wanted)) models.unshift({ path: wanted, kind: null });
      if (!models.length) {
        picker.disabled = true;
        fill(body, h("div", { class: "card empty-state" }, h("h2", { text: "No models yet" }),
          h("p", {}, "Training exports the generator at every snapshot (",
            h("code", { text: "generator.safetensors" }), " and ", h("code", { text: "exports/" }),
            " in the run folder). Train a run, e.g. ", h("code", { text: "ganforge train" }), ", and reload this page.")));
        return;
      }
      fill(picker, models.map((m) => h("option", { value: m.path, text: modelLabel(m) })));
      picker.value = wanted || models[0].path;
      picker.addEventListener("change", () => choose(picker.value, true));
      choose(picker.value, false);
    }

    async function choose(path, push) {
      const mine = ++current;
      if (push) window.history.replaceState(null, "", `/explore?model=${encodeURIComponent(path)}`);
      showError(err, "");
      fill(body, h("p", { class: "loading", text: "Loading the model…" }));
      infoLine.textContent = "";
      let info;
      try {
        info = await getJSON(`/api/model?model=${encodeURIComponent(path)}`);
      } catch (e) {
        if (mine !== current) return;
        body.replaceChildren();
        showError(err, e.message);
        return;
      }
      if (mine !== current) return;
      const facts = [info.kind, info.recipe, info.resolution ? `${info.resolution}×${info.resolution}` : null,
        info.channels ? `${info.channels} channel${info.channels === 1 ? "" : "s"}` : null,
        info.num_classes ? `${info.num_classes} classes` : null, isNum(info.kimg) ? `${fmtKimg(info.kimg)} kimg` : null,
        isNum(info.z_dim) ? `z ${info.z_dim}` : null, isNum(info.num_ws) ? `${info.num_ws} style inputs` : null];
      infoLine.textContent = facts.filter(Boolean).join(" · ");
      fill(body, info.kind === "translator" ? translatorView(path, info) : generatorView(path, info));
    }

    function seedOk(v) {
      return /^\d+$/.test(String(v).trim()) && Number(v) <= SEED_MAX;
    }

    const MIX_SEEDS_MAX = 8;

    function seedList(text) {
      const parts = String(text).split(",").map((s) => s.trim()).filter(Boolean);
      return parts.length && parts.length <= MIX_SEEDS_MAX && parts.every(seedOk) ? parts.join(",") : null;
    }

    function field(label, ...controls) {
      return h("label", { class: "field" }, h("span", { class: "field-label", text: label }), ...controls);
    }

    function generatorView(path, info) {
      const model = encodeURIComponent(path);
      const style = !!info.style;
      // -- controls
      const seedNum = h("input", { type: "number", min: 0, max: SEED_MAX, step: 1, value: "0", class: "seed-number", "aria-label": "seed" });
      const seedSlider = h("input", { type: "range", min: 0, max: 999, step: 1, value: "0", class: "seed-slider", "aria-label": "seed slider" });
      const randomBtn = h("button", { type: "button", text: "Random" });
      const psi = h("input", { type: "range", min: 0, max: 1.5, step: 0.05, value: "1", class: "psi-slider", "aria-label": "psi" });
      const psiOut = h("output", { class: "value", text: "1.00" });
      const psiField = field("Truncation ψ", psi, psiOut);
      psiField.hidden = !style;
      const classes = isNum(info.num_classes) && info.num_classes > 0 ? info.num_classes : 0;
      const names = Array.isArray(info.class_names) ? info.class_names : [];
      const cls = h("select", { class: "class-select", "aria-label": "class" },
        h("option", { value: "", text: "any (each seed draws one)" }),
        Array.from({ length: classes }, (_, i) => h("option", { value: String(i), text: names[i] ? `${i}: ${names[i]}` : String(i) })));
      const clsField = field("Class", cls);
      clsField.hidden = !classes;
      const modes = Array.isArray(info.noise_modes) ? info.noise_modes : [];
      const noise = h("select", { class: "noise-select", "aria-label": "noise mode" }, modes.map((m) => h("option", { value: m, text: m })));
      const noiseField = field("Noise", noise);
      noiseField.hidden = !(info.noise && modes.length);

      const img = h("img", { class: "pix explore-img", alt: "generated image", hidden: true });
      const status = h("span", { class: "muted small request-time" });
      const imgErr = errorBox();
      const slot = new ImageSlot(img, { status, error: imgErr });
      scaleImage(img, 384);

      const common = () => {
        const q = [];
        if (style) q.push(`psi=${Number(psi.value)}`);
        if (!noiseField.hidden && noise.value) q.push(`noise=${encodeURIComponent(noise.value)}`);
        if (classes && cls.value !== "") q.push(`class=${encodeURIComponent(cls.value)}`);
        return q;
      };
      const render = () => {
        const seed = seedNum.value.trim();
        if (!seedOk(seed)) {
          showError(imgErr, `seed ${JSON.stringify(seed)}: expected a whole number from 0 to ${SEED_MAX}`);
          return;
        }
        const q = [`model=${model}`, `seed=${Number(seed)}`, ...common()];
        slot.load(`/api/image?${q.join("&")}`);
      };
      const later = debounce(render, 120);
      seedNum.addEventListener("input", () => {
        if (seedOk(seedNum.value)) seedSlider.value = String(Math.min(999, Number(seedNum.value)));
        later();
      });
      seedSlider.addEventListener("input", () => { seedNum.value = seedSlider.value; later(); });
      randomBtn.addEventListener("click", () => {
        const s = Math.floor(Math.random() * 100000);
        seedNum.value = String(s);
        seedSlider.value = String(Math.min(999, s));
        render();
      });
      psi.addEventListener("input", () => { psiOut.textContent = Number(psi.value).toFixed(2); later(); mixLater(); interpLater(); });
      cls.addEventListener("change", () => { render(); mixLater(); interpLater(); });
      noise.addEventListener("change", () => { render(); mixLater(); interpLater(); });

      // -- style mixing
      const rows = h("input", { type: "text", value: "1,2,3", class: "mix-rows", "aria-label": "row seeds" });
      const cols = h("input", { type: "text", value: "4,5,6,7", class: "mix-cols", "aria-label": "column seeds" });
      const groups = info.style_groups && typeof info.style_groups === "object" ? info.style_groups : {};
      const styles = h("select", { class: "mix-styles", "aria-label": "styles" },
        Object.entries(groups).map(([g, idx]) => h("option", {
          value: g, text: Array.isArray(idx) && idx.length ? `${g} (${idx[0]}–${idx[idx.length - 1]})` : g,
        })),
        h("option", { value: "custom", text: "custom range…" }));
      const firstStyles = isNum(info.num_ws) ? `0-${Math.max(0, Math.min(3, info.num_ws - 1))}` : "0-3";
      const custom = h("input", { type: "text", value: firstStyles, class: "mix-custom", "aria-label": "custom style range" });
      const customField = field("Styles (e.g. 0-3 or 0,2,5)", custom);
      customField.hidden = styles.value !== "custom";
      styles.addEventListener("change", () => { customField.hidden = styles.value !== "custom"; });
      const mixImg = h("img", { class: "pix mix-img", alt: "style mixing grid", hidden: true });
      const mixStatus = h("span", { class: "muted small" });
      const mixErr = errorBox();
      const mixSlot = new ImageSlot(mixImg, { status: mixStatus, error: mixErr });
      scaleImage(mixImg, 640);
      let mixShown = false;
      const renderMix = () => {
        const r = seedList(rows.value), c = seedList(cols.value);
        if (!r || !c) {
          showError(mixErr, `seeds ${JSON.stringify(!r ? rows.value : cols.value)}: expected 1 to ${MIX_SEEDS_MAX} ` +
            `whole numbers from 0 to ${SEED_MAX}, separated by commas`);
          return;
        }
        const st = styles.value === "custom" ? custom.value.trim() : styles.value;
        mixShown = true;
        mixSlot.load(`/api/mix?${[`model=${model}`, `rows=${r}`, `cols=${c}`, `styles=${encodeURIComponent(st)}`, ...common()].join("&")}`);
      };
      const mixLater = debounce(() => { if (mixShown) renderMix(); }, 300);
      const mixSection = h("details", { class: "card tool mix-section" },
        h("summary", {}, h("h2", { text: "Style mixing" })),
        h("p", { class: "muted small", text: "Each cell takes the row seed's styles, with the chosen style layers from the column seed." }),
        h("div", { class: "controls" }, field("Row seeds", rows), field("Column seeds", cols), field("Styles", styles), customField,
          h("button", { type: "button", class: "primary", onclick: renderMix }, "Render"), mixStatus),
        mixErr, h("div", { class: "image-box" }, mixImg));
      mixSection.hidden = !style;

      // -- interpolation
      const ia = h("input", { type: "number", min: 0, max: SEED_MAX, step: 1, value: "0", class: "interp-a", "aria-label": "seed a" });
      const ib = h("input", { type: "number", min: 0, max: SEED_MAX, step: 1, value: "1", class: "interp-b", "aria-label": "seed b" });
      const frames = h("input", { type: "number", min: 2, max: 256, step: 1, value: "16", class: "interp-frames", "aria-label": "frames" });
      const frame = h("input", { type: "range", min: 0, max: 15, step: 1, value: "0", class: "interp-frame", "aria-label": "frame" });
      const frameOut = h("output", { class: "value", text: "1 / 16" });
      const space = h("select", { class: "interp-space", "aria-label": "space" },
        h("option", { value: "w", text: "w (style space)" }), h("option", { value: "z", text: "z (latent)" }));
      const spaceField = field("Space", space);
      spaceField.hidden = !style;
      const interpImg = h("img", { class: "pix interp-img", alt: "interpolation frame", hidden: true });
      const interpStatus = h("span", { class: "muted small" });
      const interpErr = errorBox();
      const interpSlot = new ImageSlot(interpImg, { status: interpStatus, error: interpErr });
      scaleImage(interpImg, 384);
      const renderInterp = () => {
        const n = Number(frames.value);
        if (!seedOk(ia.value) || !seedOk(ib.value)) {
          showError(interpErr, `seeds ${JSON.stringify(ia.value)}, ${JSON.stringify(ib.value)}: expected whole numbers from 0 to ${SEED_MAX}`);
          return;
        }
        if (!Number.isInteger(n) || n < 2 || n > 256) {
          showError(interpErr, `frames ${JSON.stringify(frames.value)}: expected a whole number from 2 to 256`);
          return;
        }
        frame.max = String(n - 1);
        if (Number(frame.value) > n - 1) frame.value = String(n - 1);
        frameOut.textContent = `${Number(frame.value) + 1} / ${n}`;
        const q = [`model=${model}`, `a=${Number(ia.value)}`, `b=${Number(ib.value)}`, `frame=${Number(frame.value)}`,
          `frames=${n}`, ...common()];
        if (style) q.push(`space=${space.value}`);
        interpSlot.load(`/api/interp?${q.join("&")}`);
      };
      const interpLater0 = debounce(renderInterp, 120);
      const interpSection = h("details", { class: "card tool interp-section" },
        h("summary", {}, h("h2", { text: "Interpolation" })),
        h("div", { class: "controls" }, field("Seed a", ia), field("Seed b", ib), field("Frames", frames), spaceField),
        h("div", { class: "slider-row" }, h("label", { text: "Frame " }), frame, frameOut, interpStatus),
        interpErr, h("div", { class: "image-box" }, interpImg));
      const interpLater = () => { if (interpSection.open) interpLater0(); };
      for (const c of [ia, ib, frames, frame]) c.addEventListener("input", interpLater);
      space.addEventListener("change", interpLater);
      interpSection.addEventListener("toggle", () => { if (interpSection.open) renderInterp(); });
      interpSection.hidden = !style;  // interpolation walks the mapping's w (or z) space of a StyleGAN

      render();
      return h("div", {},
        h("div", { class: "card explore-main" },
          h("div", { class: "controls-col" },
            field("Seed", h("span", { class: "seed-row" }, seedNum, randomBtn)),
            h("div", { class: "field" }, seedSlider),
            psiField, clsField, noiseField,
            h("p", { class: "muted small" }, "The image is what ", h("code", { text: "ganforge generate --seeds N" }),
              " writes for this seed.")),
          h("div", { class: "image-col" }, imgErr, h("div", { class: "image-box" }, img), status)),
        mixSection, interpSection);
    }

    function translatorView(path, info) {
      const model = encodeURIComponent(path);
      const dirs = Array.isArray(info.directions) ? info.directions : [];
      const direction = h("select", { class: "translate-direction", "aria-label": "direction" },
        dirs.map((d) => h("option", { value: d, text: d })));
      const dirField = field("Direction", direction);
      dirField.hidden = dirs.length < 2;
      const file = h("input", { type: "file", accept: "image/*", class: "translate-file", "aria-label": "image to translate" });
      const inImg = h("img", { class: "pix translate-in", alt: "input image", hidden: true });
      const outImg = h("img", { class: "pix translate-out", alt: "translated image", hidden: true });
      const status = h("span", { class: "muted small" });
      const tErr = errorBox();
      const slot = new ImageSlot(outImg, { status, error: tErr });
      scaleImage(inImg, 320);
      scaleImage(outImg, 320);
      let inUrl = null;
      const send = () => {
        const f = file.files && file.files[0];
        if (!f) return;
        const form = new FormData();
        form.append("image", f, f.name);
        const dir = dirs.length > 1 ? `&direction=${encodeURIComponent(direction.value)}` : "";
        slot.load(`/api/translate?model=${model}${dir}`, { method: "POST", body: form });
      };
      file.addEventListener("change", () => {
        const f = file.files && file.files[0];
        if (!f) return;
        if (inUrl) URL.revokeObjectURL(inUrl);
        inUrl = URL.createObjectURL(f);
        inImg.src = inUrl;
        inImg.hidden = false;
        send();
      });
      direction.addEventListener("change", send);
      return h("div", { class: "card" },
        h("h2", { text: "Translate an image" }),
        h("p", { class: "muted small" }, "Upload an image of the model's input domain; it is brought to the model's size as ",
          h("code", { text: "ganforge translate" }), " does."),
        h("div", { class: "controls" }, field("Image", file), dirField, status), tErr,
        h("div", { class: "side-by-side" },
          h("figure", {}, h("figcaption", { text: "Input" }), h("div", { class: "image-box" }, inImg)),
          h("figure", {}, h("figcaption", { text: "Output" }), h("div", { class: "image-box" }, outImg))));
    }

    start();
  }

  // =============================================================================================

  window.addEventListener("unhandledrejection", (e) => {
    const box = document.querySelector(".error-box") || app.insertBefore(errorBox(), app.firstChild);
    showError(box, `unexpected error: ${e.reason && e.reason.message ? e.reason.message : e.reason}`);
  });

  const PAGES = { runs: runsPage, run: runPage, compare: comparePage, explore: explorePage };
  if (!window.GanforgeChart) {
    fill(app, errorBox("chart.js did not load; reload the page"));
  } else if (PAGES[PAGE]) {
    PAGES[PAGE]();
  } else {
    fill(app, errorBox(`unknown page ${JSON.stringify(PAGE)}`));
  }
})();
