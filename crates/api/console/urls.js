// The function URL tab: create, edit (auth type, invoke mode, CORS), copy
// and delete the function's URL (CreateFunctionUrlConfig and friends). With
// AuthType NONE the public's lambda:InvokeFunctionUrl permission is added,
// as Lambda's console does (statement FunctionURLAllowPublicAccess).
import { h, busy, status } from "./ui.js";
import { call } from "./api.js";
import { field, getOrNull, again } from "./forms.js";

const enc = encodeURIComponent;
const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);

async function allowPublic(name) {
  try {
    await call("POST", `/2015-03-31/functions/${enc(name)}/policy`, {
      StatementId: "FunctionURLAllowPublicAccess",
      Action: "lambda:InvokeFunctionUrl",
      Principal: "*",
      FunctionUrlAuthType: "NONE",
    });
  } catch (e) {
    // Already there: fine.
    if (e.type !== "ResourceConflictException") throw e;
  }
}

export async function renderUrl(body, name, fn) {
  const path = `/2021-10-31/functions/${enc(name)}/url`;
  const url = await getOrNull(path);
  const cors = url?.Cors || {};
  const auth = h("select", { id: "url-auth" }, ["AWS_IAM", "NONE"].map((a) =>
    h("option", { value: a, selected: (url?.AuthType || "AWS_IAM") === a }, a)));
  const mode = h("select", { id: "url-mode" }, ["BUFFERED", "RESPONSE_STREAM"].map((m) =>
    h("option", { value: m, selected: (url?.InvokeMode || "BUFFERED") === m }, m)));
  const origins = h("input", { id: "cors-origins", value: (cors.AllowOrigins || []).join(", "), placeholder: "https://example.com" });
  const methods = h("input", { id: "cors-methods", value: (cors.AllowMethods || []).join(", "), placeholder: "GET, POST" });
  const headers = h("input", { id: "cors-headers", value: (cors.AllowHeaders || []).join(", ") });
  const expose = h("input", { id: "cors-expose", value: (cors.ExposeHeaders || []).join(", ") });
  const maxAge = h("input", { id: "cors-max-age", type: "number", min: "0", max: "86400", value: cors.MaxAge === undefined ? "" : String(cors.MaxAge) });
  const credentials = h("input", { id: "cors-credentials", type: "checkbox", checked: !!cors.AllowCredentials });
  const save = h("button", { type: "submit", class: "primary" }, url ? "Save function URL" : "Create function URL");
  const form = h("form", {},
    h("div", { class: "grid" },
      field("Auth type", auth, "NONE: anyone may call it (a public permission is added). AWS_IAM: SigV4-signed calls only."),
      field("Invoke mode", mode),
      field("Allow origins", origins, "CORS, comma-separated; empty: no CORS headers."),
      field("Allow methods", methods),
      field("Allow headers", headers),
      field("Expose headers", expose),
      field("Max age (seconds)", maxAge)),
    h("div", { class: "field inline" }, credentials, h("label", { for: "cors-credentials" }, "Allow credentials")),
    h("div", { class: "actions" }, save));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const c = { AllowCredentials: credentials.checked };
    for (const [k, input] of [["AllowOrigins", origins], ["AllowMethods", methods], ["AllowHeaders", headers], ["ExposeHeaders", expose]]) {
      if (list(input.value).length) c[k] = list(input.value);
    }
    if (maxAge.value !== "") c.MaxAge = Number(maxAge.value);
    const req = { AuthType: auth.value, InvokeMode: mode.value, Cors: c };
    const ok = await busy(save, "Saving…", async () => {
      await call(url ? "PUT" : "POST", path, req);
      if (auth.value === "NONE") await allowPublic(name);
    });
    if (ok) await again(renderUrl, body, name, fn, url ? "Function URL saved." : "Function URL created.");
  });
  if (!url) {
    body.replaceChildren(h("h2", {}, "Function URL"), h("p", { class: "empty" }, "No function URL."), form);
    return;
  }
  const copy = h("button", { type: "button" }, "Copy URL");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url.FunctionUrl);
      status("Copied the URL.", "ok");
    } catch (e) {
      status(`Copy failed: ${e.message}`, "error");
    }
  });
  const del = h("button", { type: "button", class: "danger" }, "Delete function URL");
  del.addEventListener("click", async () => {
    const ok = await busy(del, "Deleting…", () => call("DELETE", path));
    if (ok) await again(renderUrl, body, name, fn, "Function URL deleted.");
  });
  body.replaceChildren(
    h("h2", {}, "Function URL"),
    h("p", {}, h("a", { id: "function-url", href: url.FunctionUrl, target: "_blank", rel: "noopener" }, url.FunctionUrl), " ", copy),
    form,
    h("div", { class: "actions" }, del));
}
