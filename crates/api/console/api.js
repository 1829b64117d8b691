// The console's client of lambdad's public Lambda API: the same REST paths
// and JSON shapes the AWS SDKs use (no console-only endpoints).

const BASE = "/2015-03-31/functions";

/** An error answered by the API: AWS's error type and message. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message || type || `HTTP ${status}`);
    this.status = status;
    this.type = type;
  }
}

let csrf = "";
/** The console session's CSRF token (under --auth sigv4), sent with every change. */
export const setCsrf = (token) => {
  csrf = token || "";
};
const csrfHeader = (method) => (csrf && method !== "GET" && method !== "HEAD" ? { "x-lambdad-csrf": csrf } : {});

/** A request to the API (with the session's CSRF token on a change). */
export async function call(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers, ...csrfHeader(method) } };
  if (body !== undefined) {
    // A string is sent as it is (an event's JSON text), anything else as JSON.
    init.headers["content-type"] ??= "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  if (!resp.ok) {
    let type = resp.headers.get("x-amzn-errortype") || "";
    let message = text;
    try {
      const j = JSON.parse(text);
      message = j.message || j.Message || text;
      type = type || j.Type || j.__type || "";
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(resp.status, type.split(":")[0], message);
  }
  return { resp, text, json: () => (text ? JSON.parse(text) : {}) };
}

const enc = encodeURIComponent;
const qualified = (q) => (q && q !== "$LATEST" ? `?Qualifier=${enc(q)}` : "");

/** ListFunctions, every page. */
export async function listFunctions() {
  const out = [];
  let marker = "";
  do {
    const q = marker ? `?Marker=${enc(marker)}` : "";
    const page = (await call("GET", `${BASE}/${q}`)).json();
    out.push(...(page.Functions || []));
    marker = page.NextMarker || "";
  } while (marker);
  return out;
}

export const getFunction = async (name) =>
  (await call("GET", `${BASE}/${enc(name)}`)).json();

export const createFunction = async (req) =>
  (await call("POST", BASE, req)).json();

export const deleteFunction = (name) => call("DELETE", `${BASE}/${enc(name)}`);

export const updateCode = async (name, zipBase64) =>
  (await call("PUT", `${BASE}/${enc(name)}/code`, { ZipFile: zipBase64 })).json();

export const updateConfiguration = async (name, req) =>
  (await call("PUT", `${BASE}/${enc(name)}/configuration`, req)).json();

export const publishVersion = async (name, description) =>
  (await call("POST", `${BASE}/${enc(name)}/versions`, { Description: description })).json();

/** ListVersionsByFunction, every page. */
export async function listVersions(name) {
  const out = [];
  let marker = "";
  do {
    const q = marker ? `?Marker=${enc(marker)}` : "";
    const page = (await call("GET", `${BASE}/${enc(name)}/versions${q}`)).json();
    out.push(...(page.Versions || []));
    marker = page.NextMarker || "";
  } while (marker);
  return out;
}

export const listAliases = async (name) =>
  ((await call("GET", `${BASE}/${enc(name)}/aliases`)).json().Aliases || []);

const events = (name) => `/_lambdad/functions/${enc(name)}/test-events`;

/** The function's saved test events (lambdad's own API, docs/console.md): { name: JSON text }. */
export const listTestEvents = async (name) =>
  ((await call("GET", events(name))).json().TestEvents || {});

export const putTestEvent = (name, event, text) => call("PUT", `${events(name)}/${enc(event)}`, text);

export const deleteTestEvent = (name, event) => call("DELETE", `${events(name)}/${enc(event)}`);

/** The function's deployment package, from GetFunction's Code.Location (same origin). */
export async function downloadCode(location) {
  const url = new URL(location, window.location.href);
  const resp = await fetch(url.pathname);
  if (!resp.ok) throw new ApiError(resp.status, "", `code download failed: HTTP ${resp.status}`);
  return new Uint8Array(await resp.arrayBuffer());
}

/**
 * Invoke (RequestResponse, LogType Tail) with the event as typed: the
 * payload, the function error if any, the executed version and the decoded
 * log tail.
 */
export async function invoke(name, qualifier, body) {
  const resp = await fetch(`${BASE}/${enc(name)}/invocations${qualified(qualifier)}`, {
    method: "POST",
    headers: { "x-amz-log-type": "Tail", "x-amz-invocation-type": "RequestResponse", ...csrfHeader("POST") },
    body,
  });
  const text = await resp.text();
  if (!resp.ok) {
    let message = text;
    try {
      message = JSON.parse(text).message || text;
    } catch {
      // not JSON
    }
    throw new ApiError(resp.status, (resp.headers.get("x-amzn-errortype") || "").split(":")[0], message);
  }
  return {
    payload: text,
    functionError: resp.headers.get("x-amz-function-error"),
    executedVersion: resp.headers.get("x-amz-executed-version"),
    logTail: decodeBase64Text(resp.headers.get("x-amz-log-result") || ""),
  };
}

/** UTF-8 text of a base64 string. */
export function decodeBase64Text(b64) {
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Base64 of bytes (in chunks: no argument-count limit). */
export function encodeBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/**
 * The numbers of a REPORT line (`REPORT RequestId: … Duration: 1.23 ms
 * Billed Duration: 2 ms Memory Size: 128 MB Max Memory Used: 40 MB Init
 * Duration: 95.00 ms`), or null when the tail has none.
 */
export function parseReport(tail) {
  const line = tail.split("\n").reverse().find((l) => l.startsWith("REPORT "));
  if (!line) return null;
  const fields = {};
  for (const part of line.slice(7).split("\t")) {
    const m = part.trim().match(/^([A-Za-z ]+): (\S+)/);
    if (m) fields[m[1]] = m[2];
  }
  const num = (k) => (fields[k] !== undefined ? Number(fields[k]) : null);
  return {
    requestId: fields.RequestId || null,
    duration: num("Duration"),
    billedDuration: num("Billed Duration"),
    memorySize: num("Memory Size"),
    maxMemoryUsed: num("Max Memory Used"),
    initDuration: num("Init Duration"),
  };
}
