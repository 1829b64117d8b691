// Small DOM helpers and the status line every page reports to.

/** An element: h("button", { class: "x", onclick }, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Reports on the status line (polite live region): kind is "ok", "error" or "busy". */
export function status(message, kind = "ok") {
  const el = document.getElementById("status");
  el.textContent = message;
  el.dataset.kind = kind;
}

/** Runs `work` with `button` disabled and the status line saying what happens. */
export async function busy(button, doing, work) {
  if (button) button.disabled = true;
  status(doing, "busy");
  try {
    const done = await work();
    if (typeof done === "string") status(done, "ok");
    return true;
  } catch (e) {
    status(e.type ? `${e.type}: ${e.message}` : e.message, "error");
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

let config = null;
/**
 * /console/config.json: the account and region of this server, its auth
 * mode and, under --auth sigv4, the session's user and CSRF token
 * (`loggedIn` false: no live session, the login page is shown).
 */
export async function serverConfig() {
  if (!config) {
    const resp = await fetch("/console/config.json");
    config = { ...(await resp.json()), loggedIn: resp.ok };
  }
  return config;
}

let pending = null;
/** Goes to a route; `message` is reported once it has rendered. */
export const go = (hash, message = null) => {
  pending = message;
  window.location.hash = hash;
};

/** The message a route change carries (taken once). */
export function takePending() {
  const m = pending;
  pending = null;
  return m;
}

