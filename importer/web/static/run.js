// A run of an upload: its progress while it goes on, then every row's outcome, the downloads and
// undo. Used by step 6 and 7 of the upload page and by the page of one run.
import { $, el, api, show, fmt, pager } from "./lib.js";

const PAGE = 50;
const PHASES = {
  validate: "Checking the rows", send: "Sending", report: "Writing the results",
  users: "Looking up people", workspaces: "Looking up projects",
  "users (pages)": "Reading the people of the account", undo: "Undoing",
};
const STATES = {
  sending: "sending", undoing: "undoing", finished: "finished", undone: "undone",
  interrupted: "stopped before the end", refused: "stopped: Kantata refused it", error: "failed",
};

function progressText(s) {
  if (!s.running) return "";
  if (s.elsewhere) return "Going on in another tab or window …";
  const total = s.total ? ` of ${fmt(s.total)}` : "";
  const unit = ["validate", "send", "report"].includes(s.phase) ? " rows" : "";
  let text = `${PHASES[s.phase] || "Starting"}: ${fmt(s.done)}${total}${unit}`;
  if (s.phase === "send") text += ` · ${fmt(s.pace)} rows a second`;
  if (s.requests) text += ` · ${fmt(s.requests)} requests`;
  if (s.transient) text += `, ${fmt(s.transient)} answered busy or failed (tried again)`;
  return text;
}

export function mountRun(progressRoot, resultsRoot, { onChange } = {}) {
  const bar = el("div");
  const state = el("span", { class: "state", id: "run-state" });
  const status = el("p", { class: "status", id: "run-progress", role: "status" });
  const message = el("p", { class: "error", id: "run-message", hidden: true });
  const cancel = el("button", { type: "button", id: "cancel", hidden: true }, "Stop");
  const resume = el("button", { type: "button", id: "resume", class: "primary", hidden: true }, "Go on from where it stopped");
  progressRoot.replaceChildren(
    el("div", { class: "run-head" }, el("div", { class: "bar" }, bar), state),
    status, message, el("div", { class: "actions" }, cancel, resume));

  const counts = el("ul", { class: "chips", id: "result-counts" });
  const downloads = el("p", { class: "downloads", id: "downloads" });
  const undo = el("button", { type: "button", id: "undo", class: "danger", hidden: true }, "Undo this send");
  const undoNote = el("p", { class: "hint", id: "undo-note" });
  const body = el("tbody");
  const table = el("table", { class: "results", id: "outcomes" },
    el("colgroup", {}, ...["c-row", "c-who", "c-where", "c-outcome", "c-id", "c-note"].map((c) => el("col", { class: c }))),
    el("thead", {}, el("tr", {}, ...["Row", "Who", "Where", "Outcome", "Membership", "Note"].map((h) => el("th", {}, h)))),
    body);
  const pages = el("div", { class: "pager" });
  resultsRoot.replaceChildren(counts, downloads, el("div", { class: "actions" }, undo), undoNote, table, pages);
  resultsRoot.hidden = true;

  let rid = null;
  let timer = null;
  let shown = null;
  const paging = pager(pages, PAGE, (offset) => loadRows(offset));

  async function loadRows(offset) {
    const data = await api("GET", `/api/runs/${rid}/rows?offset=${offset}&limit=${PAGE}`);
    counts.replaceChildren(...data.counts.map((c) => el("li", { class: c.tone }, el("b", {}, fmt(c.rows)), " ", c.outcome)));
    body.replaceChildren(...data.rows.map((r) => el("tr", { "data-row": r.row, class: r.undone ? "undone" : "" },
      el("th", { class: "rownum" }, r.row), el("td", {}, r.who), el("td", {}, r.where),
      el("td", { class: "outcome" }, r.outcome), el("td", {}, r.membership), el("td", { class: "note" }, r.message))));
    paging.update(offset, data.rows.length, data.total, "");
  }

  function render(s) {
    const pct = !s.running ? 100 : s.total ? Math.min(100, (100 * s.done) / s.total) : 5;
    bar.style.width = `${pct}%`;
    state.textContent = STATES[s.state] || s.state;
    state.className = `state ${s.state}`;
    let text = progressText(s);
    if (!s.running && s.requests !== null && s.requests !== undefined) {
      text = `${fmt(s.requests)} requests to Kantata${s.retries ? `, ${fmt(s.retries)} tried again` : ""}`;
    }
    status.textContent = text;
    show(message, s.message);
    cancel.hidden = !s.running || s.elsewhere;
    resume.hidden = !s.resumable;
    undo.hidden = s.running || !["finished", "interrupted"].includes(s.state) || !s.counts;
    undoNote.textContent = undo.hidden ? "" : "Undo deletes the memberships this send created and moves back the ones it moved; rows that were already there are not touched.";
    const ended = !s.running && s.counts;
    resultsRoot.hidden = !ended;
    if (ended) {
      downloads.replaceChildren("Download: ", ...s.files.flatMap((f) => [el("a", { href: `/runs/${rid}/files/${f}`, download: "", "data-file": f }, f), " "]));
      const key = `${s.state}/${s.undo ? "u" : ""}`;
      if (shown !== key) { shown = key; loadRows(0); }
    }
  }

  async function poll() {
    clearTimeout(timer);
    const s = await api("GET", `/api/runs/${rid}`);
    render(s);
    if (onChange) onChange(s);
    if (s.running) timer = setTimeout(poll, 400);
  }

  async function act(action) {
    try {
      render(await api("POST", `/api/runs/${rid}/${action}`));
    } catch (e) {
      show(message, e.message);
      if (!e.run) return;
    }
    setTimeout(poll, 150);
  }
  cancel.addEventListener("click", () => act("cancel"));
  resume.addEventListener("click", () => act("resume"));
  undo.addEventListener("click", () => {
    if (confirm("Undo this send? The memberships it created are deleted, the ones it moved are moved back.")) act("undo");
  });

  return {
    follow(id) {
      rid = id;
      shown = null;
      progressRoot.hidden = false;
      return poll();
    },
    say(text) { show(message, text); },
  };
}
