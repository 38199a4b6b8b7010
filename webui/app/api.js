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

export async function api(method, path, body) {
  const init = { method, headers: { "X-Sealgate-UI": "1", Accept: "application/json" }, credentials: "same-origin",
    cache: "no-store", redirect: "error" };
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
  let data = null;
  if (text && (res.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const err = data && (data.error || (data.errors && { code: res.headers.get("X-Sealgate-Error"), message: data.errors[0] }));
    throw new ApiError(res.status, (err && err.code) || `HTTP_${res.status}`, (err && err.message) || res.statusText,
      data);
  }
  return data !== null ? data : text;
}
