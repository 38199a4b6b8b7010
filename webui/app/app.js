// The admin UI shell: who the certificate names, the pages that role may see,
// and a hash router (#/keys) so every page has its own address (a page may keep
// more of its own location after its id, as #/kv/<namespace>/<mount>/<path> does).
import { api } from "./api.js";
import { h, clear, errorBox } from "./dom.js";
import overview from "./pages/overview.js";
import keys from "./pages/keys.js";
import policy from "./pages/policy.js";
import grants from "./pages/grants.js";
import leases from "./pages/leases.js";
import kv from "./pages/kv.js";
import breakglass from "./pages/breakglass.js";
import metrics from "./pages/metrics.js";
import audit from "./pages/audit.js";

// Each page: its address, title, the roles that see it, and render(main, ctx).
const PAGES = [overview, keys, policy, grants, leases, kv, breakglass, audit, metrics];

const ctx = { who: null };

function allowedPages() {
  return PAGES.filter((p) => p.roles.includes(ctx.who.role));
}

function renderNav(current) {
  const nav = clear(document.getElementById("nav"));
  nav.append(h("ul", {}, allowedPages().map((p) =>
    h("li", {}, h("a", { href: `#/${p.id}`, "aria-current": p.id === current ? "page" : undefined }, p.title)))));
}

async function route() {
  const main = clear(document.getElementById("main"));
  const pages = allowedPages();
  if (!pages.length) {
    main.append(h("h1", {}, "Nothing to show"), h("p", {}, `The role ${ctx.who.role} has no pages here yet.`));
    renderNav("");
    return;
  }
  const wanted = location.hash.replace(/^#\/?/, "").split("/")[0];
  const page = pages.find((p) => p.id === wanted) || pages[0];
  renderNav(page.id);
  document.title = `${page.title} · sealgate admin`;
  main.append(h("h1", {}, page.title));
  const body = h("div", { class: "page", "aria-busy": "true" });
  main.append(body);
  try {
    await page.render(body, ctx);
  } catch (err) {
    body.append(errorBox(err));
  } finally {
    body.removeAttribute("aria-busy");
  }
}

async function start() {
  try {
    ctx.who = await api("GET", "/admin/v1/whoami");
  } catch (err) {
    document.getElementById("main").append(errorBox(err));
    return;
  }
  document.getElementById("who").textContent = `${ctx.who.name} (${ctx.who.role})`;
  window.addEventListener("hashchange", route);
  await route();
}

start();
