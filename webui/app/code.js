// JSON shown as code: syntax highlighting and a line diff. Both are small
// enough to write here rather than ship a library for; every piece of text
// becomes a text node, never markup.
import { h } from "./dom.js";

// One JSON token at a time: a string (a key when a colon follows), a number,
// a literal, or a line break. Anything else (punctuation, spaces, text that is
// not JSON at all) stays plain text.
const TOKEN = /("(?:[^"\\\n]|\\.)*")(\s*:)?|(-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)|\b(true|false|null)\b|(\n)/g;

// JSON text as a block of highlighted, numbered lines; `markLine` (1-based), when
// given, is flagged as the line an error points at; `wrap` lets long lines wrap.
export function jsonCode(text, label, { markLine = 0, wrap = false } = {}) {
  return h("pre", { class: wrap ? "code wrap" : "code", tabindex: 0, "aria-label": label },
    highlightJson(text).map((line, i) => h("span", { class: i + 1 === markLine ? "line err" : "line" }, line, "\n")));
}

// The lines of `text`, each an array of text nodes and highlighted spans.
export function highlightJson(text) {
  const lines = [[]];
  let last = 0;
  const plain = (s) => { if (s) lines[lines.length - 1].push(s); };
  for (const m of text.matchAll(TOKEN)) {
    plain(text.slice(last, m.index));
    last = m.index + m[0].length;
    const line = lines[lines.length - 1];
    if (m[5]) lines.push([]);
    else if (m[1] && m[2]) line.push(h("span", { class: "tok-key" }, m[1]), m[2]);
    else if (m[1]) line.push(h("span", { class: "tok-str" }, m[1]));
    else if (m[3]) line.push(h("span", { class: "tok-num" }, m[3]));
    else line.push(h("span", { class: "tok-lit" }, m[4]));
  }
  plain(text.slice(last));
  return lines;
}

// The lines of `before` and `after` as [op, line] with op "=", "-" or "+": a
// longest-common-subsequence diff, which is what a reader expects for the few
// hundred lines a policy has. Past MAX_CELLS it shows every old line removed
// and every new one added rather than spend the browser's memory.
const MAX_CELLS = 4_000_000;

export function lineDiff(before, after) {
  const n = before.length;
  const m = after.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    return [...before.map((l) => ["-", l]), ...after.map((l) => ["+", l])];
  }
  // common[i][j]: the length of the longest common subsequence of before[i..] and after[j..].
  const width = m + 1;
  const common = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i * width + j] = before[i] === after[j] ? common[(i + 1) * width + j + 1] + 1
        : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (before[i] === after[j]) { out.push(["=", before[i]]); i++; j++; }
    else if (common[(i + 1) * width + j] >= common[i * width + j + 1]) out.push(["-", before[i++]]);
    else out.push(["+", after[j++]]);
  }
  while (i < n) out.push(["-", before[i++]]);
  while (j < m) out.push(["+", after[j++]]);
  return out;
}
