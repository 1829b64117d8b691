// A function's page: its code, test events, configuration and versions, as
// tabs; publish a version and delete the function.
import { h, status, busy, go } from "./ui.js";
import * as api from "./api.js";
import { createEditor, languageOf } from "./editor.js";
import { readZip, writeZip } from "./zip.js";
import { renderTest } from "./test.js";
import { OPERATE_TABS } from "./operate.js";

const TABS = [
  ["code", "Code"],
  ["test", "Test"],
  ["configuration", "Configuration"],
  ["versions", "Versions"],
  ...OPERATE_TABS.map((t) => [t.id, t.label]),
];

const href = (name, tab) => `#/functions/${encodeURIComponent(name)}/${tab}`;

export async function renderFunction(main, name, tab) {
  const fn = await api.getFunction(name);
  const cfg = fn.Configuration;
  const body = h("section", { class: "tab", "aria-labelledby": `tab-${tab}` });
  const deleteButton = h("button", { type: "button", class: "danger", onclick: () => confirmDelete(name) }, "Delete");
  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Functions"), " / ", name),
    h("div", { class: "heading" }, h("h1", {}, name), deleteButton),
    h("dl", { class: "summary" },
      h("dt", {}, "Runtime"), h("dd", {}, cfg.Runtime || cfg.PackageType),
      h("dt", {}, "Handler"), h("dd", {}, cfg.Handler || "—"),
      h("dt", {}, "Memory"), h("dd", {}, `${cfg.MemorySize} MB`),
      h("dt", {}, "ARN"), h("dd", {}, h("code", {}, cfg.FunctionArn))),
    h("nav", { class: "tabs", "aria-label": "Function" },
      TABS.map(([id, label]) =>
        h("a", { id: `tab-${id}`, href: href(name, id), "aria-current": id === tab ? "page" : null }, label))),
    body,
  );
  const operate = OPERATE_TABS.find((t) => t.id === tab);
  if (operate) await operate.render(body, name, fn);
  else if (tab === "test") await renderTest(body, name);
  else if (tab === "configuration") renderConfiguration(body, name, cfg);
  else if (tab === "versions") await renderVersions(body, name);
  else await renderCode(body, name, fn);
}

