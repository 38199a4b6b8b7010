// The admin API as the UI calls it: same origin, the browser's client
// certificate, and X-Sealgate-UI: 1 on every call (docs/WEBUI.md, "CSRF").

export class ApiError extends Error {
  constructor(status, code, message, data = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data; // the body of the answer, e.g. /readyz's checks when it is not ready
  }
}

function request(method, headers = {}) {
  return { method, headers: { "X-Sealgate-UI": "1", Accept: "application/json", ...headers },
    credentials: "same-origin", cache: "no-store", redirect: "error" };
}

// The API's error in a failed answer: its JSON shape ({"error":{code,message}}),
// or Vault's ({"errors":[...]} with the code in X-Sealgate-Error).
function errorOf(res, data) {
  const err = data && (data.error
    || (data.errors && { code: res.headers.get("X-Sealgate-Error"), message: data.errors[0] }));
  return new ApiError(res.status, (err && err.code) || res.headers.get("X-Sealgate-Error") || `HTTP_${res.status}`,
    (err && err.message) || res.statusText, data);
}

function parsed(res, text) {
  if (!text || !(res.headers.get("Content-Type") || "").startsWith("application/json")) return null;
  try { return JSON.parse(text); } catch (e) { return null; }
}

// `headers`: more request headers, e.g. X-Vault-Namespace for the KV store.
export async function api(method, path, body, headers = {}) {
  const init = request(method, headers);
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body); // a string: JSON text, sent as it is
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK", "the appliance could not be reached");
  }
  const text = await res.text();
  const data = parsed(res, text);
  if (!res.ok) throw errorOf(res, data);
  return data !== null ? data : text;
}

// A GET whose body is a file to save (the audit export): read as it arrives,
// `onProgress(received, total)` after each piece (`total` from Content-Length,
// 0 when the answer has none). Resolves with the body as a Blob and the answer's
// headers.
export async function download(path, onProgress) {
  let res;
  try {
    res = await fetch(path, request("GET"));
  } catch (e) {
    throw new ApiError(0, "NETWORK", "the appliance could not be reached");
  }
  if (!res.ok) throw errorOf(res, parsed(res, await res.text()));
  const total = Number(res.headers.get("Content-Length")) || 0;
  const reader = res.body.getReader();
  const pieces = [];
  let received = 0;
  onProgress(0, total);
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (e) {
      throw new ApiError(0, "NETWORK", "the download was cut off");
    }
    if (step.done) break;
    pieces.push(step.value);
    received += step.value.length;
    onProgress(received, total);
  }
  if (total && received !== total) {
    throw new ApiError(0, "NETWORK", `the download was cut off at ${received} of ${total} bytes`);
  }
  return { blob: new Blob(pieces, { type: res.headers.get("Content-Type") || "application/octet-stream" }),
    headers: res.headers };
}
