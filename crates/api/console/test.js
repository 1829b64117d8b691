// A function's test tab: named test events saved on the server (lambdad's
// own /_lambdad/functions/NAME/test-events), run against $LATEST, a version
// or an alias with the log tail, and the REPORT line's numbers.
import { h, status, busy, serverConfig } from "./ui.js";
import { TEMPLATES, templateText } from "./templates.js";
import * as api from "./api.js";
import { createEditor } from "./editor.js";

const DEFAULT_EVENT = '{\n  "key1": "value1",\n  "key2": "value2"\n}\n';

export async function renderTest(body, name) {
  const [versions, aliases, stored, cfg] = await Promise.all([
    api.listVersions(name), api.listAliases(name), api.listTestEvents(name), serverConfig(),
  ]);
  let events = stored;
  const targets = [
    ...versions.map((v) => v.Version),
    ...aliases.map((a) => a.Name),
  ];
  const qualifier = h("select", { id: "test-qualifier" }, targets.map((t) => h("option", { value: t }, t)));
  const saved = h("select", { id: "test-saved" });
  const eventName = h("input", { id: "test-name", maxlength: "25", autocomplete: "off" });
  const template = h("select", { id: "test-template" }, h("option", { value: "" }, "—"),
    TEMPLATES.map(([id, label]) => h("option", { value: id }, label)));
  const editorHost = h("div", {});
  const saveButton = h("button", { type: "button" }, "Save event");
  const deleteButton = h("button", { type: "button" }, "Delete event");
  const run = h("button", { type: "button", class: "primary" }, "Test");
  const result = h("section", { id: "test-result", "aria-live": "polite", "aria-labelledby": "result-title" });
  body.replaceChildren(
    h("div", { class: "grid" },
      h("div", { class: "field" }, h("label", { for: "test-saved" }, "Saved event"), saved),
      h("div", { class: "field" }, h("label", { for: "test-template" }, "Template"), template),
      h("div", { class: "field" }, h("label", { for: "test-name" }, "Event name"), eventName),
      h("div", { class: "field" }, h("label", { for: "test-qualifier" }, "Version or alias"), qualifier)),
    editorHost,
    h("div", { class: "actions" }, run, saveButton, deleteButton),
    result);
  const editor = createEditor(editorHost, { id: "test-event", label: "Event JSON", value: DEFAULT_EVENT, language: "json", rows: 10 });

  const fillSaved = (selected) => {
    saved.replaceChildren(
      h("option", { value: "" }, "New event"),
      ...Object.keys(events).sort().map((n) => h("option", { value: n, selected: n === selected }, n)));
    deleteButton.disabled = !selected;
  };
  // A template starts a new event (named after it) from the service's sample.
  template.addEventListener("change", () => {
    if (!template.value) return;
    editor.value = templateText(template.value, { account: cfg.accountId, region: cfg.region });
    eventName.value = template.value;
    saved.value = "";
    deleteButton.disabled = true;
  });
  saved.addEventListener("change", () => {
    eventName.value = saved.value;
    editor.value = saved.value ? events[saved.value] : DEFAULT_EVENT;
    deleteButton.disabled = !saved.value;
  });
  const firstSaved = Object.keys(events).sort()[0] || "";
  fillSaved(firstSaved);
  if (firstSaved) {
    eventName.value = firstSaved;
    editor.value = events[firstSaved];
  }

  const validJson = () => {
    try {
      JSON.parse(editor.value);
      return true;
    } catch (e) {
      status(`The event is not valid JSON: ${e.message}`, "error");
      return false;
    }
  };
  saveButton.addEventListener("click", () => {
    const n = eventName.value.trim();
    if (!/^[A-Za-z0-9_.-]{1,25}$/.test(n)) {
      status("Name the event: 1 to 25 letters, digits, '.', '_' or '-'.", "error");
      eventName.focus();
      return;
    }
    if (!validJson()) return;
    busy(saveButton, `Saving event ${n}…`, async () => {
      await api.putTestEvent(name, n, editor.value);
      events = await api.listTestEvents(name);
      fillSaved(n);
      return `Saved event ${n}.`;
    });
  });
  deleteButton.addEventListener("click", () => {
    const n = saved.value;
    if (!n) return;
    busy(deleteButton, `Deleting event ${n}…`, async () => {
      await api.deleteTestEvent(name, n);
      events = await api.listTestEvents(name);
      fillSaved("");
      eventName.value = "";
      editor.value = DEFAULT_EVENT;
      return `Deleted event ${n}.`;
    });
  });
  run.addEventListener("click", () => {
    if (!validJson()) return;
    busy(run, `Invoking ${name}:${qualifier.value}…`, async () => {
      const out = await api.invoke(name, qualifier.value, editor.value);
      showResult(result, out);
      return out.functionError ? `Invocation failed (${out.functionError}).` : "Invocation succeeded.";
    });
  });
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function showResult(result, out) {
  const r = api.parseReport(out.logTail) || {};
  const ms = (v) => (v === null || v === undefined ? "—" : `${v} ms`);
  const mb = (v) => (v === null || v === undefined ? "—" : `${v} MB`);
  const facts = [
    ["Status", out.functionError ? `Failed (${out.functionError})` : "Succeeded", "result-status"],
    ["Executed version", out.executedVersion || "—", "result-version"],
    ["Request ID", r.requestId || "—", "result-request-id"],
    ["Duration", ms(r.duration), "result-duration"],
    ["Billed duration", ms(r.billedDuration), "result-billed"],
    ["Memory size", mb(r.memorySize), "result-memory"],
    ["Max memory used", mb(r.maxMemoryUsed), "result-max-memory"],
    ["Init duration", r.initDuration === null || r.initDuration === undefined ? "— (warm start)" : ms(r.initDuration), "result-init"],
  ];
  result.className = out.functionError ? "failed" : "succeeded";
  result.replaceChildren(
    h("h2", { id: "result-title" }, "Execution result"),
    h("dl", { class: "summary" }, facts.flatMap(([k, v, id]) => [h("dt", {}, k), h("dd", { id }, v)])),
    h("h3", {}, "Response"),
    h("pre", { id: "result-response" }, pretty(out.payload)),
    h("h3", {}, "Log output (tail)"),
    h("pre", { id: "result-log" }, out.logTail));
}
