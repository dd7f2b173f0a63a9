// The guided importer for one upload: header row, columns, fix, check, send, results.
// Every step is drawn from the upload's state (GET /api/uploads/ID); every change answers with
// what changed, so the counts on the page come from one place and always agree.
import { $, $$, el, api, show, fmt, plural, pager } from "./lib.js";
import { mountRun } from "./run.js";

const app = $("#app");
const base = `/api/uploads/${app.dataset.upload}`;
const canSend = app.dataset.canSend === "1";
const PAGE = 50;
const PREVIEW_COLUMNS = 8;
let state = null;

// ------------------------------------------------------------------------------------ steps
function stepsDone(s) {
  const read = s.columns.length > 0;
  const columns = read && !s.columns_problem;
  const ran = s.run && !s.run.running && s.run.counts;
  return {
    file: s.header.rows.length > 0, header: read, columns,
    fix: columns && s.counts.problems === 0, check: !!s.plan, send: !!ran, results: !!ran,
  };
}

function renderSteps(s) {
  const done = stepsDone(s);
  const locked = { columns: !done.header, fix: !done.columns, check: !done.columns, send: !done.columns };
  let current = null;
  for (const a of $$("#steps a")) {
    const step = a.dataset.step;
    a.classList.toggle("done", done[step]);
    const here = !done[step] && !locked[step] && current === null;
    if (here) current = step;
    a.classList.toggle("current", here);
    a.classList.toggle("locked", !!locked[step]);
  }
  for (const [step, off] of Object.entries(locked)) {
    const section = $(`#step-${step}`);
    section.classList.toggle("locked", off);
    const note = $(".locked-note", section);
    if (note) note.hidden = !off;
  }
}

// ------------------------------------------------------------------------- 1. file, 2. header
function renderFile(s) {
  $("#file-size").textContent = s.size ? `(${fmt(Math.ceil(s.size / 1024))} KB)` : "";
  show($("#file-error"), s.error);
  const notes = $("#notes");
  notes.replaceChildren(...s.notes.map((n) => el("li", {}, n)));
  notes.hidden = !s.notes.length;
}

function renderSheets(s) {
  const tabs = $("#sheets");
  tabs.hidden = s.sheets.length < 2;
  tabs.replaceChildren(...s.sheets.map((name) => el("button", {
    type: "button", role: "tab", "aria-selected": name === s.sheet ? "true" : "false",
    class: name === s.sheet ? "tab on" : "tab",
    onclick: () => change(`${base}/sheet`, { sheet: name }),
  }, name)));
}

function renderHeader(s) {
  renderSheets(s);
  const h = s.header;
  const width = Math.min(h.width, PREVIEW_COLUMNS);
  const more = h.width - width;
  const why = h.chosen ? "your choice" : h.reason ? `found by the importer: ${h.reason}` : "found by the importer";
  $("#header-hint").textContent = h.row
    ? `Row ${h.row} holds the column names (${why}). If another row does, click it.${h.hint ? ` Perhaps: ${h.hint}.` : ""}`
    : "Click the row that holds the column names.";
  const rows = h.rows.map((cells, i) => {
    const n = i + 1;
    const filled = cells.filter((c) => c.trim()).length;
    const blank = !filled;
    // A title line (one cell written) spans the row, as it reads in the spreadsheet.
    const title = filled === 1 && cells[0].trim() && n !== h.row;
    const shown = title
      ? [el("td", { colspan: width + 1, title: cells[0] }, cells[0])]
      : [...Array.from({ length: width }, (_, j) => el("td", { title: cells[j] || null }, cells[j] || "")),
        el("td", { class: "more" }, more > 0 ? `+${more} more` : "")];
    const tr = el("tr", {
      "data-row": n, class: n === h.row ? "header" : n < h.row ? "above" : "",
      tabindex: blank ? null : "0", title: blank ? null : `row ${n}: click if it holds the column names`,
    }, el("th", { class: "rownum" }, n), ...shown);
    if (!blank) {
      tr.addEventListener("click", () => n !== h.row && change(`${base}/header`, { row: n }));
      tr.addEventListener("keydown", (e) => e.key === "Enter" && tr.click());
    }
    return tr;
  });
  $("#preview tbody").replaceChildren(...rows);
}

