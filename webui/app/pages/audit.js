// Audit log (docs/AUDIT.md): the latest signed checkpoint and the key that signs
// it; an entry browser over GET /admin/v1/audit/entries (filters, server-side
// pages: "Older" follows next_before); and the export, downloaded with a progress
// bar and offered as a file, with the command that verifies it offline.
import { api, download } from "../api.js";
import { h, clear, table, time, facts, errorBox } from "../dom.js";
import { jsonCode } from "../code.js";

// Event types the appliance logs (AUDIT.md), offered as suggestions; any other
// text is sent as it is.
const TYPES = ["authorize", "consume", "delegate", "execute", "grant_revoke", "policy_update", "kv_write", "kv_patch",
  "kv_delete", "kv_undelete", "kv_destroy", "kv_metadata_write", "kv_metadata_patch", "kv_metadata_delete",
  "kv_config_write", "kv_reveal", "db_creds", "lease_create", "lease_renew", "lease_revoke", "lease_revoke_prefix",
  "breakglass_request", "breakglass_approval", "breakglass_opened", "breakglass_closed", "breakglass_approver",
  "state_reinitialize"];

function commandBlock(lines, label) {
  return h("pre", { class: "command", tabindex: 0, "aria-label": label }, lines.join("\n"));
}

function kib(bytes) {
  return bytes < 10240 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(0)} KiB`;
}

async function checkpoint(el) {
  const [cp, key] = await Promise.all([api("GET", "/admin/v1/audit/checkpoint"),
    api("GET", "/admin/v1/audit/public-key")]);
  // The newest entry the checkpoint covers, for its time.
  const newest = cp.tree_size > 0
    ? (await api("GET", `/admin/v1/audit/entries?limit=1&before=${cp.tree_size}`)).entries[0] : null;
  el.append(h("section", { class: "card wide", "aria-labelledby": "cp-h" },
    h("h2", { id: "cp-h" }, "Latest signed checkpoint"),
    facts([["Tree size", `${cp.tree_size} entries`],
      ["Newest entry covered", newest ? `#${newest.index} at ${time(newest.entry.time)}` : "none"],
      ["Signed by", h("span", {}, `${key.key_name}, key id `, h("code", {}, key.key_id),
        ` (HSM key ${key.key_label})`)]]),
    h("p", {}, "The signed note (C2SP checkpoint):"),
    h("pre", { class: "code note", tabindex: 0, "aria-label": "The signed checkpoint" }, cp.checkpoint)));
}

function exporter(el) {
  const progress = h("progress", { id: "export-progress", max: 1, value: 0 });
  const status = h("p", { id: "export-status", "aria-live": "polite" });
  const saved = h("div");
  const verify = h("div");
  const start = h("button", { type: "button" }, "Download the export");
  let url = null;
  const forget = () => { if (url) URL.revokeObjectURL(url); url = null; };
  window.addEventListener("hashchange", forget, { once: true });

  const showVerify = (file) => {
    clear(verify).append(
      h("p", {}, "Verify it offline, with the audit key pinned beforehand (fetched once, kept apart from any bundle):"),
      commandBlock([
        `curl --cacert ca.pem --cert YOU.pem --key YOU.key ${location.origin}/admin/v1/audit/public-key \\`,
        "  | jq -r .pem > AUDIT_KEY.pem    # once, and pin it",
        `sealgate audit verify --key AUDIT_KEY.pem ${file}`,
      ], "The commands to verify the bundle offline"));
  };

  start.addEventListener("click", async () => {
    forget();
    clear(saved);
    start.disabled = true;
    progress.value = 0;
    status.textContent = "Starting…";
    try {
      const { blob, headers } = await download("/admin/v1/audit/export", (received, total) => {
        if (total) {
          progress.max = total;
          progress.value = received;
          status.textContent = `${kib(received)} of ${kib(total)}`;
        } else {
          progress.removeAttribute("value"); // no size known: an indeterminate bar
          status.textContent = `${kib(received)}`;
        }
      });
      progress.max = blob.size || 1;
      progress.value = blob.size || 1;
      const entries = headers.get("X-Sealgate-Audit-Entries");
      const named = /filename="([A-Za-z0-9._-]+)"/.exec(headers.get("Content-Disposition") || "");
      const file = named ? named[1] : "sealgate-audit.json";
      url = URL.createObjectURL(blob);
      status.textContent = `Done: ${entries ?? "?"} entries, ${kib(blob.size)}.`;
      saved.append(h("a", { href: url, download: file, class: "button", id: "export-save" }, `Save ${file}`));
      showVerify(file);
    } catch (err) {
      status.textContent = "";
      saved.append(errorBox(err));
    } finally {
      start.disabled = false;
    }
  });
  showVerify("sealgate-audit-N.json");
  el.append(h("section", { class: "card wide", "aria-labelledby": "export-h" },
    h("h2", { id: "export-h" }, "Export"),
    h("p", { class: "muted" }, "The whole log as a bundle: every entry, the leaf hashes, the signed checkpoints and " +
      "the proofs between them."),
    h("div", { class: "actions start" }, start),
    h("label", { for: "export-progress" }, "Download progress"), progress, status, saved, verify));
}

