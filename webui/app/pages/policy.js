// Policy: the embedded policy (docs/POLICY.md) with syntax highlighting; for
// admins an editor the server validates as it is typed (errors point at their
// line) and a save with a required reason (audited); for everyone a dry run
// (subject, URI, action, context → decision) and the version history with a
// line diff between any version and the one before it.
import { api } from "../api.js";
import { h, clear, badge, table, time, errorBox, confirmAction, withReason } from "../dom.js";
import { jsonCode, lineDiff } from "../code.js";

const HISTORY_PAGE = 10;

function pretty(doc) {
  return JSON.stringify(doc, null, 2);
}

// The changes with three lines of context around each; longer unchanged runs
// fold into one "N unchanged lines" line.
const CONTEXT = 3;

function diffBlock(before, after, label) {
  const ops = lineDiff(before ? before.split("\n") : [], after.split("\n"));
  const near = ops.map(() => false);
  ops.forEach(([op], i) => {
    if (op === "=") return;
    for (let k = Math.max(0, i - CONTEXT); k <= Math.min(ops.length - 1, i + CONTEXT); k++) near[k] = true;
  });
  const out = [];
  for (let i = 0; i < ops.length;) {
    if (near[i]) {
      const [op, line] = ops[i++];
      out.push(h("span", { class: op === "+" ? "add" : op === "-" ? "del" : "same" }, `${op === "=" ? " " : op} ${line}\n`));
      continue;
    }
    let j = i;
    while (j < ops.length && !near[j]) j++;
    out.push(h("span", { class: "fold" }, `⋯ ${j - i} unchanged line${j - i === 1 ? "" : "s"}\n`));
    i = j;
  }
  return h("pre", { class: "code diff", tabindex: 0, "aria-label": label }, out);
}

function editor(el, current, notice, reload) {
  const text = h("textarea", { id: "policy-text", class: "code-edit", rows: 24, spellcheck: "false",
    autocomplete: "off", "aria-describedby": "policy-check" });
  text.value = current;
  const status = h("div", { id: "policy-check", "aria-live": "polite" });
  const save = h("button", { type: "button", class: "danger", disabled: true }, "Save…");
  let timer = null;
  let checked = null; // the text the last validation answered for, when valid

  const goTo = (line, column) => {
    const lines = text.value.split("\n");
    let at = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(at + Math.max(0, column - 1), at + (lines[line - 1] || "").length);
  };

  const validate = async () => {
    const sent = text.value;
    try {
      const answer = await api("POST", "/admin/v1/policy/validate", { text: sent });
      if (sent !== text.value) return; // typed on since: a newer validation follows
      clear(status);
      if (answer.valid) {
        checked = sent;
        status.append(h("p", { class: "ok-text" }, `Valid: ${answer.rules} rules, sha256 ${answer.sha256.slice(0, 16)}…`));
      } else {
        checked = null;
        const lines = sent.split("\n");
        status.append(h("div", { class: "error", role: "alert" },
          h("strong", {}, "Not valid"),
          h("ul", {}, answer.errors.map((e) => h("li", { "data-line": e.line },
            h("button", { type: "button", class: "link", onclick: () => goTo(e.line, e.column) },
              `Line ${e.line}, column ${e.column}`), `: ${e.code} ${e.message}`,
            lines[e.line - 1] !== undefined ? h("pre", { class: "code" }, h("span", { class: "line err" },
              lines[e.line - 1])) : null)))));
      }
    } catch (err) {
      checked = null;
      clear(status).append(errorBox(err));
    }
    save.disabled = checked === null || checked === current;
  };
  text.addEventListener("input", () => {
    save.disabled = true;
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  });

  save.addEventListener("click", async () => {
    const body = checked;
    if (body === null) return;
    const reason = await confirmAction({ title: "Save the policy", action: "Save",
      detail: "The new policy is recorded as the next version and takes effect at once for every new decision." });
    if (reason === null) return;
    try {
      // The text exactly as validated: the server parses it as the PUT body.
      const saved = await api("PUT", withReason("/admin/v1/policy", reason), body);
      await reload(`Policy saved as version ${saved.version}.`);
    } catch (err) {
      clear(notice).append(errorBox(err));
    }
  });

  el.append(h("section", { class: "card wide", "aria-labelledby": "edit-h" },
    h("h2", { id: "edit-h" }, "Edit"),
    h("label", { for: "policy-text" }, "Policy (JSON; checked by the appliance as you type)"),
    text, status, h("div", { class: "actions" }, save)));
  validate();
}

