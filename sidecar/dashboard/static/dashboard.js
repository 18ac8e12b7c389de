"use strict";
// The sidecar dashboard: fetches dashboard.json every few seconds and draws it. No library, no network
// beyond this sidecar. Data is only ever inserted as text (textContent, SVG attributes), never as HTML.
(function () {
  const REFRESH_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const root = document.documentElement;
  let windowMinutes = 60;
  let last = null;
  const open = new Set(); // recent segments whose details are shown (by time + index)

  const int = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 0 });
  const usd = (n) => "$" + Number(n).toLocaleString("en-US", n !== 0 && Math.abs(n) < 1
    ? { minimumFractionDigits: 4, maximumFractionDigits: 4 } : { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const pct = (x) => (x * 100).toFixed(1) + "%";
  const ms = (n) => Number(n).toFixed(2);
  const el = (tag, attrs, text) => {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const get = (doc, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), doc);
  const duration = (s) => {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  };
  const FORMATS = {
    "proxy.uptime_s": duration,
    "middleware.added_ms_p50": ms, "middleware.added_ms_p99": ms,
    "savings.usd_saved_raw": usd, "savings.usd_saved_cache_aware": usd,
    "pruning.cost_estimated_total_usd": usd,
    "pruning.deepinfra_circuit_open": (v) => (v ? "open" : "closed"),
    "derived.share_saved": pct, "derived.cache_hit_rate": pct,
  };

  function derived(h) {
    const mw = h.middleware || {}, pr = h.pruning || {};
    const calls = (pr.cache_hits || 0) + (pr.cache_misses || 0);
    return {
      share_saved: mw.tokens_before_total ? mw.tokens_saved_total / mw.tokens_before_total : 0,
      cache_hit_rate: calls ? pr.cache_hits / calls : 0,
    };
  }

  function renderFigures(data) {
    const doc = Object.assign({}, data.health, { derived: derived(data.health) });
    for (const node of document.querySelectorAll("[data-key]")) {
      const value = get(doc, node.dataset.key);
      if (value === undefined) { node.textContent = "–"; continue; }
      node.dataset.value = String(value);
      const format = FORMATS[node.dataset.key];
      node.textContent = format ? format(value) : typeof value === "number" ? int(value) : String(value);
    }
    const proxy = data.health.proxy || {};
    const ready = document.getElementById("ready");
    ready.textContent = proxy.draining ? "draining" : proxy.ready ? "ready" : "starting";
    ready.className = "badge " + (proxy.ready ? "ok" : "warn");
    const savings = data.health.savings || {};
    document.getElementById("unpriced").hidden = !savings.tokens_saved_unpriced;
    document.getElementById("logout").hidden = data.auth !== "token";
  }

  function renderChart(data) {
    const svg = document.getElementById("chart");
    const W = 960, H = 220, left = 56, bottom = 22, top = 8;
    const step = data.minute_s;
    const now = Math.floor(data.generated_at / step) * step;
    const start = now - (windowMinutes - 1) * step;
    const byT = new Map(data.buckets.map((b) => [b[0], b]));
    let max = 0, inWindow = 0;
    for (const b of data.buckets) {
      if (b[0] >= start) { max = Math.max(max, b[2]); inWindow += b[1]; }
    }
    const total = data.buckets.reduce((s, b) => s + b[1], 0);
    svg.replaceChildren();
    const scale = max > 0 ? (H - bottom - top) / niceMax(max) : 0;
    const ticks = max > 0 ? [0, 0.5, 1].map((f) => f * niceMax(max)) : [0];
    for (const t of ticks) {
      const y = H - bottom - t * scale;
      svg.append(el("svg:line", { x1: left, x2: W, y1: y, y2: y, class: "axis" }));
      svg.append(el("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end" }, compact(t)));
    }
    const bw = (W - left) / windowMinutes;
    let points = 0;
    for (let i = 0; i < windowMinutes; i++) {
      const t = start + i * step, b = byT.get(t);
      if (!b) continue;
      points++;
      const x = left + i * bw + (bw > 3 ? 0.5 : 0), w = Math.max(bw - (bw > 3 ? 1 : 0), 0.8);
      const hb = b[2] * scale, hs = b[1] * scale;
      const tip = `${new Date(t * 1000).toLocaleTimeString()}: ${int(b[1])} of ${int(b[2])} tokens saved`;
      const kept = el("svg:rect", { x, y: H - bottom - hb, width: w, height: hb, class: "kept" });
      kept.append(el("svg:title", {}, tip));
      const saved = el("svg:rect", { x, y: H - bottom - hs, width: w, height: hs, class: "saved" });
      saved.append(el("svg:title", {}, tip));
      svg.append(kept, saved);
    }
    const labels = windowMinutes <= 60 ? 6 : windowMinutes <= 360 ? 6 : 8;
    for (let i = 0; i <= labels; i++) {
      const t = start + Math.round((i * (windowMinutes - 1)) / labels) * step;
      const x = left + ((t - start) / step) * bw;
      const when = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      svg.append(el("svg:text", { x, y: H - 6, "text-anchor": i === 0 ? "start" : i === labels ? "end" : "middle" }, when));
    }
    svg.dataset.points = String(points);
    svg.dataset.total = String(total);
    svg.dataset.window = String(inWindow);
    document.getElementById("chart-note").textContent =
      `· ${int(inWindow)} tokens saved in this window · ${int(total)} in the last ${duration(data.history_minutes * 60)} kept`;
  }

  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  const compact = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e3 ? (n / 1e3).toFixed(n >= 1e4 ? 0 : 1) + "k" : int(n));

  const TITLES = { agent: "By agent", tool: "By tool", kind: "By content kind",
    model: "By model", path: "By path", backend: "By backend" };

  function renderBreakdowns(data) {
    const host = document.getElementById("breakdowns");
    host.replaceChildren();
    for (const dim of ["agent", "tool", "kind", "model", "path", "backend"]) {
      const rows = data.by[dim] || [];
      const panel = el("div", { class: "panel", "data-dimension": dim });
      panel.append(el("h2", {}, TITLES[dim]));
      const table = el("table");
      const head = el("tr");
      for (const [t, c] of [[dim, ""], ["saved", "num"], ["", ""], ["share", "num"], ["$ saved", "num"]]) head.append(el("th", c ? { class: c } : {}, t));
      const thead = el("thead"); thead.append(head); table.append(thead);
      const body = el("tbody");
      const top = Math.max(1, ...rows.map((r) => r.tokens_before));
      for (const r of rows.slice(0, 12)) {
        const tr = el("tr", { "data-name": r.name });
        tr.append(el("td", { class: "name", title: r.name }, r.name));
        tr.append(el("td", { class: "num", "data-value": r.tokens_saved }, int(r.tokens_saved)));
        const bar = el("div", { class: "bar" }), fill = el("i");
        bar.style.width = Math.max(8, (100 * r.tokens_before) / top) + "%";
        fill.style.width = (r.tokens_before ? (100 * r.tokens_saved) / r.tokens_before : 0) + "%";
        bar.append(fill);
        const cell = el("td"); cell.append(bar); tr.append(cell);
        tr.append(el("td", { class: "num" }, r.tokens_before ? pct(r.tokens_saved / r.tokens_before) : "–"));
        tr.append(el("td", { class: "num" }, usd(r.usd_cache_aware)));
        body.append(tr);
      }
      if (!rows.length) body.append(emptyRow(5, "no pruned requests yet"));
      table.append(body);
      panel.append(table);
      host.append(panel);
    }
  }

  function emptyRow(span, text) {
    const tr = el("tr");
    tr.append(el("td", { colspan: span, class: "muted" }, text));
    return tr;
  }

  function lineMap(seg) {
    const svg = el("svg:svg", { class: "map", viewBox: "0 0 160 12", preserveAspectRatio: "none" });
    const n = Math.max(seg.original_lines, 1);
    svg.append(el("svg:rect", { x: 0, y: 0, width: 160, height: 12, class: "k" }));
    for (const [a, b] of seg.cut) {
      const x = ((a - 1) / n) * 160, w = Math.max(((b - a + 1) / n) * 160, 0.5);
      svg.append(el("svg:rect", { x, y: 0, width: w, height: 12, class: "c" }));
    }
    const cutLines = seg.cut.reduce((s, [a, b]) => s + b - a + 1, 0);
    svg.append(el("svg:title", {}, `${int(n - cutLines)} of ${int(n)} lines kept, ${seg.cut.length} runs cut`));
    return svg;
  }

  function renderRecent(data) {
    const body = document.getElementById("recent");
    body.replaceChildren();
    document.getElementById("text-note").textContent = data.show_text
      ? "text shown: dashboard.show_text is on"
      : "metadata only: tool output is not shown (dashboard.show_text = false)";
    data.recent.forEach((seg, i) => {
      const id = `${seg.t}:${data.recent.length - i}`;
      const tr = el("tr", { class: "seg", "data-status": seg.status });
      tr.append(el("td", {}, new Date(seg.t * 1000).toLocaleTimeString()));
      tr.append(el("td", { class: "name", title: seg.agent }, seg.agent));
      tr.append(el("td", { class: "name", title: seg.tool }, seg.tool));
      tr.append(el("td", {}, seg.source_type));
      tr.append(el("td", { class: "name", title: seg.model }, seg.model));
      tr.append(el("td", { class: "num" }, `${int(seg.tokens_before)} → ${int(seg.tokens_after)}`));
      const saved = el("td", { class: "num" }, seg.status === "pruned" ? pct(seg.tokens_saved / Math.max(seg.tokens_before, 1)) : seg.status);
      tr.append(saved);
      const map = el("td"); map.append(lineMap(seg)); tr.append(map);
      const backend = el("td", {}, seg.backend);
      if (seg.fallback) backend.append(el("span", { class: "tag warn" }, "fallback"));
      if (seg.cache_hit) backend.append(el("span", { class: "tag hit" }, "cached"));
      tr.append(backend);
      tr.append(el("td", { class: "num" }, ms(seg.latency_ms)));
      tr.addEventListener("click", () => { open.has(id) ? open.delete(id) : open.add(id); renderRecent(last); });
      body.append(tr);
      if (open.has(id)) body.append(detail(seg, data.show_text));
    });
    if (!data.recent.length) body.append(emptyRow(10, "no segments yet: point an agent at this sidecar"));
  }

  function detail(seg, showText) {
    const tr = el("tr", { class: "detail" }), td = el("td", { colspan: 10 });
    const kept = seg.original_lines - seg.cut.reduce((s, [a, b]) => s + b - a + 1, 0);
    const facts = [`${seg.path}`, `${int(kept)} of ${int(seg.original_lines)} lines kept`,
      `saved ${int(seg.tokens_saved)} tokens`, seg.usd_cache_aware == null ? "model not priced" : `${usd(seg.usd_cache_aware)} cache-aware · ${usd(seg.usd_raw)} raw`];
    td.append(el("div", {}, facts.join(" · ")));
    if (seg.cut.length) td.append(el("div", { class: "muted" }, "cut: " + seg.cut.map(([a, b]) => (a === b ? `line ${a}` : `lines ${a}–${b}`)).join(", ")));
    if (showText && seg.text != null) {
      const cols = el("div", { class: "cols" });
      const original = el("pre");
      const cut = seg.cut;
      seg.text.split("\n").forEach((line, i) => {
        const n = i + 1;
        original.append(el("span", cut.some(([a, b]) => n >= a && n <= b) ? { class: "cut" } : {}, `${String(n).padStart(5)}  ${line}\n`));
      });
      const left = el("div"); left.append(el("h2", {}, "original (cut lines struck through)"), original);
      const right = el("div"); right.append(el("h2", {}, "sent upstream"), el("pre", {}, seg.pruned_text));
      cols.append(left, right);
      td.append(cols);
      if (seg.text_truncated) td.append(el("div", { class: "muted" }, "truncated to dashboard.max_text_chars"));
    } else if (!showText) {
      td.append(el("div", { class: "muted" }, "Text is not shown: tool output can hold secrets. Set [dashboard] show_text = true in config.toml to see it."));
    }
    tr.append(td);
    return tr;
  }

  function renderPricing(data) {
    const host = document.getElementById("pricing");
    host.replaceChildren();
    host.append(el("div", {}, "Money saved is an estimate: tokens saved × the model's input list price from [pricing] in config.toml. " +
      "Raw prices every saved token at the input price; cache-aware prices segments pruned before (later turns, " +
      "most likely served from the provider's prompt cache) at the cached-read price."));
    if (data.prices.length) {
      host.append(el("div", {}, "Prices used: " + data.prices.map((p) => p.key == null ? `${p.model}: not priced`
        : `${p.model} → ${p.key} $${p.input_usd_per_mtok}/M (cached ×${p.cached_read_multiplier})`).join(" · ")));
    }
  }

  function render(data) {
    last = data;
    renderFigures(data);
    renderChart(data);
    renderBreakdowns(data);
    renderRecent(data);
    renderPricing(data);
    root.dataset.rendered = String(Number(root.dataset.rendered || 0) + 1);
  }

  async function refresh() {
    const error = document.getElementById("error");
    try {
      const response = await fetch("dashboard.json", { cache: "no-store", credentials: "same-origin" });
      if (response.status === 401) { location.reload(); return; }
      if (!response.ok) throw new Error(`dashboard.json answered ${response.status}`);
      render(await response.json());
      error.hidden = true;
    } catch (exc) {
      error.textContent = `Cannot reach the sidecar: ${exc.message}. Retrying…`;
      error.hidden = false;
    }
  }

  for (const button of document.querySelectorAll("#window button")) {
    button.addEventListener("click", () => {
      windowMinutes = Number(button.dataset.minutes);
      for (const b of document.querySelectorAll("#window button")) b.classList.toggle("on", b === button);
      if (last) renderChart(last);
    });
  }
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
})();