function confirmDelete(name) {
  const dialog = h("dialog", { "aria-labelledby": "delete-title" });
  const yes = h("button", { type: "button", class: "danger" }, "Delete");
  const no = h("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
  dialog.append(
    h("h2", { id: "delete-title" }, `Delete ${name}?`),
    h("p", {}, "This deletes the function with all its versions and aliases. It cannot be undone."),
    h("div", { class: "actions" }, yes, no));
  dialog.addEventListener("close", () => dialog.remove());
  yes.addEventListener("click", async () => {
    const ok = await busy(yes, `Deleting ${name}…`, () => api.deleteFunction(name));
    dialog.close();
    if (ok) go("#/", `Deleted ${name}.`);
  });
  document.body.append(dialog);
  dialog.showModal();
  no.focus();
}

/** The file a handler names (`lambda_function.lambda_handler` → lambda_function.py). */
function handlerFile(files, handler = "") {
  const module = handler.split(".").slice(0, -1).join(".");
  const exts = [".py", ".mjs", ".js", ".cjs"];
  return files.find((f) => exts.some((e) => f.name === module + e))?.name || files[0]?.name;
}

const TEXT_FILE = /\.(py|m?js|cjs|ts|json|txt|md|ya?ml|toml|cfg|ini|html|css|sh)$/;

async function renderCode(body, name, fn) {
  const cfg = fn.Configuration;
  if (cfg.PackageType === "Image") {
    body.replaceChildren(h("p", {}, `A container image function: ${fn.Code?.ImageUri || ""}. Its code is not edited here.`));
    return;
  }
  body.replaceChildren(h("p", {}, "Loading the deployment package…"));
  const files = await readZip(await api.downloadCode(fn.Code.Location));
  const decoder = new TextDecoder();
  const edited = new Map();
  let current = handlerFile(files.filter((f) => TEXT_FILE.test(f.name)), cfg.Handler);
  const textOf = (fileName) =>
    edited.has(fileName) ? edited.get(fileName) : decoder.decode(files.find((f) => f.name === fileName).data);
  const picker = h("select", { id: "code-file" },
    files.filter((f) => TEXT_FILE.test(f.name)).map((f) => h("option", { value: f.name, selected: f.name === current }, f.name)));
  const editorHost = h("div", {});
  const deploy = h("button", { type: "button", class: "primary" }, "Deploy");
  body.replaceChildren(
    h("div", { class: "field inline" }, h("label", { for: "code-file" }, "File"), picker,
      h("small", {}, `${files.length} file(s) in the package, ${fn.Configuration.CodeSize} bytes.`)),
    editorHost,
    h("div", { class: "actions" }, deploy));
  if (!current) {
    editorHost.append(h("p", {}, "The package has no text file to edit."));
    deploy.disabled = true;
    return;
  }
  const editor = createEditor(editorHost, {
    id: "code-editor",
    label: "Code",
    value: textOf(current),
    language: languageOf(current),
  });
  editor.textarea.addEventListener("input", () => edited.set(current, editor.value));
  picker.addEventListener("change", () => {
    current = picker.value;
    editor.language = languageOf(current);
    editor.value = textOf(current);
  });
  deploy.addEventListener("click", () =>
    busy(deploy, `Deploying ${name}…`, async () => {
      const entries = files.map((f) => ({ name: f.name, mode: f.mode, data: edited.has(f.name) ? edited.get(f.name) : f.data }));
      const out = await api.updateCode(name, api.encodeBase64(writeZip(entries)));
      return `Deployed: code ${out.CodeSha256.slice(0, 12)}…, ${out.CodeSize} bytes.`;
    }));
}

function renderConfiguration(body, name, cfg) {
  const memory = h("input", { id: "cfg-memory", type: "number", min: "128", max: "10240", value: String(cfg.MemorySize) });
  const timeout = h("input", { id: "cfg-timeout", type: "number", min: "1", max: "900", value: String(cfg.Timeout) });
  const rows = h("tbody", {});
  const addRow = (k = "", v = "") => {
    const n = rows.children.length;
    const key = h("input", { value: k, "aria-label": `Key ${n + 1}`, class: "env-key" });
    const value = h("input", { value: v, "aria-label": `Value ${n + 1}`, class: "env-value" });
    const tr = h("tr", {}, h("td", {}, key), h("td", {}, value),
      h("td", {}, h("button", { type: "button", onclick: () => tr.remove() }, "Remove")));
    rows.append(tr);
  };
  for (const [k, v] of Object.entries(cfg.Environment?.Variables || {})) addRow(k, v);
  // Variables this key may not read (no lambda:GetFunctionConfiguration) are
  // not sent to the page, and a save leaves them as they are.
  const hidden = cfg.Environment?.Error;
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h("form", {},
    h("div", { class: "grid" },
      h("div", { class: "field" }, h("label", { for: "cfg-memory" }, "Memory (MB)"), memory),
      h("div", { class: "field" }, h("label", { for: "cfg-timeout" }, "Timeout (seconds)"), timeout)),
    h("h2", {}, "Environment variables"),
    hidden ? h("p", { class: "error", id: "env-hidden" }, `${hidden.ErrorCode}: ${hidden.Message}`) : null,
    h("table", { class: "env", hidden: !!hidden },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th", {}, ""))),
      rows),
    h("div", { class: "actions" },
      hidden ? null : h("button", { type: "button", onclick: () => addRow() }, "Add environment variable"),
      save));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const variables = {};
    for (const tr of rows.children) {
      const k = tr.querySelector(".env-key").value.trim();
      if (k) variables[k] = tr.querySelector(".env-value").value;
    }
    busy(save, `Saving ${name}…`, async () => {
      const req = { MemorySize: Number(memory.value), Timeout: Number(timeout.value) };
      if (!hidden) req.Environment = { Variables: variables };
      const out = await api.updateConfiguration(name, req);
      return `Saved: ${out.MemorySize} MB, ${out.Timeout} s, ${Object.keys(out.Environment?.Variables || {}).length} variable(s).`;
    });
  });
  body.replaceChildren(form);
}

async function renderVersions(body, name) {
  const [versions, aliases] = await Promise.all([api.listVersions(name), api.listAliases(name)]);
  const description = h("input", { id: "version-description", maxlength: "256" });
  const publish = h("button", { type: "submit", class: "primary" }, "Publish new version");
  const form = h("form", { class: "inline-form" },
    h("div", { class: "field" }, h("label", { for: "version-description" }, "Description"), description),
    publish);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let published = null;
    const ok = await busy(publish, "Publishing…", async () => {
      published = await api.publishVersion(name, description.value);
    });
    if (ok) {
      await renderVersions(body, name);
      status(`Published version ${published.Version}.`, "ok");
    }
  });
  body.replaceChildren(
    h("h2", {}, "Versions"),
    h("table", { class: "list", id: "versions" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, "Memory"), h("th", { scope: "col" }, "Code SHA-256"),
        h("th", { scope: "col" }, "Last modified"))),
      h("tbody", {}, versions.map((v) => h("tr", {},
        h("td", {}, v.Version), h("td", {}, v.Description || ""), h("td", { class: "num" }, `${v.MemorySize} MB`),
        h("td", {}, h("code", {}, v.CodeSha256.slice(0, 16))), h("td", {}, v.LastModified))))),
    form,
    h("h2", {}, "Aliases"),
    aliases.length
      ? h("table", { class: "list" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Alias"), h("th", { scope: "col" }, "Version"),
          h("th", { scope: "col" }, "Routing"))),
        h("tbody", {}, aliases.map((a) => h("tr", {}, h("td", {}, a.Name), h("td", {}, a.FunctionVersion),
          h("td", {}, Object.entries(a.RoutingConfig?.AdditionalVersionWeights || {})
            .map(([v, w]) => `${Math.round(w * 100)} % to ${v}`).join(", ") || "—")))))
      : h("p", { class: "empty" }, "No aliases (creating them here is not built yet)."));
}
