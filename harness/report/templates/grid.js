/* report.html, runs with variants: one row per case, one column per variant. A cell shows the
   outcome; opening a row shows every variant's replies side by side, words that differ from the
   chosen variant highlighted. Every text goes in with textContent, never as markup. */
(() => {
  const D = H.data();
  const g = D.grid;
  if (!g) return;
  const { el, add, num, cost, ms, pill } = H;
  const cases = D.cases;
  const cols = g.cols;
  const section = document.getElementById("variant-grid");
  const tbody = document.getElementById("vrows");
  const head = document.getElementById("vhead");
  const range = document.getElementById("vrange");
  const prev = document.getElementById("vprev");
  const next = document.getElementById("vnext");
  const disagree = document.getElementById("vdisagree");
  const xSel = document.getElementById("vx");
  const ySel = document.getElementById("vy");
  const pageSize = 100;
  const open = new Set();
  let shown = g.rows, page = 0;
  section.hidden = false;

  const pct = (v) => (v === null || v === undefined ? H.DASH : Math.round(100 * v) + "%");
  const headRow = el("tr");
  headRow.append(el("th", "c-case", "case"));
  cols.forEach((c) => {
    const th = el("th", "vcol");
    th.append(el("div", "vname", c.n));
    if (c.m) th.append(el("div", "vmeta", c.m));
    const rate = el("div", "vrate", pct(c.rate));
    rate.title = "pass rate over " + c.ev + " evaluated cases, with its 95% Wilson interval";
    if (c.rate !== null) rate.append(el("small", "", " (" + pct(c.lo) + "\u2013" + pct(c.hi) + ")"));
    th.append(rate);
    th.append(el("div", "vmeta", c.p + "/" + c.ev + " passed \u00b7 " + num(c.tok) + " tok \u00b7 " + cost(c.c)));
    th.append(el("div", "vmeta", "p50 " + ms(c.p50) + " \u00b7 p95 " + ms(c.p95)));
    headRow.append(th);
  });
  head.replaceChildren(headRow);
  for (const sel of [xSel, ySel]) {
    sel.append(el("option", "", "\u2014"));
    sel.lastChild.value = "";
    cols.forEach((c, i) => { const o = el("option", "", c.n); o.value = String(i); sel.append(o); });
  }

  const passed = (cell) => cell && cell[0] === "passed";
  const failing = (cell) => cell && (cell[0] === "failed" || cell[0] === "error");
  function disagrees(r) {
    const st = new Set(r[2].filter(Boolean).map((c) => c[0]));
    return st.size > 1;
  }
  function recompute() {
    const x = xSel.value === "" ? -1 : Number(xSel.value);
    const y = ySel.value === "" ? -1 : Number(ySel.value);
    shown = g.rows.filter((r) => (!disagree.checked || disagrees(r)) &&
      (x < 0 || failing(r[2][x])) && (y < 0 || passed(r[2][y])));
    page = 0;
    render();
  }

  function replies(idx) {
    if (idx < 0) return [];
    const c = cases[idx];
    const out = [];
    for (const e of c.tx || []) if (e[1] === "reply") out.push(["turn " + e[0], e[3] || ""]);
    if (c.e) out.push(["error", c.e]);
    return out;
  }

  /* Word diff (LCS over words and spaces): which tokens of `text` are not in `ref`. */
  function marked(text, ref) {
    const a = ref.split(/(\s+)/), b = text.split(/(\s+)/);
    const frag = document.createDocumentFragment();
    if (a.length * b.length > 4e6) { frag.append(document.createTextNode(text)); return frag; }
    const n = a.length, m = b.length;
    const dp = new Array(n + 1);
    for (let i = 0; i <= n; i++) dp[i] = new Uint32Array(m + 1);
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    let i = 0, j = 0, same = "", diff = "";
    const flush = () => {
      if (same) { frag.append(document.createTextNode(same)); same = ""; }
      if (diff) { frag.append(el("mark", "vdiff", diff)); diff = ""; }
    };
    while (j < m) {
      if (i < n && a[i] === b[j]) { if (diff) flush(); same += b[j]; i++; j++; }
      else if (i < n && dp[i + 1][j] >= dp[i][j + 1]) i++;
      else { if (same) flush(); diff += b[j]; j++; }
    }
    flush();
    return frag;
  }

  function compareRow(r, refCol) {
    const tr = el("tr", "vdetail");
    const td = el("td");
    td.colSpan = cols.length + 1;
    const box = el("div", "vside");
    box.style.gridTemplateColumns = "repeat(" + cols.length + ", minmax(12rem, 1fr))";
    const ref = replies(r[2][refCol] ? r[2][refCol][1] : -1);
    r[2].forEach((cell, k) => {
      const pane = el("div", "vpane" + (k === refCol ? " vref" : ""));
      const title = el("div", "vpane-head");
      add(title, el("b", "", cols[k].n), cell ? pill(cell[0], "st-" + cell[0]) : el("span", "vmeta", "not run"));
      if (k === refCol) title.append(el("span", "vmeta", "reference"));
      else { const b = el("button", "vrefbtn", "compare to this"); b.type = "button"; b.dataset.ref = String(k); title.append(b); }
      pane.append(title);
      const mine = replies(cell ? cell[1] : -1);
      mine.forEach(([label, text], t) => {
        pane.append(el("div", "vturn", label));
        const body = el("div", "vtext");
        if (k === refCol || !ref[t]) body.append(document.createTextNode(text));
        else body.append(marked(text, ref[t][1]));
        if (!text) body.append(el("span", "vmeta", "(empty reply)"));
        pane.append(body);
      });
      if (cell && cell[1] >= 0 && cases[cell[1]].why) pane.append(el("p", "vwhy", cases[cell[1]].why));
      box.append(pane);
    });
    td.append(box);
    tr.append(td);
    return tr;
  }

  function row(r) {
    const tr = el("tr", "vrow");
    const key = r[0] + "/" + r[1];
    tr.dataset.key = key;
    tr.tabIndex = 0;
    const name = el("td", "c-case");
    add(name, el("span", "suite", r[0]), el("span", "sep", "/"), el("span", "cid", r[1]));
    if (disagrees(r)) name.append(el("span", "rep flaky", "variants disagree"));
    tr.append(name);
    r[2].forEach((cell, k) => {
      const td = el("td", "vcell");
      td.dataset.col = String(k);
      if (!cell) td.append(el("span", "vmeta", "not run"));
      else {
        td.append(pill(cell[0], "st-" + cell[0]));
        if (cell[3] > 1) td.append(el("span", "vmeta", " " + cell[2] + "/" + cell[3]));
        const first = cell[1] >= 0 ? cases[cell[1]] : null;
        const reply = first && first.tx ? first.tx.filter((e) => e[1] === "reply").map((e) => e[3] || "").join(" \u2192 ") : "";
        td.append(el("div", "vpeek", reply.length > 140 ? reply.slice(0, 139) + "\u2026" : reply));
      }
      tr.append(td);
    });
    tr.setAttribute("aria-expanded", open.has(key) ? "true" : "false");
    return tr;
  }

  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(page, pages - 1);
    const start = page * pageSize;
    const slice = shown.slice(start, start + pageSize);
    const frag = document.createDocumentFragment();
    for (const r of slice) {
      const tr = row(r);
      frag.append(tr);
      if (open.has(tr.dataset.key)) { tr.classList.add("open"); frag.append(compareRow(r, refs.get(tr.dataset.key) || 0)); }
    }
    tbody.replaceChildren(frag);
    range.textContent = shown.length
      ? (start + 1).toLocaleString("en-US") + "\u2013" + (start + slice.length).toLocaleString("en-US") + " of " +
        shown.length.toLocaleString("en-US") + " cases"
      : "no case matches";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  const refs = new Map();

  function toggle(tr, refCol) {
    const key = tr.dataset.key;
    const r = shown.find((x) => x[0] + "/" + x[1] === key);
    if (!r) return;
    const d = tr.nextElementSibling;
    const isOpen = d && d.classList.contains("vdetail");
    if (isOpen) d.remove();
    if (isOpen && refCol === undefined) {
      open.delete(key); tr.classList.remove("open"); tr.setAttribute("aria-expanded", "false");
      return;
    }
    const ref = refCol === undefined ? 0 : refCol;
    open.add(key); refs.set(key, ref);
    tr.classList.add("open"); tr.setAttribute("aria-expanded", "true");
    tr.after(compareRow(r, ref));
  }

  tbody.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button.vrefbtn");
    if (btn) {
      const tr = btn.closest("tr.vdetail").previousElementSibling;
      toggle(tr, Number(btn.dataset.ref));
      return;
    }
    if (ev.target.closest("tr.vdetail")) return;
    const tr = ev.target.closest("tr.vrow");
    if (!tr) return;
    const cell = ev.target.closest("td.vcell");
    if (cell && tr.classList.contains("open")) { toggle(tr); return; }
    toggle(tr);
  });
  tbody.addEventListener("keydown", (ev) => {
    const tr = ev.target.closest && ev.target.closest("tr.vrow");
    if (tr && ev.target === tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(tr); }
  });
  disagree.addEventListener("change", recompute);
  xSel.addEventListener("change", recompute);
  ySel.addEventListener("change", recompute);
  prev.addEventListener("click", () => { page -= 1; render(); });
  next.addEventListener("click", () => { page += 1; render(); });
  render();
  document.getElementById("vcount").textContent = g.rows.filter(disagrees).length.toLocaleString("en-US");
})();
