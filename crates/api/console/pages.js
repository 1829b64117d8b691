// The function list and the create page.
import { h, busy, go, serverConfig } from "./ui.js";
import * as api from "./api.js";
import { createEditor, languageOf } from "./editor.js";
import { writeZip } from "./zip.js";

/** The managed runtimes lambdad offers (docs/runtimes.md). */
export const RUNTIMES = [
  "python3.13", "python3.12", "python3.11", "python3.10", "python3.9",
  "nodejs22.x", "nodejs20.x", "nodejs18.x",
];

/** A blank hello-world per language: its file and handler. */
export const TEMPLATES = {
  python: {
    file: "lambda_function.py",
    handler: "lambda_function.lambda_handler",
    code: `import json


def lambda_handler(event, context):
    print("event:", json.dumps(event))
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "Hello from lambdad!"}),
    }
`,
  },
  javascript: {
    file: "index.mjs",
    handler: "index.handler",
    code: `export const handler = async (event) => {
  console.log("event:", JSON.stringify(event));
  return {
    statusCode: 200,
    body: JSON.stringify({ message: "Hello from lambdad!" }),
  };
};
`,
  },
};

const when = (iso) => (iso ? new Date(iso.replace(/\+0000$/, "Z")).toLocaleString() : "");

export async function renderList(main) {
  main.replaceChildren(h("h1", {}, "Functions"), h("p", {}, "Loading…"));
  const functions = await api.listFunctions();
  functions.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const rows = functions.map((f) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/functions/${encodeURIComponent(f.FunctionName)}` }, f.FunctionName)),
      h("td", {}, f.Runtime || f.PackageType || ""),
      h("td", { class: "num" }, `${f.MemorySize} MB`),
      h("td", {}, when(f.LastModified)),
    ));
  main.replaceChildren(
    h("div", { class: "heading" },
      h("h1", {}, `Functions (${functions.length})`),
      h("button", { type: "button", class: "primary", onclick: () => go("#/create") }, "Create function")),
    functions.length
      ? h("table", { class: "list" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Function name"),
          h("th", { scope: "col" }, "Runtime"),
          h("th", { scope: "col", class: "num" }, "Memory"),
          h("th", { scope: "col" }, "Last modified"))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No functions yet."),
  );
}

export async function renderCreate(main) {
  const cfg = await serverConfig();
  const field = (label, input, hint) =>
    h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", {}, hint) : null);
  const name = h("input", { id: "fn-name", required: true, maxlength: "64", pattern: "[A-Za-z0-9_\\-]+", autocomplete: "off" });
  const runtime = h("select", { id: "fn-runtime" }, RUNTIMES.map((r) => h("option", { value: r }, r)));
  const arch = h("select", { id: "fn-arch" }, ["x86_64", "arm64"].map((a) => h("option", { value: a }, a)));
  const handler = h("input", { id: "fn-handler", required: true, value: TEMPLATES.python.handler });
  const role = h("input", { id: "fn-role", required: true, value: `arn:aws:iam::${cfg.accountId}:role/lambda-role` });
  const memory = h("input", { id: "fn-memory", type: "number", min: "128", max: "10240", value: "128" });
  const timeout = h("input", { id: "fn-timeout", type: "number", min: "1", max: "900", value: "3" });
  const editorHost = h("div", {});
  const submit = h("button", { type: "submit", class: "primary" }, "Create function");
  const form = h("form", { class: "create" },
    h("div", { class: "grid" },
      field("Function name", name, "Letters, numbers, hyphens and underscores."),
      field("Runtime", runtime),
      field("Handler", handler),
      field("Architecture", arch),
      field("Execution role", role),
      field("Memory (MB)", memory),
      field("Timeout (seconds)", timeout)),
    editorHost,
    h("div", { class: "actions" },
      submit,
      h("button", { type: "button", onclick: () => go("#/") }, "Cancel")));
  main.replaceChildren(h("h1", {}, "Create function"), form);
  let lang = "python";
  const editor = createEditor(editorHost, {
    id: "code-editor",
    label: `Code: ${TEMPLATES.python.file}`,
    value: TEMPLATES.python.code,
    language: "python",
  });
  const editorLabel = editorHost.querySelector("label");
  runtime.addEventListener("change", () => {
    const next = languageOf(runtime.value);
    if (next === lang) return;
    // The other language's blank template, unless the code was edited.
    if (editor.value === TEMPLATES[lang].code) editor.value = TEMPLATES[next].code;
    if (handler.value === TEMPLATES[lang].handler) handler.value = TEMPLATES[next].handler;
    lang = next;
    editor.language = next;
    editorLabel.textContent = `Code: ${TEMPLATES[next].file}`;
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fn = name.value.trim();
    const zip = writeZip([{ name: TEMPLATES[lang].file, data: editor.value }]);
    const ok = await busy(submit, `Creating ${fn}…`, async () => {
      await api.createFunction({
        FunctionName: fn,
        Runtime: runtime.value,
        Handler: handler.value.trim(),
        Role: role.value.trim(),
        MemorySize: Number(memory.value),
        Timeout: Number(timeout.value),
        Architectures: [arch.value],
        Code: { ZipFile: api.encodeBase64(zip) },
      });
    });
    if (ok) go(`#/functions/${encodeURIComponent(fn)}/code`, `Created ${fn}.`);
  });
  name.focus();
}
