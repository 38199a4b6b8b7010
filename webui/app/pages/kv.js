// KV store: the embedded KV v2 store's metadata, browsed namespace → mount →
// folder → secret at Vault's paths on the admin listener (docs/API.md, "Admin
// listener: KV v2 and leases"): a secret's versions, times and settings and the
// mount's configuration. Never a value: the page calls only Vault's metadata,
// config and version routes, never GET /v1/<mount>/data/..., and has no reveal
// control. Admins soft-delete, undelete and destroy chosen versions, each with a
// confirmation and a reason (audited); destroy also asks for the path typed back.
//
// The location is in the address: #/kv/<namespace>/<mount>/<path>, a path ending
// in "/" being a folder, so every folder and secret has its own link.
import { api } from "../api.js";
import { h, clear, badge, table, time, facts, errorBox, confirmAction, runAction, withReason } from "../dom.js";
import { jsonCode } from "../code.js";

const enc = encodeURIComponent;
const encPath = (path) => path.split("/").map(enc).join("/");

// The page's own address for a namespace, a mount, a folder or a secret.
function hrefOf(ns, mount, path) {
  if (ns === undefined) return "#/kv";
  if (mount === undefined) return `#/kv/${enc(ns)}`;
  return `#/kv/${enc(ns)}/${enc(mount)}/${encPath(path || "")}`;
}

// Where the address points: {ns, mount, path} (each may be missing).
function whereFromHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").slice(1).map((s) => {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  });
  const [ns, mount, ...rest] = parts;
  return { ns: ns || undefined, mount: mount || undefined, path: rest.join("/") };
}

// A call to the KV store at Vault's paths, in the namespace (tenant) `ns`.
function kv(ns, method, path, body) {
  return api(method, path, body, { "X-Vault-Namespace": ns });
}

function breadcrumb(where) {
  const crumbs = [["Namespaces", hrefOf()]];
  if (where.ns) crumbs.push([where.ns, hrefOf(where.ns)]);
  if (where.mount) {
    crumbs.push([where.mount, hrefOf(where.ns, where.mount, "")]);
    const segs = where.path.split("/").filter(Boolean);
    segs.forEach((s, i) => {
      const last = i === segs.length - 1;
      const isFolder = !last || where.path.endsWith("/");
      const upTo = segs.slice(0, i + 1).join("/") + (isFolder ? "/" : "");
      crumbs.push([isFolder ? `${s}/` : s, hrefOf(where.ns, where.mount, upTo)]);
    });
  }
  return h("nav", { class: "crumbs", "aria-label": "KV location" }, h("ol", {}, crumbs.map(([text, href], i) =>
    h("li", {}, h("a", { href, "aria-current": i === crumbs.length - 1 ? "location" : undefined }, text)))));
}

async function namespaces(el, where) {
  const { default_namespace: def, namespaces: all = {} } = await api("GET", "/admin/v1/kv/mounts");
  const names = Object.keys(all).sort().filter((n) => !where.ns || n === where.ns);
  el.append(table(where.ns ? `Namespace ${where.ns}` : `${names.length} namespaces (tenants)`,
    ["Namespace", "KV v2 mounts"],
    names.map((n) => h("tr", { "data-namespace": n },
      h("th", { scope: "row" }, n, n === def ? h("span", { class: "muted" }, " (default)") : null),
      h("td", {}, all[n].length ? h("ul", { class: "plain" }, all[n].map((m) =>
        h("li", {}, h("a", { href: hrefOf(n, m, ""), "aria-label": `Mount ${m} in ${n}` }, m))))
        : h("span", { class: "muted" }, "none"))))));
}

async function mountConfig(el, where) {
  const c = (await kv(where.ns, "GET", `/v1/${enc(where.mount)}/config`)).data;
  el.append(h("section", { class: "card", "aria-labelledby": "kv-config-h" },
    h("h2", { id: "kv-config-h" }, `Mount ${where.mount} (${where.ns})`),
    facts([["Max versions", c.max_versions === 0 ? "0 (the default, 10)" : c.max_versions],
      ["Check-and-set required", c.cas_required ? "yes" : "no"],
      ["Delete versions after", c.delete_version_after === "0s" ? "never (0s)" : c.delete_version_after]])));
}

async function folder(el, where) {
  let keys = [];
  try {
    keys = (await kv(where.ns, "GET", `/v1/${enc(where.mount)}/metadata/${encPath(where.path)}?list=true`)).data.keys;
  } catch (err) {
    if (err.status !== 404) throw err; // Vault's LIST answers 404 for an empty folder
  }
  const label = where.path ? where.path : "the mount's root";
  el.append(table(`${keys.length} ${keys.length === 1 ? "entry" : "entries"} in ${label}`, ["Name", "Kind"],
    keys.map((k) => h("tr", { "data-key": k },
      h("th", { scope: "row" }, h("a", { href: hrefOf(where.ns, where.mount, where.path + k) }, k)),
      h("td", {}, k.endsWith("/") ? "folder" : "secret")))));
  await mountConfig(el, where);
}

function stateOf(v) {
  if (v.destroyed) return badge("down", "destroyed");
  if (v.deletion_time) return badge("warn", "deleted");
  return badge("ok", "active");
}

