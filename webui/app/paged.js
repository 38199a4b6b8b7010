// A list the server pages (API.md, "List pages"): a search by id the server
// applies, and next / previous pages by the `next_after` cursor it returns.
import { api } from "./api.js";
import { h, clear, table } from "./dom.js";

// `path` answers {[field]: [...], total, next_after?}; `row(item)` makes a
// table row. Returns the element and reload(), which fetches the page shown again.
export function pagedList({ id, noun, path, field, headers, row, pageSize = 50 }) {
  const search = h("input", { id: `${id}-search`, type: "search", autocomplete: "off" });
  const holder = h("div");
  const previous = h("button", { type: "button", disabled: true }, "Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  let cursors = [""]; // the `after` of every page up to the one shown
  let timer = null;

  const reload = async () => {
    const after = cursors[cursors.length - 1];
    const query = new URLSearchParams({ limit: String(pageSize) });
    if (after) query.set("after", after);
    if (search.value.trim()) query.set("q", search.value.trim());
    const page = await api("GET", `${path}?${query}`);
    const items = page[field] || [];
    const first = (cursors.length - 1) * pageSize;
    clear(holder).append(table(items.length
      ? `${noun} ${first + 1}–${first + items.length} of ${page.total}` : `no ${noun} of ${page.total}`,
    headers, items.map(row)));
    previous.disabled = cursors.length === 1;
    next.disabled = !page.next_after;
    next.dataset.after = page.next_after || "";
  };
  const go = (change) => { change(); return reload(); };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => go(() => { cursors = [""]; }), 300);
  });
  previous.addEventListener("click", () => go(() => cursors.pop()));
  next.addEventListener("click", () => go(() => cursors.push(next.dataset.after)));
  const element = h("div", {},
    h("label", { for: `${id}-search` }, `Search ${noun} by id `), search, holder,
    h("div", { class: "actions pager" }, previous, next));
  return { element, reload };
}
