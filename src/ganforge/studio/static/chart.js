// ganforge studio: a small canvas line chart (no dependencies).
//
//   const chart = new GanforgeChart(container, {title: "Losses", xLabel: "kimg", height: 220});
//   chart.setData([{name: "G/adv", points: [[0.5, 1.2], [1.0, null], [1.5, 0.9]]}, ...]);
//
// Several series over a shared x axis; a null (or non-finite) y is a gap in its line. Hovering shows a
// crosshair and the value of every visible series at its point nearest to the crosshair; dragging across
// the plot zooms into that x range (double-click or "reset zoom" goes back); "log y" draws y on a log
// scale (values <= 0 are then left out); the legend's entries switch series on and off. The canvas
// follows its container's width and the screen's pixel density.
"use strict";

(() => {
  const PALETTE = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
    "#db2777", "#65a30d", "#4f46e5", "#b45309", "#0f766e", "#be123c",
  ];
  const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  const AXIS = "#6b7280";
  const GRID = "#e5e7eb";

  // -- numbers -----------------------------------------------------------------------------------

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const norm = raw / mag;
    const m = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return m * mag;
  }

  function linearTicks(lo, hi, count) {
    if (!(hi > lo)) return { ticks: [lo], step: 1 };
    const step = niceStep(hi - lo, count);
    const ticks = [];
    const first = Math.ceil(lo / step - 1e-9);
    for (let i = first; i * step <= hi + step * 1e-9 && ticks.length < 100; i++) {
      const v = i * step;
      ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return { ticks, step };
  }

  // Ticks of a log axis; lo and hi are log10 of the values. Powers of ten, plus 2x and 5x when the
  // range spans few decades.
  function logTicks(lo, hi) {
    const out = [];
    const d0 = Math.floor(lo), d1 = Math.ceil(hi);
    const decades = d1 - d0;
    const stride = Math.max(1, Math.ceil(decades / 8));
    const mults = decades <= 2 ? [1, 2, 5] : decades <= 4 ? [1, 3] : [1];
    for (let d = d0; d <= d1; d += stride) {
      for (const m of mults) {
        const lv = d + Math.log10(m);
        if (lv >= lo - 1e-9 && lv <= hi + 1e-9) out.push(lv);
      }
    }
    if (out.length < 2) return linearTicks(lo, hi, 4).ticks;  // a narrow range: plain steps in log units
    return out;
  }

  function formatTick(v, step) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-4) return v.toExponential(Math.max(0, Math.min(2, Math.round(-Math.log10(step / a)))));
    const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
    return v.toFixed(decimals);
  }

  function formatValue(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) return v.toExponential(3);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(5)));
  }

  function formatX(v) {
    return String(Number(v.toFixed(3)));
  }

  // Index of the element of sorted array `xs` nearest to x (-1 when empty).
  function nearestIndex(pts, x) {
    if (!pts.length) return -1;
    let lo = 0, hi = pts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid][0] <= x) lo = mid; else hi = mid;
    }
    return Math.abs(pts[lo][0] - x) <= Math.abs(pts[hi][0] - x) ? lo : hi;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // -- the chart ---------------------------------------------------------------------------------

  class GanforgeChart {
    constructor(container, options = {}) {
      this.options = { title: "", xLabel: "kimg", height: 220, logY: false, ...options };
      this.series = [];
      this.hidden = new Set(this.options.hidden || []);
      this.logY = !!this.options.logY;
      this.zoom = null;     // [x0, x1] or null
      this.hover = null;    // css px x inside the canvas, or null
      this.drag = null;     // {x0, x1} css px while dragging
      this.layout = null;
      this._raf = 0;

      this.root = el("div", "gf-chart");
      const head = el("div", "gf-chart-head");
      head.appendChild(el("span", "gf-chart-title", this.options.title));
      const tools = el("span", "gf-chart-tools");
      this.resetButton = el("button", "gf-chart-reset", "reset zoom");
      this.resetButton.type = "button";
      this.resetButton.hidden = true;
      this.resetButton.addEventListener("click", () => this.resetZoom());
      const logLabel = el("label", "gf-chart-log");
      this.logBox = document.createElement("input");
      this.logBox.type = "checkbox";
      this.logBox.checked = this.logY;
      this.logBox.addEventListener("change", () => this.setLogY(this.logBox.checked));
      logLabel.append(this.logBox, document.createTextNode(" log y"));
      tools.append(this.resetButton, logLabel);
      head.appendChild(tools);

      this.plot = el("div", "gf-chart-plot");
      this.plot.style.height = `${this.options.height}px`;
      this.canvas = document.createElement("canvas");
      this.canvas.setAttribute("role", "img");
      this.canvas.setAttribute("aria-label", this.options.title || "chart");
      this.tip = el("div", "gf-chart-tip");
      this.tip.hidden = true;
      this.plot.append(this.canvas, this.tip);
      this.legend = el("div", "gf-chart-legend");
      this.root.append(head, this.plot, this.legend);
      container.appendChild(this.root);

      this._bindPointer();
      if (typeof ResizeObserver !== "undefined") {
        this._resize = new ResizeObserver(() => this.redraw());
        this._resize.observe(this.plot);
      } else {
        this._onResize = () => this.redraw();
        window.addEventListener("resize", this._onResize);
      }
      this.redraw();
    }

    // series: [{name, points: [[x, y|null], ...], color?}]
    setData(series) {
      this.series = (series || []).map((s, i) => {
        const points = (s.points || [])
          .filter((p) => Array.isArray(p) && Number.isFinite(p[0]))
          .map((p) => [p[0], typeof p[1] === "number" && Number.isFinite(p[1]) ? p[1] : null])
          .sort((a, b) => a[0] - b[0]);
        const valid = points.filter((p) => p[1] !== null);
        return {
          name: String(s.name), color: s.color || PALETTE[i % PALETTE.length], points,
          valid, validLog: valid.filter((p) => p[1] > 0),
        };
      });
      this._buildLegend();
      this.redraw();
    }

    setLogY(on) {
      this.logY = !!on;
      this.logBox.checked = this.logY;
      this.redraw();
    }

    setZoom(x0, x1) {
      this.zoom = x1 > x0 ? [x0, x1] : null;
      this.resetButton.hidden = !this.zoom;
      this.redraw();
    }

    resetZoom() {
      this.setZoom(0, 0);
    }

    destroy() {
      if (this._resize) this._resize.disconnect();
      if (this._onResize) window.removeEventListener("resize", this._onResize);
      if (this._raf) cancelAnimationFrame(this._raf);
      this.root.remove();
    }

    redraw() {
      if (this._raf) return;
      this._raf = requestAnimationFrame(() => {
        this._raf = 0;
        this.draw();
      });
    }

    _buildLegend() {
      this.legend.replaceChildren();
      for (const s of this.series) {
        const b = el("button", "gf-chart-key");
        b.type = "button";
        b.title = "show / hide";
        const sw = el("span", "gf-chart-swatch");
        sw.style.background = s.color;
        b.append(sw, document.createTextNode(s.name));
        b.classList.toggle("off", this.hidden.has(s.name));
        b.setAttribute("aria-pressed", String(!this.hidden.has(s.name)));
        b.addEventListener("click", () => {
          if (this.hidden.has(s.name)) this.hidden.delete(s.name); else this.hidden.add(s.name);
          b.classList.toggle("off", this.hidden.has(s.name));
          b.setAttribute("aria-pressed", String(!this.hidden.has(s.name)));
          this.redraw();
        });
        this.legend.appendChild(b);
      }
    }

    _visible() {
      return this.series.filter((s) => !this.hidden.has(s.name));
    }

    _pts(s) {
      return this.logY ? s.validLog : s.valid;
    }

    _bindPointer() {
      const c = this.canvas;
      const localX = (e) => e.clientX - c.getBoundingClientRect().left;
      c.addEventListener("pointerdown", (e) => {
        if (e.button !== 0 || !this.layout) return;
        const x = localX(e);
        const L = this.layout;
        if (x < L.left || x > L.left + L.width) return;
        this.drag = { x0: x, x1: x };
        c.setPointerCapture(e.pointerId);
      });
      c.addEventListener("pointermove", (e) => {
        this.hover = localX(e);
        if (this.drag) this.drag.x1 = this.hover;
        this.redraw();
      });
      c.addEventListener("pointerup", (e) => {
        if (!this.drag || !this.layout) return;
        const { x0, x1 } = this.drag;
        this.drag = null;
        if (c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
        if (Math.abs(x1 - x0) > 4) {
          const L = this.layout;
          const a = L.invX(Math.max(L.left, Math.min(x0, x1)));
          const b = L.invX(Math.min(L.left + L.width, Math.max(x0, x1)));
          this.setZoom(a, b);
        } else {
          this.redraw();
        }
      });
      c.addEventListener("pointercancel", () => { this.drag = null; this.redraw(); });
      c.addEventListener("pointerleave", () => {
        if (!this.drag) { this.hover = null; this.redraw(); }
      });
      c.addEventListener("dblclick", () => this.resetZoom());
    }

    _xDomain(visible) {
      if (this.zoom) return this.zoom;
      let lo = Infinity, hi = -Infinity;
      for (const s of visible.length ? visible : this.series) {
        for (const p of s.points) {
          if (p[0] < lo) lo = p[0];
          if (p[0] > hi) hi = p[0];
        }
      }
      if (!Number.isFinite(lo)) return null;
      if (hi === lo) {
        const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
        return [lo - pad, hi + pad];
      }
      return [lo, hi];
    }

    _yDomain(visible, x0, x1) {
      let lo = Infinity, hi = -Infinity;
      for (const s of visible) {
        for (const p of this._pts(s)) {
          if (p[0] < x0 || p[0] > x1) continue;
          const v = this.logY ? Math.log10(p[1]) : p[1];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      if (!Number.isFinite(lo)) return null;
      if (hi === lo) {
        const pad = this.logY ? 0.5 : Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
        return [lo - pad, hi + pad];
      }
      const pad = (hi - lo) * 0.05;
      return [lo - pad, hi + pad];
    }

    draw() {
      const cssW = this.plot.clientWidth;
      const cssH = this.plot.clientHeight;
      if (cssW <= 0 || cssH <= 0) return;
      const dpr = window.devicePixelRatio || 1;
      const pw = Math.round(cssW * dpr), ph = Math.round(cssH * dpr);
      if (this.canvas.width !== pw || this.canvas.height !== ph) {
        this.canvas.width = pw;
        this.canvas.height = ph;
        this.canvas.style.width = `${cssW}px`;
        this.canvas.style.height = `${cssH}px`;
      }
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.font = FONT;

      const visible = this._visible();
      const xd = this._xDomain(visible);
      const yd = xd && this._yDomain(visible, xd[0], xd[1]);
      if (!xd || !yd) {
        this.layout = null;
        this.tip.hidden = true;
        ctx.fillStyle = AXIS;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        const why = !this.series.length ? "No data yet"
          : !visible.length ? "All series hidden"
            : this.logY ? "No positive values to show on a log scale" : "No values in this range";
        ctx.fillText(why, cssW / 2, cssH / 2);
        return;
      }

      // y ticks first: their widest label sets the left margin.
      const yt = this.logY ? { ticks: logTicks(yd[0], yd[1]), step: 1 } : linearTicks(yd[0], yd[1], Math.max(2, Math.floor(cssH / 45)));
      const yLabel = (t) => (this.logY ? formatTick(10 ** t, 10 ** t / 10) : formatTick(t, yt.step));
      let labelW = 0;
      for (const t of yt.ticks) labelW = Math.max(labelW, ctx.measureText(yLabel(t)).width);
      const left = Math.ceil(labelW) + 12, right = 12, top = 8, bottom = 34;
      const width = Math.max(10, cssW - left - right), height = Math.max(10, cssH - top - bottom);
      const sx = (x) => left + ((x - xd[0]) / (xd[1] - xd[0])) * width;
      const sy = (v) => top + height - ((v - yd[0]) / (yd[1] - yd[0])) * height;
      const invX = (px) => xd[0] + ((px - left) / width) * (xd[1] - xd[0]);
      this.layout = { left, top, width, height, sx, sy, invX };

      // grid and axes
      ctx.lineWidth = 1;
      ctx.strokeStyle = GRID;
      ctx.fillStyle = AXIS;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (const t of yt.ticks) {
        const y = Math.round(sy(t)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(left + width, y);
        ctx.stroke();
        ctx.fillText(yLabel(t), left - 6, y);
      }
      const xt = linearTicks(xd[0], xd[1], Math.max(2, Math.floor(width / 80)));
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      for (const t of xt.ticks) {
        const x = Math.round(sx(t)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
        ctx.fillText(formatTick(t, xt.step), x, top + height + 5);
      }
      ctx.strokeStyle = AXIS;
      ctx.beginPath();
      ctx.moveTo(left + 0.5, top);
      ctx.lineTo(left + 0.5, top + height + 0.5);
      ctx.lineTo(left + width, top + height + 0.5);
      ctx.stroke();
      ctx.textAlign = "right";
      ctx.fillText(this.options.xLabel, left + width, top + height + 19);

      // series
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top - 1, width, height + 2);
      ctx.clip();
      const yOf = (p) => {
        const v = p[1];
        if (v === null || (this.logY && v <= 0)) return null;
        return this.logY ? Math.log10(v) : v;
      };
      for (const s of visible) {
        ctx.strokeStyle = s.color;
        ctx.fillStyle = s.color;
        ctx.lineWidth = 1.6;
        ctx.lineJoin = "round";
        ctx.beginPath();
        let pen = false;
        const pts = s.points;
        for (let i = 0; i < pts.length; i++) {
          const v = yOf(pts[i]);
          if (v === null) { pen = false; continue; }
          const x = sx(pts[i][0]), y = sy(v);
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        }
        ctx.stroke();
        // a point with no neighbour to join is drawn as a dot
        for (let i = 0; i < pts.length; i++) {
          const v = yOf(pts[i]);
          if (v === null) continue;
          const prev = i > 0 ? yOf(pts[i - 1]) : null;
          const next = i + 1 < pts.length ? yOf(pts[i + 1]) : null;
          if (prev === null && next === null) {
            ctx.beginPath();
            ctx.arc(sx(pts[i][0]), sy(v), 2.5, 0, 2 * Math.PI);
            ctx.fill();
          }
        }
      }
      ctx.restore();

      // drag selection
      if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 1) {
        const a = Math.max(left, Math.min(this.drag.x0, this.drag.x1));
        const b = Math.min(left + width, Math.max(this.drag.x0, this.drag.x1));
        ctx.fillStyle = "rgba(37, 99, 235, 0.12)";
        ctx.fillRect(a, top, b - a, height);
      }

      this._drawHover(ctx, visible, yOf);
    }

    _drawHover(ctx, visible, yOf) {
      const L = this.layout;
      if (this.hover === null || this.hover < L.left || this.hover > L.left + L.width || this.drag) {
        this.tip.hidden = true;
        return;
      }
      const mx = L.invX(this.hover);
      // the crosshair goes to the data x nearest to the pointer
      let cx = null;
      for (const s of visible) {
        const pts = this._pts(s);
        const i = nearestIndex(pts, mx);
        if (i >= 0 && (cx === null || Math.abs(pts[i][0] - mx) < Math.abs(cx - mx))) cx = pts[i][0];
      }
      if (cx === null) {
        this.tip.hidden = true;
        return;
      }
      const px = Math.round(L.sx(cx)) + 0.5;
      ctx.strokeStyle = "rgba(17, 24, 39, 0.45)";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(px, L.top);
      ctx.lineTo(px, L.top + L.height);
      ctx.stroke();
      ctx.setLineDash([]);

      const rows = [];
      for (const s of visible) {
        const pts = this._pts(s);
        const i = nearestIndex(pts, cx);
        if (i < 0) continue;
        const p = pts[i];
        const v = yOf(p);
        if (p[0] >= L.invX(L.left) && p[0] <= L.invX(L.left + L.width)) {
          ctx.fillStyle = "#fff";
          ctx.strokeStyle = s.color;
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.arc(L.sx(p[0]), L.sy(v), 3.5, 0, 2 * Math.PI);
          ctx.fill();
          ctx.stroke();
        }
        rows.push({ s, p });
      }

      this.tip.replaceChildren();
      this.tip.appendChild(el("div", "gf-chart-tip-x", `${this.options.xLabel} ${formatX(cx)}`));
      for (const { s, p } of rows) {
        const row = el("div", "gf-chart-tip-row");
        const sw = el("span", "gf-chart-swatch");
        sw.style.background = s.color;
        row.append(sw, el("span", "gf-chart-tip-name", s.name), el("span", "gf-chart-tip-value", formatValue(p[1])));
        if (p[0] !== cx) row.appendChild(el("span", "gf-chart-tip-at", `@ ${formatX(p[0])}`));
        this.tip.appendChild(row);
      }
      this.tip.hidden = false;
      const tw = this.tip.offsetWidth;
      const cw = this.plot.clientWidth;
      let left = px + 12;
      if (left + tw > cw - 4) left = Math.max(4, px - 12 - tw);
      this.tip.style.left = `${left}px`;
      this.tip.style.top = `${L.top + 4}px`;
    }
  }

  GanforgeChart.PALETTE = PALETTE;
  GanforgeChart.formatValue = formatValue;
  window.GanforgeChart = GanforgeChart;
})();
