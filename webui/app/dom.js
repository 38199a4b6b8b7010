// DOM helpers. Every text goes in through textContent or attributes, never as
// HTML: what the API returns cannot become markup or script.

// h("button", {class: "danger", onclick: fn}, "Revoke") builds an element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A state badge: ok (green), warn (amber), down (red), with its words for
// screen readers and for anyone who does not see colour.
export function badge(state, text) {
  return h("span", { class: `badge ${state}` }, text);
}

export function table(caption, headers, rows) {
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none"))));
}

// Name and value pairs as a definition list; a falsy pair is left out.
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function time(value) {
  if (value === undefined || value === null || value === "") return "";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().replace(".000Z", "Z");
}

// An API error as the API said it: its code and its message.
export function errorBox(err) {
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, err.code || "ERROR"), " ", err.message || String(err));
}

// Runs an admin action and says how it went in `notice`: `okText` when `fn`
// resolved, else the API's code and message.
export async function runAction(notice, okText, fn) {
  clear(notice);
  try {
    await fn();
    notice.append(h("p", { class: "ok-text" }, okText));
  } catch (err) {
    notice.append(errorBox(err));
  }
}

// `path` with the reason an admin gave, which the server records in the audit event.
export function withReason(path, reason) {
  return `${path}${path.includes("?") ? "&" : "?"}reason=${encodeURIComponent(reason)}`;
}

// Asks for confirmation and a reason before a destructive action. Resolves with
// the reason, or null when cancelled. `typed`, when given, must be typed back.
export function confirmAction({ title, detail, action, typed }) {
  return new Promise((resolve) => {
    const reason = h("textarea", { id: "confirm-reason", "aria-required": "true", rows: 3, maxlength: 500 });
    const typedInput = typed ? h("input", { id: "confirm-typed", autocomplete: "off" }) : null;
    const ok = h("button", { type: "submit", class: "danger" }, action);
    const cancel = h("button", { type: "button" }, "Cancel");
    const problem = h("p", { class: "error-text", role: "alert" });
    const form = h("form", { method: "dialog" },
      h("h2", {}, title),
      h("p", {}, detail),
      h("label", { for: "confirm-reason" }, "Reason (recorded in the audit log)"), reason,
      typed ? [h("label", { for: "confirm-typed" }, `Type ${typed} to confirm`), typedInput] : null,
      problem,
      h("div", { class: "actions" }, cancel, ok));
    const dialog = h("dialog", { "aria-label": title }, form);
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    cancel.addEventListener("click", () => done(null));
    for (const input of [reason, typedInput].filter(Boolean)) input.addEventListener("input", () => { problem.textContent = ""; });
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(null); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { problem.textContent = "A reason is required."; reason.focus(); return; }
      if (typed && typedInput.value !== typed) { problem.textContent = `Type ${typed} exactly.`; typedInput.focus(); return; }
      done(reason.value.trim());
    });
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}
