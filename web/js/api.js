// The public API, same origin (the site is served by the platform's entry point, :8000).

/** An API refusal: the RFC 9457 problem, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? null;
  }
}

/** GET `path` (with `params`) and parse its JSON; ApiError on anything but 2xx. */
export async function getJSON(path, params = {}) {
  const url = new URL(path, globalThis.location?.origin ?? "http://127.0.0.1:8000");
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  let response;
  try {
    // "no-cache": the browser revalidates its copy every time (If-None-Match → a 304 from the
    // API's kept copy), so a page reloaded right after a change never shows the old state
    // for the `max-age` the API allows shared caches (docs/api.md, "Caching").
    response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-cache" });
  } catch (error) {
    throw new ApiError(0, { title: "서버에 연결할 수 없습니다", detail: String(error) });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Create an element: el("p", {class: "x"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A horizontal bar: fraction 0..1, with its accessible value. */
export function bar(fraction, className = "") {
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.round(fraction * 1000) / 10}%`;
  return el(
    "div",
    {
      class: `bar ${className}`.trim(),
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": Math.round(fraction * 100),
    },
    fill,
  );
}