function browser(el) {
  const field = (id, label, input) => h("div", { class: "field" }, h("label", { for: id }, label), input);
  const type = h("input", { id: "audit-type", list: "audit-types", autocomplete: "off", maxlength: 256 });
  const tenant = h("input", { id: "audit-tenant", autocomplete: "off", maxlength: 256 });
  const outcome = h("input", { id: "audit-outcome", autocomplete: "off", maxlength: 256 });
  const since = h("input", { id: "audit-since", type: "datetime-local", step: 1 });
  const until = h("input", { id: "audit-until", type: "datetime-local", step: 1 });
  const limit = h("input", { id: "audit-limit", type: "number", min: 1, max: 200, value: 25 });
  const holder = h("div", { id: "audit-results" });
  const problem = h("div", { "aria-live": "polite" });
  const older = h("button", { type: "button", hidden: true }, "Older");
  const rows = [];
  let shown = 0;
  let query = "";
  let before = null;
  let treeSize = 0;

  const seconds = (input) => Math.floor(new Date(input.value).getTime() / 1000);
  const entryRows = ({ index, entry }) => {
    const id = `audit-json-${index}`;
    const json = h("tr", { class: "entry-json", id, hidden: true },
      h("td", { colspan: 6 }, jsonCode(JSON.stringify(entry, null, 2), `Entry ${index} as logged`, { wrap: true })));
    const toggle = h("button", { type: "button", class: "link", "aria-expanded": "false", "aria-controls": id,
      "aria-label": `JSON of entry ${index}` }, "JSON");
    toggle.addEventListener("click", () => {
      json.hidden = !json.hidden;
      toggle.setAttribute("aria-expanded", String(!json.hidden));
    });
    const actor = entry.actor || {};
    return [h("tr", { "data-index": index },
      h("th", { scope: "row" }, index), h("td", {}, time(entry.time)), h("td", {}, h("code", {}, entry.type)),
      h("td", {}, actor.spiffe_id ? h("code", {}, actor.spiffe_id) : h("span", { class: "muted" }, "none"),
        actor.role ? ` (${actor.role})` : entry.tenant ? ` (tenant ${entry.tenant})` : ""),
      h("td", {}, entry.outcome || ""), h("td", {}, toggle)), json];
  };
  const draw = (emptyPage) => {
    const caption = `${shown} ${shown === 1 ? "entry" : "entries"} shown, newest first (the log has ${treeSize})`;
    clear(holder).append(table(caption,
      ["Seq", "Time", "Type", "Actor", "Outcome", "Entry"], rows));
    if (emptyPage && before) {
      holder.append(h("p", { class: "muted" },
        "No more matches among the entries looked at so far; Older looks further back."));
    }
    older.hidden = !before;
  };
  const load = async () => {
    clear(problem);
    older.disabled = true;
    holder.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `/admin/v1/audit/entries?${query}${before !== null ? `&before=${before}` : ""}`);
      for (const item of page.entries) rows.push(...entryRows(item));
      shown += page.entries.length;
      before = page.next_before ?? null;
      treeSize = page.tree_size;
      draw(page.entries.length === 0);
    } catch (err) {
      problem.append(errorBox(err));
    } finally {
      older.disabled = false;
      holder.removeAttribute("aria-busy");
    }
  };
  const form = h("form", { class: "filters", "aria-label": "Filter the log" },
    field("audit-type", "Type", type),
    field("audit-tenant", "Tenant", tenant),
    field("audit-outcome", "Outcome", outcome),
    field("audit-since", "Since (your local time)", since),
    field("audit-until", "Until (not included)", until),
    field("audit-limit", "Per page", limit),
    h("datalist", { id: "audit-types" }, TYPES.map((t) => h("option", { value: t }))),
    h("div", { class: "actions start" }, h("button", { type: "submit" }, "Show"),
      h("button", { type: "reset" }, "Clear")));
  const search = async () => {
    const params = new URLSearchParams();
    for (const [name, input] of [["type", type], ["tenant", tenant], ["outcome", outcome]]) {
      if (input.value.trim()) params.set(name, input.value.trim());
    }
    for (const [name, input] of [["since", since], ["until", until]]) {
      if (input.value && !Number.isNaN(seconds(input))) params.set(name, String(Math.max(0, seconds(input))));
    }
    params.set("limit", String(Math.min(200, Math.max(1, Number(limit.value) || 25))));
    query = params.toString();
    before = null;
    rows.length = 0;
    shown = 0;
    await load();
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); search(); });
  form.addEventListener("reset", () => setTimeout(search)); // after the inputs were cleared
  older.addEventListener("click", load);
  el.append(h("section", { class: "card wide", "aria-labelledby": "entries-h" },
    h("h2", { id: "entries-h" }, "Entries"), form, problem, holder, older));
  return search;
}

export default {
  id: "audit",
  title: "Audit log",
  roles: ["admin", "auditor"],
  async render(el) {
    await checkpoint(el);
    exporter(el);
    await browser(el)(); // the newest entries, unfiltered
  },
};