async function secret(el, where, ctx, notice) {
  const isAdmin = ctx.who.role === "admin";
  const metaPath = `/v1/${enc(where.mount)}/metadata/${encPath(where.path)}`;
  const holder = h("div");
  el.append(holder);

  const act = async (op, what, chosen) => {
    const list = chosen.join(", ");
    const plural = chosen.length === 1 ? "Version" : "Versions";
    const ask = {
      delete: { title: "Delete versions", action: "Delete",
        detail: `${plural} ${list} of ${where.path} (${where.ns}/${where.mount}) are marked deleted: they can no ` +
          "longer be read until undeleted." },
      undelete: { title: "Undelete versions", action: "Undelete",
        detail: `${plural} ${list} of ${where.path} (${where.ns}/${where.mount}) can be read again.` },
      destroy: { title: "Destroy versions", action: "Destroy", typed: where.path,
        detail: `The values of ${plural.toLowerCase()} ${list} of ${where.path} (${where.ns}/${where.mount}) are ` +
          "erased for good. This cannot be undone." },
    }[op];
    const reason = await confirmAction(ask);
    if (reason === null) return;
    await runAction(notice, `${plural} ${list} of ${where.path} ${what}.`, async () => {
      await kv(where.ns, "POST", withReason(`/v1/${enc(where.mount)}/${op}/${encPath(where.path)}`, reason),
        { versions: chosen });
      await draw();
    });
  };

  const draw = async () => {
    let meta;
    try {
      meta = (await kv(where.ns, "GET", metaPath)).data;
    } catch (err) {
      if (err.status !== 404) throw err;
      clear(holder).append(h("p", {}, `No secret ${where.path} in ${where.ns}/${where.mount}.`));
      return;
    }
    const numbers = Object.keys(meta.versions).map(Number).sort((a, b) => b - a);
    const rows = numbers.map((n) => {
      const v = meta.versions[String(n)];
      const id = `kv-version-${n}`;
      return h("tr", { "data-version": n },
        h("th", { scope: "row" }, isAdmin && !v.destroyed
          ? [h("input", { type: "checkbox", id, value: n, class: "pick" }), " ",
            h("label", { for: id }, `Version ${n}`)]
          : `Version ${n}`,
        n === meta.current_version ? h("span", { class: "muted" }, " (current)") : null),
        h("td", {}, time(v.created_time)), h("td", {}, v.deletion_time ? time(v.deletion_time) : ""),
        h("td", {}, stateOf(v)));
    });
    const kept = `${numbers.length} ${numbers.length === 1 ? "version" : "versions"} kept, newest first`;
    const versions = table(kept, ["Version", "Created", "Deleted", "State"], rows);
    const chosen = () => [...versions.querySelectorAll("input.pick:checked")].map((c) => Number(c.value));
    const button = (op, text, what, danger) => h("button", { type: "button", class: danger ? "danger" : undefined,
      onclick: () => {
        const picked = chosen();
        if (!picked.length) {
          clear(notice).append(h("p", { class: "error-text", role: "alert" }, "Choose at least one version first."));
          return;
        }
        act(op, what, picked);
      } }, text);
    clear(holder).append(
      h("section", { class: "card", "aria-labelledby": "kv-meta-h" },
        h("h2", { id: "kv-meta-h" }, `Secret ${where.path}`),
        facts([["Namespace / mount", `${where.ns} / ${where.mount}`],
          ["Created", time(meta.created_time)], ["Updated", time(meta.updated_time)],
          ["Current version", meta.current_version], ["Oldest version", meta.oldest_version],
          ["Max versions", meta.max_versions === 0 ? "0 (the mount's)" : meta.max_versions],
          ["Check-and-set required", meta.cas_required ? "yes" : "no"],
          ["Delete versions after", meta.delete_version_after === "0s" ? "never (0s)" : meta.delete_version_after],
          ["Custom metadata", meta.custom_metadata && Object.keys(meta.custom_metadata).length
            ? jsonCode(JSON.stringify(meta.custom_metadata, null, 2), "Custom metadata") : h("span", { class: "muted" }, "none")]])),
      h("section", { class: "card wide", "aria-labelledby": "kv-versions-h" },
        h("h2", { id: "kv-versions-h" }, "Versions"),
        h("p", { class: "muted" }, "Metadata only: this page never loads a value."),
        versions,
        isAdmin ? h("div", { class: "actions start" },
          button("delete", "Delete…", "deleted", true), button("undelete", "Undelete…", "undeleted", false),
          button("destroy", "Destroy…", "destroyed", true))
          : h("p", { class: "muted" }, "Read-only: your role cannot delete, undelete or destroy versions.")));
  };
  await draw();
  await mountConfig(el, where);
}

export default {
  id: "kv",
  title: "KV store",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const where = whereFromHash();
    const notice = h("div", { "aria-live": "polite" });
    el.append(breadcrumb(where), notice);
    const body = h("div");
    el.append(body);
    try {
      if (!where.mount) await namespaces(body, where);
      else if (where.path === "" || where.path.endsWith("/")) await folder(body, where);
      else await secret(body, where, ctx, notice);
    } catch (err) {
      body.append(errorBox(err));
    }
  },
};
