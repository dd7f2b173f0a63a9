// importer serve: the little JavaScript the pages need (no build step, no libraries).
"use strict";

const CSRF = document.querySelector('meta[name="csrf"]').content;
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

async function api(method, url, body, raw) {
  const init = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function show(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

const fmt = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en"));

// ---------------------------------------------------------------------------------- index
function indexPage() {
  const drop = $("#drop");
  const input = $("#file");
  const status = $("#upload-status");
  async function send(file) {
    status.textContent = `uploading ${file.name} …`;
    try {
      const data = await api("PUT", `/api/uploads?name=${encodeURIComponent(file.name)}`, undefined, file);
      location.href = data.url;
    } catch (e) {
      status.textContent = e.message;
      status.className = "status error";
    }
  }
  input.addEventListener("change", () => input.files.length && send(input.files[0]));
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => e.dataTransfer.files.length && send(e.dataTransfer.files[0]));
  document.querySelectorAll("[data-delete]").forEach((b) =>
    b.addEventListener("click", async () => {
      await api("DELETE", `/api/uploads/${b.dataset.delete}`);
      b.closest("tr").remove();
    }));
}

// ---------------------------------------------------------------------------------- upload
function uploadPage() {
  const app = $("#app");
  const id = app.dataset.upload;
  const base = `/api/uploads/${id}`;
  const PAGE = 50;
  let state = null;
  let offset = 0;
  let planClass = null;
  let planOffset = 0;

  function renderCounts(c) {
    const box = $("#counts");
    box.replaceChildren();
    if (!c || c.rows === undefined) return;
    box.append(
      el("span", { class: "count" }, el("b", {}, fmt(c.rows)), " rows"),
      el("span", { class: "count ok" }, el("b", {}, fmt(c.valid)), " valid"),
      el("span", { class: "count " + (c.errors ? "bad" : "ok"), id: "error-count" }, el("b", {}, fmt(c.errors)), " with errors"),
    );
    if (state && state.edited) box.append(el("span", { class: "count" }, el("b", {}, fmt(state.edited)), " cells changed"));
  }

  function renderState(s) {
    state = s;
    show($("#file-error"), s.error);
    const notes = $("#notes");
    notes.replaceChildren(...(s.notes || []).map((n) => el("li", {}, n)));
    notes.hidden = !(s.notes || []).length;
    const sheetBox = $("#sheet-box");
    sheetBox.hidden = s.sheets.length < 2;
    const sheet = $("#sheet");
    sheet.replaceChildren(...s.sheets.map((n) => el("option", { value: n, selected: n === s.sheet ? "" : null }, n)));
    const body = $("#mapping tbody");
    body.replaceChildren();
    for (const h of s.headers) {
      const chosen = s.chosen[h] ?? s.suggested[h] ?? "";
      const select = el("select", { "data-header": h, "aria-label": `column ${h}` },
        el("option", { value: "" }, "— keep as an extra column —"),
        el("option", { value: "ignore" }, "ignore"),
        ...s.choices.map((c) => el("option", { value: c }, c)));
      select.value = chosen;
      select.addEventListener("change", saveMapping);
      const hint = s.suggested[h] ? el("small", {}, `matched: ${s.suggested[h]}`) : "";
      body.append(el("tr", {}, el("td", {}, el("code", {}, h)), el("td", {}, select, " ", hint)));
    }
    show($("#mapping-error"), s.mapping_error);
    renderCounts(s.counts);
    if (s.plan) renderPlan(s.plan);
  }

  async function saveMapping() {
    const chosen = {};
    document.querySelectorAll("#mapping select").forEach((s) => { chosen[s.dataset.header] = s.value; });
    renderState(await api("POST", `${base}/setup`, { chosen }));
    offset = 0;
    await loadRows();
  }

  async function loadRows(fromRow) {
    const errorsOnly = $("#errors-only").checked ? 1 : 0;
    const from = fromRow ? `&from_row=${fromRow}` : "";
    const data = await api("GET", `${base}/rows?errors=${errorsOnly}&offset=${offset}&limit=${PAGE}${from}`);
    offset = data.offset;
    const head = $("#grid thead");
    head.replaceChildren(el("tr", {}, el("th", { class: "rownum" }, "row"),
      ...data.headers.map((h) => el("th", {}, h)), el("th", { class: "problem" }, "problem")));
    const body = $("#grid tbody");
    body.replaceChildren();
    for (const r of data.rows) body.append(gridRow(r, data.headers));
    const last = Math.min(offset + PAGE, data.total);
    $("#page-info").textContent = data.total ? `rows ${fmt(offset + 1)}–${fmt(last)} of ${fmt(data.total)}` : (errorsOnly ? "no rows with errors" : "no rows");
    $("#prev").disabled = offset === 0;
    $("#next").disabled = last >= data.total;
    renderCounts(data.counts);
  }

  function gridRow(r, headers) {
    const tr = el("tr", { "data-row": r.row, class: r.message ? "has-error" : "" }, el("th", { class: "rownum" }, r.row));
    headers.forEach((h, i) => {
      const td = el("td", { contenteditable: "true", spellcheck: "false", "data-column": h, class: r.bad.includes(h) ? "bad" : "", title: r.bad.includes(h) ? r.message : null }, r.cells[i]);
      td.dataset.before = r.cells[i];
      td.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); td.blur(); } if (e.key === "Escape") { td.textContent = td.dataset.before; td.blur(); } });
      td.addEventListener("blur", () => editCell(tr, td));
      tr.append(td);
    });
    tr.append(el("td", { class: "problem" }, r.message));
    return tr;
  }

  async function editCell(tr, td) {
    const value = td.textContent;
    if (value === td.dataset.before) return;
    td.classList.add("saving");
    try {
      const data = await api("POST", `${base}/cells`, { row: Number(tr.dataset.row), column: td.dataset.column, value });
      td.dataset.before = value;
      tr.querySelectorAll("td[data-column]").forEach((c) => {
        const bad = data.bad.includes(c.dataset.column);
        c.classList.toggle("bad", bad);
        c.title = bad ? data.message : "";
      });
      tr.classList.toggle("has-error", !!data.message);
      tr.classList.toggle("fixed", !data.message);
      tr.querySelector("td.problem").textContent = data.message || "✓ fixed";
      state.edited = (state.edited || 0) + 1;
      renderCounts(data.counts);
      $("#plan") && ($("#plan").hidden = true);
    } catch (e) {
      tr.querySelector("td.problem").textContent = e.message;
    } finally {
      td.classList.remove("saving");
    }
  }

  const WORDS = { "new": "new: would be created", "exists": "exists: already there, identical", "differs": "differs: the member has another membership", "missing reference": "missing reference: unknown geography or department", "invalid": "invalid: fails the checks above" };

  function renderPlan(counts) {
    $("#plan").hidden = false;
    const body = $("#plan-counts");
    body.replaceChildren();
    for (const [cls, label] of Object.entries(WORDS)) {
      const n = counts[cls] || 0;
      const button = el("button", { class: "link", "data-class": cls, disabled: n ? null : "" }, "show rows");
      button.addEventListener("click", () => { planClass = cls; planOffset = 0; loadPlanRows(); });
      body.append(el("tr", { class: "plan-" + cls.replace(" ", "-") }, el("td", { class: "num" }, el("b", {}, fmt(n))), el("td", {}, label), el("td", {}, button)));
    }
  }

  async function loadPlanRows() {
    const data = await api("GET", `${base}/plan/rows?class=${encodeURIComponent(planClass)}&offset=${planOffset}&limit=${PAGE}`);
    $("#plan-rows-box").hidden = false;
    $("#plan-title").textContent = `Rows: ${planClass}`;
    const cols = data.rows.length ? Object.keys(data.rows[0]).filter((c) => c !== "sheet") : [];
    $("#plan-rows thead").replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {}, c === "source_row" ? "row" : c))));
    $("#plan-rows tbody").replaceChildren(...data.rows.map((r) => el("tr", {}, ...cols.map((c) => el("td", {}, r[c])))));
    const last = Math.min(planOffset + PAGE, data.total);
    $("#plan-info").textContent = `${fmt(planOffset + 1)}–${fmt(last)} of ${fmt(data.total)}`;
    $("#plan-prev").disabled = planOffset === 0;
    $("#plan-next").disabled = last >= data.total;
  }

  $("#errors-only").addEventListener("change", () => { offset = 0; loadRows(); });
  $("#goto").addEventListener("change", (e) => e.target.value && loadRows(Number(e.target.value)));
  $("#prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadRows(); });
  $("#next").addEventListener("click", () => { offset += PAGE; loadRows(); });
  $("#sheet").addEventListener("change", async (e) => {
    renderState(await api("POST", `${base}/setup`, { sheet: e.target.value }));
    offset = 0;
    loadRows();
  });
  if ($("#check")) {
    $("#check").addEventListener("click", async () => {
      const button = $("#check");
      button.disabled = true;
      button.textContent = "Checking …";
      show($("#plan-error"), "");
      try {
        const data = await api("POST", `${base}/plan`);
        renderPlan(data.plan);
      } catch (e) {
        show($("#plan-error"), e.message);
      } finally {
        button.disabled = false;
        button.textContent = "Check again";
      }
    });
    $("#plan-prev").addEventListener("click", () => { planOffset = Math.max(0, planOffset - PAGE); loadPlanRows(); });
    $("#plan-next").addEventListener("click", () => { planOffset += PAGE; loadPlanRows(); });
  }
  if ($("#send")) {
    $("#send").addEventListener("click", async () => {
      const differs = document.querySelector('input[name="differs"]:checked').value;
      try {
        const data = await api("POST", `${base}/runs`, { differs });
        location.href = data.url;
      } catch (e) {
        show($("#send-error"), e.message);
      }
    });
  }
  api("GET", base).then(renderState).then(loadRows);
}

