"use strict";
/* Shared by report.html and diff.html. Every text from a run (model replies,
   prompts, reasons) goes in through textContent: never innerHTML. */
const H = (() => {
  const DASH = "\u2014";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent, ...children) {
    for (const c of children) if (c !== null && c !== undefined) parent.append(c);
    return parent;
  }

  const num = (v) => (v === null || v === undefined ? DASH : Math.round(v).toLocaleString("en-US"));
  function cost(v) {
    if (v === null || v === undefined) return DASH;
    return "$" + Math.abs(v).toFixed(Math.abs(v) < 100 ? 4 : 2);
  }
  function ms(v) {
    if (v === null || v === undefined) return DASH;
    const a = Math.abs(v);
    if (a < 1000) return Math.round(a) + " ms";
    if (a < 120000) return (a / 1000).toFixed(1) + " s";
    return (a / 60000).toFixed(1) + " min";
  }
  function delta(pair, fmt) {
    const [b, h] = pair;
    if (b === null || b === undefined || h === null || h === undefined) return DASH;
    const d = h - b;
    if (Math.abs(d) < 1e-12) return "\u00b10";
    return (d > 0 ? "+" : "\u2212") + fmt(Math.abs(d));
  }

  function pill(text, cls) { return el("span", "pill " + cls, text); }
  function slug(text) { return String(text).replace(/[^a-z0-9]+/gi, "-").toLowerCase(); }
  function caseKey(c) { return c.s + "/" + c.i + (c.r ? "#" + c.r : ""); }

  function caseCell(c) {
    const td = el("td", "c-case");
    add(td, el("span", "suite", c.s), el("span", "sep", "/"), el("span", "cid", c.i));
    if (c.r) td.append(el("span", "rep", "repeat " + (c.r + 1)));  /* c.r is 0-based, people count from 1 */
    if (c.rr) td.append(el("span", "rep", "re-run"));  /* run again by --rerun */
    td.title = c.s + " / " + c.i;
    return td;
  }

  /* A paged, filterable, searchable table: rows are built only for the page
     shown, and a case's detail only when it is opened. */
  function table(opts) {
    const items = opts.items;
    const tbody = document.getElementById("rows");
    const empty = document.getElementById("empty");
    const range = document.getElementById("range");
    const prev = document.getElementById("prev");
    const next = document.getElementById("next");
    const search = document.getElementById("search");
    const chips = Array.from(document.querySelectorAll("#filters .chip"));
    const pageSize = opts.pageSize || 100;
    const open = new Set();
    let filter = "all", terms = [], page = 0, shown = items;

    function haystack(item) {
      if (item._h === undefined) item._h = opts.haystack(item).toLowerCase();
      return item._h;
    }
    function recompute() {
      shown = items.filter((it) => (filter === "all" || opts.matches(it, filter)) &&
        terms.every((t) => haystack(it).includes(t)));
    }
    function detailRow(item) {
      const tr = el("tr", "detail");
      const td = el("td");
      // span the columns shown: spanning hidden ones (narrow screens) would add empty columns
      td.colSpan = Array.from(document.querySelectorAll("#grid thead th")).filter((th) => th.offsetWidth > 0).length
        || opts.columns;
      const body = el("div", "detail-body");
      try { opts.detail(item, body); } catch (e) { body.append(el("p", "errbox", "could not render this case: " + e)); }
      td.append(body);
      tr.append(td);
      return tr;
    }
    function render() {
      const pages = Math.max(1, Math.ceil(shown.length / pageSize));
      page = Math.min(page, pages - 1);
      const start = page * pageSize;
      const slice = shown.slice(start, start + pageSize);
      const frag = document.createDocumentFragment();
      for (const item of slice) {
        const key = caseKey(item);
        const tr = opts.row(item);
        tr.classList.add("row");
        tr.tabIndex = 0;
        tr.dataset.key = key;
        tr.setAttribute("aria-expanded", open.has(key) ? "true" : "false");
        frag.append(tr);
        if (open.has(key)) { tr.classList.add("open"); frag.append(detailRow(item)); }
      }
      tbody.replaceChildren(frag);
      empty.hidden = shown.length > 0;
      range.textContent = shown.length
        ? (start + 1).toLocaleString("en-US") + "\u2013" + (start + slice.length).toLocaleString("en-US") +
          " of " + shown.length.toLocaleString("en-US")
        : "0 cases";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    function toggle(tr) {
      const key = tr.dataset.key;
      const item = shown.find((it) => caseKey(it) === key);
      if (!item) return;
      if (open.has(key)) {
        open.delete(key);
        tr.classList.remove("open");
        tr.setAttribute("aria-expanded", "false");
        const d = tr.nextElementSibling;
        if (d && d.classList.contains("detail")) d.remove();
        history.replaceState(null, "", location.pathname + location.search);
      } else {
        open.add(key);
        tr.classList.add("open");
        tr.setAttribute("aria-expanded", "true");
        tr.after(detailRow(item));
        history.replaceState(null, "", "#" + encodeURIComponent(key));
      }
    }
    tbody.addEventListener("click", (ev) => {
      if (ev.target.closest("tr.detail")) return;
      const tr = ev.target.closest("tr.row");
      if (tr) toggle(tr);
    });
    tbody.addEventListener("keydown", (ev) => {
      const tr = ev.target.closest && ev.target.closest("tr.row");
      if (tr && ev.target === tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(tr); }
    });
    for (const chip of chips) {
      chip.addEventListener("click", () => {
        filter = chip.dataset.filter;
        for (const c of chips) c.setAttribute("aria-pressed", c === chip ? "true" : "false");
        page = 0; recompute(); render();
      });
    }
    let timer = 0;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
        page = 0; recompute(); render();
      }, items.length > 2000 ? 150 : 0);
    });
    prev.addEventListener("click", () => { page -= 1; render(); tbody.closest(".cases").scrollIntoView(); });
    next.addEventListener("click", () => { page += 1; render(); tbody.closest(".cases").scrollIntoView(); });

    // A link to one case (report.html#suite%2Fid) opens it; a malformed one (#%) opens nothing, never breaks the page.
    let wanted = "";
    try { wanted = decodeURIComponent(location.hash.slice(1)); } catch (e) { wanted = ""; }
    const at = wanted ? items.findIndex((it) => caseKey(it) === wanted) : -1;
    if (at >= 0) { open.add(wanted); page = Math.floor(at / pageSize); }
    render();
    if (at >= 0) { const r = tbody.querySelector("tr.open"); if (r) r.scrollIntoView(); }
    window.harnessReady = performance.now();
    document.documentElement.dataset.ready = "true";
  }

  let parsed = null;  /* parsed once: report.js and grid.js share it */
  function data() { return parsed || (parsed = JSON.parse(document.getElementById("data").textContent)); }

  /* A report split for size (harness/report/html_split.py): the page has the table; each case's transcript
     and checks are in report-data/cases-NNNNN.js beside it, a script that calls H.chunk when it loads. */
  const chunks = new Map();
  function chunk(n, details) {
    const d = data();
    details.forEach((x, j) => Object.assign(d.cases[n * d.split.size + j], x));
    const waiting = chunks.get(n);
    if (waiting) waiting.resolve();
  }
  function loadDetail(index) {
    const d = data();
    const n = Math.floor(index / d.split.size);
    if (!chunks.has(n)) {
      const waiting = {};
      waiting.promise = new Promise((resolve, reject) => { waiting.resolve = resolve; waiting.reject = reject; });
      chunks.set(n, waiting);
      const s = document.createElement("script");
      s.src = d.split.dir + "/cases-" + String(n).padStart(5, "0") + ".js";
      s.onerror = () => { chunks.delete(n); waiting.reject(new Error("cannot load " + s.src + "; keep the " + d.split.dir + " folder next to report.html")); };
      document.head.append(s);
    }
    return chunks.get(n).promise;
  }

  return { el, add, num, cost, ms, delta, pill, slug, caseKey, caseCell, table, data, chunk, loadDetail, DASH };
})();