// -------------------------------------------------------------------------------- 3. columns
function renderColumns(s) {
  const labels = Object.fromEntries(s.targets.map((t) => [t.value, t.label]));
  const body = $("#columns tbody");
  body.replaceChildren(...s.columns.map((c) => {
    const select = el("select", { "data-header": c.header, "aria-label": `import ${c.header} as` },
      el("option", { value: "ignore" }, "— not imported —"),
      ...s.targets.map((t) => el("option", { value: t.value }, t.label)));
    select.value = c.chosen;
    select.addEventListener("change", saveColumns);
    let mark = "";
    if (c.suggested !== "ignore" && c.suggested === c.chosen) {
      mark = el("span", { class: c.sure ? "badge" : "badge guess", title: c.reason || null }, c.sure ? "suggested" : "suggested: check it");
    } else if (c.suggested !== "ignore") {
      mark = el("span", { class: "badge off" }, `suggested: ${labels[c.suggested]}`);
    }
    const why = c.reason ? el("small", { class: "why", title: c.reason }, c.reason) : "";
    return el("tr", { class: c.chosen === "ignore" ? "unused" : "" },
      el("td", { class: "name", title: c.header }, c.header),
      el("td", { class: "samples", title: c.samples.join(" · ") }, c.samples.join(" · ")),
      el("td", {}, select, " ", mark, why));
  }));
  show($("#columns-problem"), s.columns_problem);
}

function saveColumns() {
  const chosen = {};
  $$("#columns select").forEach((s) => { chosen[s.dataset.header] = s.value; });
  return change(`${base}/columns`, { chosen });
}

// ------------------------------------------------------------------------------------ 4. fix
function renderCounts(c) {
  const box = $("#counts");
  if (!c || c.rows === undefined) { box.replaceChildren(); return; }
  const chips = [el("li", {}, el("b", { id: "count-rows" }, fmt(c.rows)), " rows")];
  if (c.problems !== null) {
    chips.push(el("li", { class: "ok" }, el("b", { id: "count-ready" }, fmt(c.ready)), " ready to send"));
    chips.push(el("li", { class: c.problems ? "bad" : "ok" }, el("b", { id: "count-problems" }, fmt(c.problems)), c.problems === 1 ? " with a problem" : " with problems"));
  }
  if (c.ignored) chips.push(el("li", {}, el("b", { id: "count-ignored" }, fmt(c.ignored)), " ignored"));
  if (state && state.edited) chips.push(el("li", {}, el("b", {}, fmt(state.edited)), state.edited === 1 ? " cell changed" : " cells changed"));
  box.replaceChildren(...chips);
  const view = $("#view");
  view.options[0].textContent = `rows with problems (${fmt(c.problems ?? 0)})`;
  view.options[1].textContent = `ignored rows (${fmt(c.ignored)})`;
  view.options[2].textContent = `all rows (${fmt(c.rows)})`;
  if (canSend) renderSendHint(c);
}

function shownColumns() {
  if (!state) return [];
  const all = $("#all-columns").checked;
  return state.columns.filter((c) => all || c.chosen !== "ignore").map((c) => c.header);
}

const grid = { offset: 0, pages: null };

async function loadGrid(fromRow) {
  if (!state || state.columns_problem || !state.columns.length) {
    $("#grid thead").replaceChildren();
    $("#grid tbody").replaceChildren();
    return;
  }
  const view = $("#view").value;
  const from = fromRow ? `&from_row=${fromRow}` : "";
  const data = await api("GET", `${base}/rows?view=${view}&offset=${grid.offset}&limit=${PAGE}${from}`);
  grid.offset = data.offset;
  const columns = shownColumns();
  const index = columns.map((h) => data.headers.indexOf(h));
  const labels = Object.fromEntries(state.targets.map((t) => [t.value, t.label]));
  const chosen = Object.fromEntries(state.columns.map((c) => [c.header, c.chosen]));
  const cols = [el("col", { class: "c-row" }), ...columns.map(() => el("col", {})), el("col", { class: "c-problem" }), el("col", { class: "c-act" })];
  $("#grid colgroup").replaceChildren(...cols);
  $("#grid thead").replaceChildren(el("tr", {}, el("th", { class: "rownum" }, "row"),
    ...columns.map((h) => el("th", { title: h }, h, chosen[h] !== "ignore" ? el("small", {}, labels[chosen[h]]) : "")),
    el("th", { class: "problem" }, "problem"), el("th", {}, "")));
  $("#grid tbody").replaceChildren(...data.rows.map((r) => gridRow(r, columns, index)));
  const empty = { problems: "No rows with problems.", ignored: "No ignored rows.", all: "No rows." }[view];
  grid.pages.update(grid.offset, data.rows.length, data.total, "");
  show($("#grid-empty"), data.total ? "" : empty);
  renderCounts(data.counts);
}

function gridRow(r, columns, index) {
  const tr = el("tr", { "data-row": r.row });
  fillRow(tr, r, columns, index);
  return tr;
}

