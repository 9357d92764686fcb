/* diff.html: one row per aligned case; its request change, flipped checks
   and reply diffs are built when the row is opened. */
(() => {
  const { el, add, num, cost, ms, delta, pill, caseCell } = H;
  const cases = H.data().cases;
  const CONTEXT = 240; // characters of unchanged text kept around each change

  /* Word diff, the same tokens as harness/compare.py: a word or a mark with the
     spaces before it. Common ends are stripped, the middle is an LCS table. */
  const TOKEN = /\s*[\p{L}\p{N}_]+|\s*[^\p{L}\p{N}_\s]|\s+/gu;
  function wordDiff(a, b) {
    if (a === b) return a ? [["=", a]] : [];
    const x = a.match(TOKEN) || [], y = b.match(TOKEN) || [];
    let p = 0;
    while (p < x.length && p < y.length && x[p] === y[p]) p++;
    let q = 0;
    while (q < x.length - p && q < y.length - p && x[x.length - 1 - q] === y[y.length - 1 - q]) q++;
    const xs = x.slice(p, x.length - q), ys = y.slice(p, y.length - q);
    const ops = [];
    const push = (k, t) => { if (!t) return; const last = ops[ops.length - 1]; if (last && last[0] === k) last[1] += t; else ops.push([k, t]); };
    push("=", x.slice(0, p).join(""));
    const n = xs.length, m = ys.length;
    if (n * m > 4e6) { push("-", xs.join("")); push("+", ys.join("")); }
    else {
      const w = m + 1, L = new Uint32Array((n + 1) * w);
      for (let i = n - 1; i >= 0; i--)
        for (let j = m - 1; j >= 0; j--)
          L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      let i = 0, j = 0;
      while (i < n && j < m) {
        if (xs[i] === ys[j]) { push("=", xs[i]); i++; j++; }
        else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) { push("-", xs[i]); i++; }
        else { push("+", ys[j]); j++; }
      }
      while (i < n) push("-", xs[i++]);
      while (j < m) push("+", ys[j++]);
    }
    push("=", x.slice(x.length - q).join(""));
    return ops;
  }

  function statusPill(st) { return pill(st || "none", "st-" + (st || "none")); }

  function summaryOf(c) {
    const bits = [];
    if (c.nr) bits.push("not run: " + c.nr);
    if (c.sx) bits.push(c.sx);
    if (c.pr.length) bits.push(c.pr.map((p) => p[0] + " " + p[1] + (p[3] && p[3].length ? " (" + p[3].join(", ") + ")" : "")).join(", "));
    if (c.pa.length) bits.push("params: " + c.pa.map((p) => p[0]).join(", "));
    const replies = c.re.filter((r) => r[1] && !r[6]).length;
    if (replies) bits.push(replies + " repl" + (replies === 1 ? "y" : "ies") + " changed");
    if (!bits.length && c.why.length) bits.push(c.why[0]);
    return bits.join("; ");
  }

  function row(c) {
    const tr = el("tr");
    const ch = el("td", "c-change");
    ch.append(pill(c.ch, "ch-" + H.slug(c.ch)));
    const st = el("td", "c-trans");
    add(st, statusPill(c.bs), el("span", "arrow", "\u2192"), c.nr ? pill("not run", "ch-not-run") : statusPill(c.hs));
    st.title = (c.bs || "none") + " \u2192 " + (c.nr ? "not run: " + c.nr : (c.hs || "none"));
    const broke = c.fl.filter((f) => f[3] === false).length;
    const flips = el("td", "c-num");
    flips.append(el("span", broke ? "bad-n" : "ok-n", c.fl.length ? String(c.fl.length) : ""));
    const what = summaryOf(c);
    const why = el("td", "c-why", what);
    why.title = what;
    add(tr, ch, caseCell(c), st, flips, el("td", "c-num hide-sm", delta(c.tok, num)),
        el("td", "c-num hide-sm", delta(c.c, cost)), el("td", "c-num hide-sm", delta(c.lat, ms)), why);
    return tr;
  }

  /* A word diff; long unchanged stretches are cut to their ends so the edits stand out. */
  function diffBox(ops) {
    const box = el("div", "diff");
    if (!ops.length) { box.append(el("span", "gap", "(empty)")); return box; }
    ops.forEach(([kind, text], i) => {
      if (kind === "+") box.append(el("ins", "", text));
      else if (kind === "-") box.append(el("del", "", text));
      else if (ops.length > 1 && text.length > 2 * CONTEXT + 40) {
        const head = i > 0 ? text.slice(0, CONTEXT) : "";
        const tail = i < ops.length - 1 ? text.slice(-CONTEXT) : "";
        const cut = text.length - head.length - tail.length;
        add(box, document.createTextNode(head), el("span", "gap", " \u2026 " + num(cut) + " unchanged characters \u2026 "),
            document.createTextNode(tail));
      } else box.append(document.createTextNode(text));
    });
    return box;
  }

  /* A mostly rewritten text reads better as base and head side by side, each
     with its own changes marked, than as one interleaved diff. */
  function diffView(ops) {
    const same = ops.filter((o) => o[0] === "=").reduce((n, o) => n + o[1].length, 0);
    const before = ops.filter((o) => o[0] !== "+").reduce((n, o) => n + o[1].length, 0);
    const after = ops.filter((o) => o[0] !== "-").reduce((n, o) => n + o[1].length, 0);
    if (ops.length < 4 || same >= 0.5 * Math.max(before, after)) return diffBox(ops);
    const sides = el("div", "sides");
    for (const [label, drop] of [["base", "+"], ["head", "-"]]) {
      const col = el("div");
      col.append(el("div", "side-lbl", label), diffBox(ops.filter((o) => o[0] !== drop)));
      sides.append(col);
    }
    return sides;
  }

  function section(body, title) { body.append(el("h3", "", title)); }

  function flipsTable(c, body) {
    section(body, "Checks that flipped");
    const t = el("table", "kv");
    const head = el("tr");
    for (const h of ["turn", "check", "base", "head", "reason"]) head.append(el("th", "", h));
    t.append(head);
    const word = (v) => (v === null ? "absent" : v ? "\u2713 pass" : "\u2717 fail");
    for (const [turn, name, before, after, br, hr, edited] of c.fl) {
      const tr = el("tr");
      const code = el("td"); code.append(el("code", "mono", name));
      const reason = el("td", "", hr !== null ? hr : br || "");
      if (edited) reason.append(el("div", "note", "check edited: " + edited));
      add(tr, el("td", "", String(turn)), code, el("td", before ? "good" : before === false ? "bad" : "", word(before)),
          el("td", after ? "good" : after === false ? "bad" : "", word(after)), reason);
      t.append(tr);
    }
    const wrap = el("div", "table-wrap"); wrap.append(t); body.append(wrap);
  }

  function requestChanges(c, body) {
    section(body, "Request change");
    for (const [label, kind, ops, files] of c.pr) {
      const box = el("div", "change");
      const lbl = el("div", "lbl", label);
      lbl.append(pill(kind, kind === "removed" ? "st-failed" : kind === "added" ? "st-passed" : "ch-changed"));
      if (files && files.length) lbl.append(el("span", "tag", "from " + files.join(", ")));
      add(box, lbl, diffBox(ops));
      body.append(box);
    }
    if (c.pa.length) {
      const t = el("table", "kv");
      const head = el("tr");
      for (const h of ["param", "base", "head"]) head.append(el("th", "", h));
      t.append(head);
      const show = (v, absent) => (absent ? "(not set)" : JSON.stringify(v));
      for (const [key, before, after, added, removed] of c.pa) {
        const tr = el("tr");
        add(tr, el("td", "mono", key), el("td", "v", show(before, added)), el("td", "v", show(after, removed)));
        t.append(tr);
      }
      const wrap = el("div", "table-wrap"); wrap.append(t); body.append(wrap);
    }
  }

  function replies(c, body) {
    section(body, "Replies");
    for (const [turn, changed, before, after, bf, hf, notRun] of c.re) {
      const box = el("div", "change");
      const lbl = el("div", "lbl", "turn " + turn);
      if (notRun) { /* head never got this reply: base's stays as it was, nothing is deleted */
        lbl.append(pill("not run", "ch-not-run"));
        const text = el("div", "diff not-run");
        add(text, el("span", "side-lbl", "base "), document.createTextNode(before || "(empty)"));
        add(box, lbl, text);
        body.append(box);
        continue;
      }
      const ops = wordDiff(before, after);
      lbl.append(pill(changed ? "changed" : "same", changed ? "ch-changed" : "ch-unchanged"));
      if (bf !== hf) lbl.append(el("span", "tag warn", "finish_reason " + (bf || H.DASH) + " \u2192 " + (hf || H.DASH)));
      else if (hf) lbl.append(el("span", "tag", "finish_reason " + hf));
      add(box, lbl, diffView(ops));
      body.append(box);
    }
  }

  function detail(c, body) {
    const facts = el("div", "facts");
    const fact = (k, v) => { const s = el("span", "", k + " "); s.append(el("b", "", v)); facts.append(s); };
    fact("status", (c.bs || "none") + " \u2192 " + (c.nr ? "not run: " + c.nr : (c.hs || "none")));
    fact("tokens", num(c.tok[0]) + " \u2192 " + num(c.tok[1]) + " (" + delta(c.tok, num) + ")");
    fact("latency", ms(c.lat[0]) + " \u2192 " + ms(c.lat[1]) + " (" + delta(c.lat, ms) + ")");
    if (c.c[0] !== null || c.c[1] !== null) fact("cost", cost(c.c[0]) + " \u2192 " + cost(c.c[1]) + " (" + delta(c.c, cost) + ")");
    body.append(facts);
    if (c.sx) body.append(el("p", "note", c.sx + "; below, repeat " + (c.r + 1) + " in base and in head."));
    if (c.ch === "new") body.append(el("p", "note", "This case is only in head."));
    if (c.ch === "removed") body.append(el("p", "note", "This case is only in base."));
    if (c.ch === "needs re-record") body.append(el("p", "note", "Head could not replay this case: its cassette is stale or missing. Nothing below was removed; the turns head did not reach are marked not run. Re-record with the command at the top of this page."));
    if (c.ch === "not run") body.append(el("p", "note", "Head could not run this case (" + c.nr + "). Nothing below was removed; the turns head did not reach are marked not run."));
    if (c.err[0] && c.err[0] !== c.err[1]) body.append(el("div", "errbox", "base: " + c.err[0]));
    if (c.err[1]) body.append(el("div", "errbox", "head: " + c.err[1]));
    if (c.fl.length) flipsTable(c, body);
    if (c.why.length && c.hs !== "passed" && !c.err[1]) {
      section(body, "Failing in head");
      const ul = el("ul", "checks");
      for (const r of c.why) { const li = el("li", "bad"); add(li, el("span", "ic", "\u2717"), el("span", "reason", r)); ul.append(li); }
      body.append(ul);
    }
    if (c.pr.length || c.pa.length) requestChanges(c, body);
    else if (c.bs && c.hs) body.append(el("p", "note", "The request is unchanged."));
    if (c.re.length) replies(c, body);
  }

  function haystack(c) {
    const parts = [c.s, c.i, c.ch, c.bs || "", c.hs || ""].concat(c.why);
    for (const f of c.fl) parts.push(f[1], f[4] || "", f[5] || "");
    for (const p of c.pr) { parts.push(p[0]); for (const o of p[2]) parts.push(o[1]); for (const f of p[3] || []) parts.push(f); }
    for (const p of c.pa) parts.push(p[0]);
    for (const r of c.re) parts.push(r[2], r[3]);
    return parts.join("\n");
  }

  H.table({ items: cases, columns: 8, matches: (c, f) => c.ch === f, haystack, row, detail });
})();
