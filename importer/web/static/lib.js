// importer serve: helpers shared by the pages (plain ES modules, no build step, no libraries).

const CSRF = document.querySelector('meta[name="csrf"]').content;

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// A JSON API call. Errors throw an Error whose message is the server's words; a 409 (the file is
// being sent already) carries the run going on as error.run, and error.otherUpload when that run
// belongs to another upload of the same file.
export async function api(method, url, body, raw) {
  const init = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.status = response.status;
    error.run = data.run || null;
    error.otherUpload = !!data.other_upload;
    throw error;
  }
  return data;
}

export function show(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

export const fmt = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en"));

export function plural(n, one, many) {
  return `${fmt(n)} ${n === 1 ? one : many}`;
}

// A "previous / next" pager; calls load(offset) and is told the total after each load.
export function pager(root, size, load) {
  const prev = el("button", { type: "button", class: "small" }, "‹ previous");
  const info = el("span", { class: "pager-info" });
  const next = el("button", { type: "button", class: "small" }, "next ›");
  root.replaceChildren(prev, info, next);
  const state = { offset: 0 };
  prev.addEventListener("click", () => load(Math.max(0, state.offset - size)));
  next.addEventListener("click", () => load(state.offset + size));
  return {
    update(offset, shown, total, empty) {
      state.offset = offset;
      info.textContent = total ? `${fmt(offset + 1)}–${fmt(offset + shown)} of ${fmt(total)}` : empty;
      prev.disabled = offset === 0;
      next.disabled = offset + shown >= total;
      root.hidden = total <= size && offset === 0 && !empty;
    },
    get offset() { return state.offset; },
  };
}
