/* report.html: one row per case; the transcript is built when a row is opened. */
(() => {
  const { el, add, num, cost, ms, pill, caseCell } = H;
  const cases = H.data().cases;
  const split = H.data().split;  /* set when the transcripts are in report-data/ (loaded when a case opens) */
  if (split) {
    cases.forEach((c, i) => { c._n = i; });
    document.getElementById("search").placeholder = "Search cases, statuses and reasons\u2026";
  }
  const SKIPPED = new Set(["skipped", "interrupted"]);
  const ROLE = { system: "System", user: "User", assistant: "Assistant", tool: "Tool", developer: "Developer" };

  function row(c) {
    const tr = el("tr");
    const st = el("td", "c-status");
    st.append(pill(c.st, "st-" + c.st));
    const checks = el("td", "c-num");
    checks.append(el("span", c.np < c.nc ? "bad-n" : "ok-n", c.np + "/" + c.nc));
    const why = el("td", "c-why", c.why || "");
    why.title = c.why || "";
    const cell = caseCell(c);
    if (c.ag) {  /* the case over its repeats: [passed, repeats, status, flaky, note] */
      const [passed, n, status, flaky, note] = c.ag;
      if (n > 1 && !c.r) cell.append(el("span", "rep", "repeat 1"));
      if (n > 1) cell.append(el("span", "rep" + (flaky ? " flaky" : ""), passed + "/" + n + " passed" + (flaky ? " \u00b7 flaky" : "")));
      if (note) cell.title += " \u2014 " + note;
    }
    add(tr, st, cell, checks, el("td", "c-num hide-sm", num(c.tok)), el("td", "c-num hide-sm", cost(c.c)),
        el("td", "c-num hide-sm", ms(c.lat)), why);
    return tr;
  }

  function bubble(entry) {
    const [turn, kind, role, text, name] = entry;
    const box = el("div", "msg role-" + H.slug(role) + " kind-" + kind);
    let who = ROLE[role] || role;
    if (kind === "history") who = "History \u00b7 " + who.toLowerCase();
    else if (kind !== "system") who += " \u00b7 turn " + turn;
    if (name) who += " \u00b7 " + name;
    box.append(el("div", "who", who));
    box.append(text ? el("div", "text", text) : el("div", "text empty", kind === "reply" ? "(empty reply)" : "(empty)"));
    return box;
  }

  function turnMeta(t) {
    const meta = el("div", "turnmeta");
    if (t.fin !== undefined) {
      const bad = t.fin === "length" || t.fin === "content_filter";
      meta.append(el("span", "tag" + (bad ? " warn" : ""), "finish_reason: " + (t.fin || H.DASH)));
    }
    if (t.u) meta.append(el("span", "tag", "tokens " + num(t.u[0]) + " in \u00b7 " + num(t.u[1]) + " out" +
                            (t.rt ? " (" + num(t.rt) + " reasoning)" : "") + " \u00b7 " + num(t.u[2]) + " total"));
    if (t.lat !== undefined) meta.append(el("span", "tag", "latency " + ms(t.lat)));
    if (t.ttft !== undefined) meta.append(el("span", "tag", "first token " + ms(t.ttft)));
    if (t.c !== undefined) meta.append(el("span", "tag", "cost " + cost(t.c)));
    return meta;
  }

  function checkList(t) {
    const ul = el("ul", "checks");
    for (const [name, passed, reason, implicit, fromDefaults] of t.ck) {
      const li = el("li", passed ? "ok" : "bad");
      const origin = implicit ? " (implicit)" : fromDefaults ? " (suite default)" : "";
      add(li, el("span", "ic", passed ? "\u2713" : "\u2717"), el("code", "", name + origin),
          el("span", "reason", reason));
      li.setAttribute("aria-label", (passed ? "passed: " : "failed: ") + name);
      ul.append(li);
    }
    return ul;
  }

  function detail(c, body) {
    if (!c.t) {  /* a split report: load this case's chunk, then draw */
      const wait = el("p", "note", "Loading this case\u2026");
      body.append(wait);
      H.loadDetail(c._n).then(() => { body.replaceChildren(); detail(c, body); },
                              (e) => wait.replaceWith(el("div", "errbox", String(e.message || e))));
      return;
    }
    const facts = el("div", "facts");
    const fact = (k, v) => { const s = el("span", "", k + " "); s.append(el("b", "", v)); facts.append(s); };
    if (c.f) fact("file", c.f);
    if (c.m) fact("model", c.m);
    fact("duration", ms(c.d));
    fact("tokens", num(c.tok));
    if (c.c !== null) fact("cost", cost(c.c));
    if (c.r) fact("repeat", String(c.r + 1));
    if (c.rr) fact("re-run", "yes (--rerun)");
    for (const [slot, files] of Object.entries(c.pf || {})) fact(slot + " from", files.join(", "));
    if (c.ag && c.ag[1] > 1) fact("case", c.ag[0] + "/" + c.ag[1] + " repeats passed, " + c.ag[2] + (c.ag[3] ? ", flaky" : ""));
    body.append(facts);
    if (c.ag && c.ag[4]) body.append(el("p", "note", "Not counted against the run: " + c.ag[4] + "."));
    if (c.e) body.append(el("div", "errbox", c.e));
    const byTurn = new Map();
    for (const e of c.tx) {
      if (!byTurn.has(e[0])) byTurn.set(e[0], []);
      byTurn.get(e[0]).push(e);
    }
    const chat = el("div", "chat");
    for (const t of c.t) {
      for (const e of byTurn.get(t.n) || []) chat.append(bubble(e));
      const failed = t.ck.some((k) => !k[1]) || t.err;
      const block = el("div", "turnblock" + (failed ? " bad" : ""));
      if (t.fin !== undefined || t.u) block.append(turnMeta(t));
      if (t.ck.length) block.append(checkList(t));
      if (t.err) block.append(el("div", "errbox", "turn " + t.n + ": " + t.err));
      for (const n of t.notes || []) block.append(el("p", "note", n));
      if (block.childNodes.length) chat.append(block);
    }
    if (!c.t.length && !c.e) chat.append(el("p", "note", "No turn was run."));
    body.append(chat);
  }

  function haystack(c) {
    const parts = [c.s, c.i, c.st, c.f, c.m, c.e || ""];
    if (split) parts.push(c.why || "");  /* the transcripts are not loaded: search what the table shows */
    else {
      for (const e of c.tx) parts.push(e[3]);
      for (const t of c.t) for (const k of t.ck) parts.push(k[0], k[2]);
    }
    return parts.join("\n");
  }

  H.table({
    items: cases,
    columns: 7,
    matches: (c, f) => (f === "skipped" ? SKIPPED.has(c.st) : c.st === f),
    haystack,
    row,
    detail,
  });
})();