// ---------------------------------------------------------------------------------- run
function runPage() {
  const app = $("#app");
  const id = app.dataset.run;
  const base = `/api/runs/${id}`;
  const PAGE = 50;
  let offset = 0;
  let shownResults = false;
  const LABELS = { rows: "rows", valid: "valid", created: "created", already_existed: "already existed", failed_validation: "failed validation", failed_remote: "refused by the server", not_processed: "not sent" };

  function render(s) {
    const state = $("#state");
    state.textContent = s.state;
    state.className = "state " + s.state;
    const total = s.total || 0;
    const pct = !s.running ? 100 : total ? Math.min(100, (100 * s.done) / total) : 5;
    $("#bar").style.width = pct + "%";
    let text = s.running ? `${s.phase || "starting"}: ${fmt(s.done)}${total ? " of " + fmt(total) : ""} rows` : "";
    if (s.running && s.phase === "send") text += ` · ${fmt(s.pace)} rows/s`;
    if (s.running && s.requests) text += ` · ${fmt(s.requests)} requests, ${fmt(s.transient)} answered busy or failed (retried)`;
    if (!s.running && s.retries !== null && s.retries !== undefined) text += `${text ? " · " : ""}${fmt(s.requests)} requests, ${fmt(s.retries)} retries`;
    $("#progress").textContent = text;
    show($("#message"), s.message);
    const undone = s.undo && s.undo.counts;
    show($("#undo-result"), undone ? "Undo: " + Object.entries(undone).map(([k, v]) => `${fmt(v)} ${k.replaceAll("_", " ")}`).join(", ") : "");
    $("#cancel").hidden = !s.running;
    $("#resume").hidden = s.running || !["interrupted", "refused"].includes(s.state);
    $("#undo").hidden = s.running || app.dataset.undo !== "1" || !["finished", "interrupted"].includes(s.state);
    if (!s.running && s.counts) {
      $("#results").hidden = false;
      const body = $("#result-counts");
      body.replaceChildren(...Object.entries(s.counts).map(([k, v]) => el("tr", {}, el("td", {}, LABELS[k] || k.replaceAll("_", " ")), el("td", { class: "num" }, fmt(v)))));
      $("#downloads").replaceChildren("Download: ", ...s.files.flatMap((f) => [el("a", { href: `/runs/${id}/files/${f}`, download: "", "data-file": f }, f), " "]));
      if (!shownResults) { shownResults = true; loadRows(); }
    }
    return s;
  }

  async function loadRows() {
    const data = await api("GET", `${base}/rows?offset=${offset}&limit=${PAGE}`);
    $("#outcomes tbody").replaceChildren(...data.rows.map((r) => el("tr", { class: r.outcome.startsWith("failed") ? "has-error" : "" }, el("th", { class: "rownum" }, r.row), el("td", {}, r.outcome), el("td", {}, r.membership), el("td", {}, r.message))));
    const last = Math.min(offset + PAGE, data.total);
    $("#out-info").textContent = data.total ? `${fmt(offset + 1)}–${fmt(last)} of ${fmt(data.total)}` : "";
    $("#out-prev").disabled = offset === 0;
    $("#out-next").disabled = last >= data.total;
  }

  async function poll() {
    const s = render(await api("GET", base));
    if (s.running) setTimeout(poll, 500);
  }

  async function act(action) {
    try {
      render(await api("POST", `${base}/${action}`));
      shownResults = false;
      setTimeout(poll, 200);
    } catch (e) {
      show($("#message"), e.message);
    }
  }
  $("#cancel").addEventListener("click", () => act("cancel"));
  $("#resume").addEventListener("click", () => act("resume"));
  $("#undo").addEventListener("click", () => { if (confirm("Remove the memberships this run created?")) act("undo"); });
  $("#out-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadRows(); });
  $("#out-next").addEventListener("click", () => { offset += PAGE; loadRows(); });
  poll();
}

const PAGES = { index: indexPage, upload: uploadPage, run: runPage };
(PAGES[document.body.dataset.page] || (() => {}))();