function fillRow(tr, r, columns, index) {
  tr.className = r.ignored ? "ignored" : r.message ? "has-problem" : "fixed";
  const cells = columns.map((h, i) => {
    const bad = r.bad.includes(h);
    const td = el("td", { contenteditable: r.ignored ? null : "true", spellcheck: "false", "data-column": h, class: bad ? "bad" : "", title: r.cells[index[i]] }, r.cells[index[i]]);
    td.dataset.before = r.cells[index[i]];
    td.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); td.blur(); }
      if (e.key === "Escape") { td.textContent = td.dataset.before; td.blur(); }
    });
    td.addEventListener("blur", () => editCell(tr, td, columns, index));
    return td;
  });
  const text = r.ignored ? "ignored: it will not be sent" : r.message || "✓ ready";
  const toggle = el("button", { type: "button", class: "small", "data-ignore": r.row }, r.ignored ? "Send it after all" : "Ignore row");
  toggle.addEventListener("click", () => ignoreRow(tr, r, columns, index));
  tr.replaceChildren(el("th", { class: "rownum" }, r.row), ...cells, el("td", { class: "problem" }, text), el("td", { class: "act" }, toggle));
}

async function fixed(data) {
  state.edited = data.edited;
  state.plan = null;
  renderCounts(data.counts);
  renderPlan(null);
  renderSteps({ ...state, counts: data.counts });
  state.counts = data.counts;
}

async function editCell(tr, td, columns, index) {
  const value = td.textContent;
  if (value === td.dataset.before) return;
  td.classList.add("saving");
  try {
    const data = await api("POST", `${base}/cells`, { row: Number(tr.dataset.row), column: td.dataset.column, value });
    fillRow(tr, data.done, columns, index);
    await fixed(data);
  } catch (e) {
    $("td.problem", tr).textContent = e.message;
  } finally {
    td.classList.remove("saving");
  }
}

async function ignoreRow(tr, r, columns, index) {
  const data = await api("POST", `${base}/ignore`, { row: r.row, ignored: !r.ignored });
  fillRow(tr, data.done, columns, index);
  await fixed(data);
}

function fillToolColumns() {
  const columns = shownColumns();
  for (const select of [$("#fill-column"), $("#replace-column")]) {
    const before = select.value;
    select.replaceChildren(...columns.map((h) => el("option", { value: h }, h)));
    if (columns.includes(before)) select.value = before;
  }
}

async function tool(url, body, words) {
  const status = $("#fix-status");
  try {
    const data = await api("POST", url, body);
    status.className = "status";
    status.textContent = words(data.done);
    await fixed(data);
    await loadGrid();
  } catch (e) {
    status.className = "status error";
    status.textContent = e.message;
  }
}

// ---------------------------------------------------------------------------------- 5. check
const PLAN = {
  create: ["will be created", "Rows that will be created"],
  exists: ["are already there (nothing to do)", "Rows already there"],
  move: ["will be moved to the place this file gives", "Rows that will be moved"],
  add: ["will get a second membership", "Rows that will get a second membership"],
  elsewhere: ["are placed elsewhere in Kantata today and will not be sent (see the choice below)", "Rows placed elsewhere today"],
  fail: ["cannot be sent:", "Rows that cannot be sent"],
  invalid: ["have problems in the file (step 4) and will not be sent", "Rows with problems in the file"],
};

function renderPlan(plan) {
  const box = $("#plan");
  if (!box) return;
  box.hidden = !plan;
  $("#plan-rows-box").hidden = true;
  if (!plan) return;
  const items = [];
  for (const [group, [words]] of Object.entries(PLAN)) {
    const n = plan.counts[group];
    if (!n && group !== "create") continue;
    const more = el("button", { type: "button", class: "link", "data-group": group }, "show rows");
    more.addEventListener("click", () => { planRows.group = group; loadPlanRows(0); });
    const item = el("li", { class: `plan-${group}` }, el("b", {}, fmt(n)), ` ${n === 1 ? words.replace(/^are /, "is ").replace(/^have /, "has ") : words} `, n ? more : "");
    if (group === "fail") {
      item.append(el("ul", { class: "reasons" }, ...plan.reasons.map((r) => el("li", {}, r.text, el("span", { class: "muted" }, ` (${plural(r.count, "row", "rows")})`))),
        plan.more_reasons ? el("li", { class: "muted" }, `and ${plural(plan.more_reasons, "other reason", "other reasons")}`) : ""));
    }
    items.push(item);
  }
  if (plan.counts.ignored) items.push(el("li", { class: "plan-ignored" }, el("b", {}, fmt(plan.counts.ignored)), " ignored by you"));
  $("#plan-list").replaceChildren(...items);
  const differing = plan.counts.elsewhere + plan.counts.move + plan.counts.add + (plan.differs !== "report" ? plan.counts.fail : 0);
  $("#differs").hidden = !differing;
  $$('input[name="differs"]').forEach((i) => { i.checked = i.value === plan.differs; });
}

const planRows = { group: null, pages: null };