function dryRun(el) {
  const field = (id, label, attrs = {}, tag = "input") =>
    h("div", { class: "field" }, h("label", { for: id }, label), h(tag, { id, autocomplete: "off", ...attrs }));
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", {},
    field("dry-subject", "Subject (SPIFFE ID)", { value: "spiffe://acme/payments", required: true }),
    field("dry-uri", "URI", { value: "secret://acme/kv/app/db#password", required: true }),
    field("dry-action", "Action", { value: "use", required: true }),
    field("dry-context", "Context (a JSON object, optional)", { rows: 3, spellcheck: "false" }, "textarea"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Test")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(result);
    const value = (id) => form.querySelector(`#${id}`).value.trim();
    const body = { subject: value("dry-subject"), uri: value("dry-uri"), action: value("dry-action") };
    if (value("dry-context")) {
      try {
        body.context = JSON.parse(value("dry-context"));
      } catch (err) {
        result.append(errorBox({ code: "BAD_JSON", message: `the context is not JSON: ${err.message}` }));
        return;
      }
    }
    try {
      const d = await api("POST", "/admin/v1/policy/test", body);
      result.append(h("dl", { class: "decision" },
        h("dt", {}, "Decision"), h("dd", {}, badge(d.decision === "allow" ? "ok" : "down", d.decision)),
        d.reason ? [h("dt", {}, "Reason"), h("dd", {}, h("code", {}, d.reason))] : null,
        d.obligations ? [h("dt", {}, "Obligations"), h("dd", {}, jsonCode(pretty(d.obligations), "Obligations"))]
          : null));
    } catch (err) {
      result.append(errorBox(err));
    }
  });
  el.append(h("section", { class: "card", "aria-labelledby": "dry-h" },
    h("h2", { id: "dry-h" }, "Dry run"),
    h("p", { class: "muted" }, "Asks the current policy; nothing is granted, stored or audited."), form, result));
}

function history(el) {
  const holder = h("div");
  const diff = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Older versions");
  const rows = [];
  let before = null;

  const showDiff = async (v) => {
    clear(diff);
    try {
      const newer = await api("GET", `/admin/v1/policy/history/${v.version}`);
      const older = v.version > 1 ? await api("GET", `/admin/v1/policy/history/${v.version - 1}`).catch((err) =>
        err.status === 404 ? null : Promise.reject(err)) : null;
      diff.append(h("h3", {}, older ? `Version ${older.version} → ${newer.version}` : `Version ${newer.version}`),
        diffBlock(older ? pretty(older.policy) : "", pretty(newer.policy),
          `Changes in version ${newer.version}`));
    } catch (err) {
      diff.append(errorBox(err));
    }
  };
  const load = async () => {
    const page = await api("GET", `/admin/v1/policy/history?limit=${HISTORY_PAGE}${before ? `&before=${before}` : ""}`);
    for (const v of page.versions) {
      rows.push(h("tr", { "data-version": v.version },
        h("th", { scope: "row" }, v.version), h("td", {}, time(v.at)), h("td", {}, h("code", {}, v.by)),
        h("td", {}, v.reason || h("span", { class: "muted" }, "none given")), h("td", {}, v.rules),
        h("td", {}, h("code", { title: v.sha256 }, v.sha256.slice(0, 12))),
        h("td", {}, h("button", { type: "button", "aria-label": `Show the changes of version ${v.version}`,
          onclick: () => showDiff(v) }, "Diff"))));
    }
    before = page.next_before || null;
    more.hidden = !before;
    clear(holder).append(table(`${rows.length} versions shown, newest first`,
      ["Version", "At", "By", "Reason", "Rules", "sha256", "Changes"], rows));
  };
  more.addEventListener("click", () => load().catch((err) => diff.append(errorBox(err))));
  el.append(h("section", { class: "card wide", "aria-labelledby": "history-h" },
    h("h2", { id: "history-h" }, "History"), holder, more, diff));
  return load();
}

export default {
  id: "policy",
  title: "Policy",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const notice = h("div", { "aria-live": "polite" });
    const reload = async (message) => {
      const doc = await api("GET", "/admin/v1/policy");
      const text = pretty(doc);
      clear(el).append(clear(notice));
      if (message) notice.append(h("p", { class: "ok-text" }, message));
      el.append(h("section", { class: "card wide", "aria-labelledby": "current-h" },
        h("h2", { id: "current-h" }, "Current policy"),
        h("p", { class: "muted" }, `${(doc.rules || []).length} rules.`),
        jsonCode(text, "The current policy")));
      if (ctx.who.role === "admin") editor(el, text, notice, reload);
      else el.append(h("p", { class: "muted" }, "Read-only: your role cannot change the policy."));
      dryRun(el);
      await history(el);
    };
    await reload();
  },
};
