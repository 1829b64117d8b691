// The settings tab: ephemeral storage and logging (UpdateFunctionConfiguration),
// and tags (ListTags, TagResource, UntagResource).
import { h, busy } from "./ui.js";
import { call } from "./api.js";
import { field, again } from "./forms.js";

const LEVELS = ["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

export async function renderSettings(body, name, fn) {
  const cfg = (await call("GET", `/2015-03-31/functions/${encodeURIComponent(name)}/configuration`)).json();
  const arn = cfg.FunctionArn;
  const tags = (await call("GET", `/2017-03-31/tags/${encodeURIComponent(arn)}`)).json().Tags || {};
  const logging = cfg.LoggingConfig || {};
  const storage = h("input", { id: "set-storage", type: "number", min: "512", max: "10240", value: String(cfg.EphemeralStorage?.Size ?? 512) });
  const format = h("select", { id: "set-log-format" }, ["Text", "JSON"].map((f) =>
    h("option", { value: f, selected: (logging.LogFormat || "Text") === f }, f)));
  const level = (id, current) => h("select", { id }, LEVELS.map((l) =>
    h("option", { value: l, selected: (current || "") === l }, l || "—")));
  const appLevel = level("set-app-level", logging.ApplicationLogLevel);
  const sysLevel = level("set-sys-level", logging.SystemLogLevel);
  const group = h("input", { id: "set-log-group", value: logging.LogGroup || "", placeholder: `/aws/lambda/${name}` });
  const save = h("button", { type: "submit", class: "primary" }, "Save settings");
  const form = h("form", {},
    h("div", { class: "grid" },
      field("Ephemeral storage (MB)", storage, "/tmp: 512 to 10240 MB."),
      field("Log format", format),
      field("Application log level", appLevel, "JSON format only."),
      field("System log level", sysLevel, "JSON format only."),
      field("Log group", group)),
    h("div", { class: "actions" }, save));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const lc = { LogFormat: format.value };
    if (format.value === "JSON") {
      if (appLevel.value) lc.ApplicationLogLevel = appLevel.value;
      if (sysLevel.value) lc.SystemLogLevel = sysLevel.value;
    }
    if (group.value.trim()) lc.LogGroup = group.value.trim();
    let out = null;
    const ok = await busy(save, "Saving…", async () => {
      out = (await call("PUT", `/2015-03-31/functions/${encodeURIComponent(name)}/configuration`, {
        EphemeralStorage: { Size: Number(storage.value) },
        LoggingConfig: lc,
      })).json();
    });
    if (ok) {
      await again(renderSettings, body, name, fn,
        `Saved: ${out.EphemeralStorage?.Size} MB of ephemeral storage, ${out.LoggingConfig?.LogFormat || "Text"} logs.`);
    }
  });

  const tagPath = `/2017-03-31/tags/${encodeURIComponent(arn)}`;
  const key = h("input", { id: "tag-key", maxlength: "128" });
  const value = h("input", { id: "tag-value", maxlength: "256" });
  const add = h("button", { type: "submit" }, "Add tag");
  const tagForm = h("form", { class: "inline-form" }, field("Tag key", key), field("Tag value", value), add);
  tagForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = key.value.trim();
    const ok = await busy(add, "Tagging…", () => call("POST", tagPath, { Tags: { [k]: value.value } }));
    if (ok) await again(renderSettings, body, name, fn, `Tagged ${k}.`);
  });
  const rows = Object.entries(tags).sort().map(([k, v]) => {
    const del = h("button", { type: "button", "aria-label": `Remove tag ${k}` }, "Remove");
    del.addEventListener("click", async () => {
      const ok = await busy(del, "Untagging…", () => call("DELETE", `${tagPath}?tagKeys=${encodeURIComponent(k)}`));
      if (ok) await again(renderSettings, body, name, fn, `Removed tag ${k}.`);
    });
    return h("tr", {}, h("td", {}, k), h("td", {}, v), h("td", {}, del));
  });
  body.replaceChildren(
    h("h2", {}, "Storage and logging"), form,
    h("h2", {}, "Tags"),
    rows.length
      ? h("table", { class: "list", id: "tags" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th", {}, ""))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No tags."),
    tagForm);
}