async function loadPlanRows(offset) {
  const data = await api("GET", `${base}/plan/rows?group=${planRows.group}&offset=${offset}&limit=${PAGE}`);
  $("#plan-rows-box").hidden = false;
  $("#plan-title").textContent = PLAN[planRows.group][1];
  $("#plan-rows tbody").replaceChildren(...data.rows.map((r) => el("tr", {},
    el("th", { class: "rownum" }, r.row), el("td", {}, r.who), el("td", {}, r.where), el("td", {}, r.detail))));
  planRows.pages.update(offset, data.rows.length, data.total, "");
}

async function runCheck(differs) {
  const button = $("#check");
  button.disabled = true;
  button.textContent = "Checking …";
  show($("#plan-error"), "");
  try {
    render(await api("POST", `${base}/plan`, differs ? { differs } : {}));
  } catch (e) {
    show($("#plan-error"), e.message);
  } finally {
    button.disabled = false;
    button.textContent = "Check again";
  }
}

// ------------------------------------------------------------------------- 6. send, 7. results
let runView = null;

function renderSendHint(c) {
  const hint = $("#send-hint");
  if (!hint || c.ready === null || c.ready === undefined) return;
  const left = [c.problems ? plural(c.problems, "row with a problem", "rows with problems") : "", c.ignored ? plural(c.ignored, "ignored row", "ignored rows") : ""].filter(Boolean);
  hint.textContent = `${plural(c.ready, "row is", "rows are")} ready to send${left.length ? `; ${left.join(" and ")} will not be sent` : ""}. Rows already there are not sent again.`;
  $("#send").textContent = `Send ${plural(c.ready, "row", "rows")} to Kantata`;
}

function onRun(s) {
  const send = $("#send");
  if (send) send.disabled = s.running;
  $("#results-empty").hidden = !!s.counts;
  $("#results").hidden = !s.counts || s.running;
  if (state) { state.run = s; renderSteps(state); }
}

async function startSend() {
  const box = $("#send-error");
  show(box, "");
  try {
    const data = await api("POST", `${base}/runs`);
    runView.follow(data.id);
  } catch (e) {
    show(box, e.message);
    if (e.run && e.otherUpload) box.append(" ", el("a", { href: `/runs/${e.run}`, id: "other-run" }, "see it"));
    else if (e.run) runView.follow(e.run);
  }
}

// The same file sent before from another upload of it: said, with a link to its results.
function renderSentBefore(s) {
  const box = $("#sent-before");
  if (!box) return;
  const last = (s.sent_before || [])[0];
  box.hidden = !last;
  if (!last) return;
  box.replaceChildren(`This file was also uploaded as “${last.name}” and sent from there (${last.created}, ${last.state}): `,
    el("a", { href: `/runs/${last.id}` }, "its results"),
    ". Sending it again from here sends only the rows that are not in Kantata yet.");
}

// ---------------------------------------------------------------------------------- the page
function render(s) {
  state = s;
  renderFile(s);
  renderHeader(s);
  renderColumns(s);
  renderCounts(s.counts);
  renderPlan(s.plan);
  renderSentBefore(s);
  fillToolColumns();
  renderSteps(s);
}

async function change(url, body) {
  try {
    render(await api("POST", url, body));
    grid.offset = 0;
    await loadGrid();
  } catch (e) {
    show($("#file-error"), e.message);
  }
}

function wire() {
  grid.pages = pager($("#grid-pager"), PAGE, (offset) => { grid.offset = offset; loadGrid(); });
  $("#view").addEventListener("change", () => { grid.offset = 0; loadGrid(); });
  $("#all-columns").addEventListener("change", () => { fillToolColumns(); loadGrid(); });
  $("#goto").addEventListener("change", (e) => e.target.value && loadGrid(Number(e.target.value)));
  $("#fill-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const column = $("#fill-column").value;
    tool(`${base}/fill-down`, { column }, (n) => `Filled ${plural(n, "empty cell", "empty cells")} of “${column}” from the cell above.`);
  });
  $("#replace-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const column = $("#replace-column").value;
    const body = { column, find: $("#find").value, replace: $("#replace-by").value, whole: $("#whole").checked };
    tool(`${base}/replace`, body, (n) => `Replaced ${plural(n, "cell", "cells")} of “${column}”.`);
  });
  if (canSend) {
    $("#check").addEventListener("click", () => runCheck());
    $$('input[name="differs"]').forEach((i) => i.addEventListener("change", () => runCheck(i.value)));
    planRows.pages = pager($("#plan-pager"), PAGE, loadPlanRows);
    runView = mountRun($("#progress"), $("#results"), { onChange: onRun });
    $("#send").addEventListener("click", startSend);
  }
}

wire();
api("GET", base).then((s) => {
  render(s);
  loadGrid();
  if (s.run && runView) runView.follow(s.run.id);
});
