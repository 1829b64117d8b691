// The login under --auth sigv4 (docs/console.md, Security): an access key
// and secret of lambdad's credentials file open a server-side session (an
// HttpOnly cookie the page never sees, and a CSRF token it sends with every
// change). The secret is sent once, to POST /console/login, and not kept.
import { h, busy, status } from "./ui.js";
import { ApiError } from "./api.js";

/** AWS's error of a refused console request. */
async function refusal(resp) {
  let j = {};
  try {
    j = await resp.json();
  } catch {
    // not JSON
  }
  const type = (resp.headers.get("x-amzn-errortype") || j.__type || "").split(":")[0];
  return new ApiError(resp.status, type, j.message || j.Message || `HTTP ${resp.status}`);
}

export function renderLogin(main, why = "") {
  const key = h("input", { id: "login-key", required: true, autocomplete: "username", spellcheck: "false" });
  const secret = h("input", { id: "login-secret", type: "password", required: true, autocomplete: "current-password" });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "login" },
    h("div", { class: "field" }, h("label", { for: "login-key" }, "Access key ID"), key),
    h("div", { class: "field" }, h("label", { for: "login-secret" }, "Secret access key"), secret),
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = JSON.stringify({ AccessKeyId: key.value.trim(), SecretAccessKey: secret.value });
    const ok = await busy(submit, "Logging in…", async () => {
      const resp = await fetch("/console/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      if (!resp.ok) throw await refusal(resp);
    });
    secret.value = "";
    if (ok) window.location.reload();
  });
  main.replaceChildren(
    h("h1", {}, "Log in"),
    h("p", {}, "This server requires SigV4 (--auth sigv4). Log in with an access key of its credentials file: ",
      "the console then acts as that key, under the same IAM policy as the AWS CLI would."),
    why ? h("p", { class: "error" }, why) : null,
    form);
  document.title = "Log in · lambdad console";
  key.focus();
}

/** Shows who is logged in, with a Log out button, in the header (once). */
export function showUser(cfg) {
  if (cfg.auth !== "sigv4" || document.getElementById("user")) return;
  const out = h("button", { type: "button", class: "logout" }, "Log out");
  out.addEventListener("click", () =>
    busy(out, "Logging out…", async () => {
      const resp = await fetch("/console/logout", { method: "POST", headers: { "x-lambdad-csrf": cfg.csrfToken } });
      if (!resp.ok) throw await refusal(resp);
      window.location.hash = "#/";
      window.location.reload();
    }));
  document.querySelector("header.top").append(
    h("span", { id: "user", class: "user", title: cfg.user || "" }, cfg.accessKeyId || ""), out);
}

/** Whether an error means the session is gone: then the login is shown again. */
export function sessionLost(e) {
  if (!["ExpiredTokenException", "MissingAuthenticationTokenException"].includes(e.type)) return false;
  renderLogin(document.getElementById("main"), e.message);
  status("", "ok");
  return true;
}
