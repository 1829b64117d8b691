// The triggers tab: what invokes the function, each listed from its own
// public API and editable there: event source mappings (Lambda), EventBridge
// rules and schedules targeting it (ListRules, ListTargetsByRule), SNS
// subscriptions (ListSubscriptions) and HTTP API routes (API Gateway v2).
// A section the caller may not read shows the API's refusal on its own.
import { h, busy } from "./ui.js";
import { call } from "./api.js";
import { field, again } from "./forms.js";

const enc = encodeURIComponent;

/** EventBridge's JSON 1.1 API. */
const events = async (op, req) =>
  (await call("POST", "/", req, { "x-amz-target": `AWSEvents.${op}`, "content-type": "application/x-amz-json-1.1" })).json();

/** SNS's Query API: the response's XML document. */
async function sns(params) {
  const form = new URLSearchParams({ ...params, Version: "2010-03-31" }).toString();
  try {
    const out = await call("POST", "/", form, { "content-type": "application/x-www-form-urlencoded" });
    return new DOMParser().parseFromString(out.text, "application/xml");
  } catch (e) {
    // The Query protocol's errors are XML too: its Code and Message.
    const doc = new DOMParser().parseFromString(e.message, "application/xml");
    const code = doc.querySelector("Code")?.textContent;
    if (code) {
      e.type = code;
      e.message = doc.querySelector("Message")?.textContent || code;
    }
    throw e;
  }
}

const table = (id, heads, rows, empty) =>
  rows.length
    ? h("table", { class: "list", id },
      h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))
    : h("p", { class: "empty" }, empty);

/** Whether an ARN is the function's (itself, a version or an alias). */
const ofFunction = (arn, fnArn) => arn === fnArn || arn.startsWith(`${fnArn}:`);

/** Renders one section, or the error that kept it from loading. */
async function section(title, load) {
  const el = h("section", { class: "trigger" }, h("h2", {}, title), h("p", {}, "Loading…"));
  try {
    el.replaceChildren(h("h2", {}, title), ...(await load()));
  } catch (e) {
    el.replaceChildren(h("h2", {}, title), h("p", { class: "error" }, e.type ? `${e.type}: ${e.message}` : e.message));
  }
  return el;
}

export async function renderTriggers(body, name, fn) {
  const fnArn = fn.Configuration.FunctionArn;
  const redo = (message) => again(renderTriggers, body, name, fn, message);
  const sections = await Promise.all([
    section("Event source mappings", () => mappings(name, redo)),
    section("EventBridge rules and schedules", () => rules(name, fnArn, redo)),
    section("SNS subscriptions", () => subscriptions(fnArn, redo)),
    section("HTTP API routes", () => routes(fnArn)),
  ]);
  body.replaceChildren(...sections);
}

async function mappings(name, redo) {
  const list = (await call("GET", `/2015-03-31/event-source-mappings/?FunctionName=${enc(name)}`)).json().EventSourceMappings || [];
  const rows = list.map((m) => {
    const enabled = m.State === "Enabled" || m.State === "Enabling";
    const toggle = h("button", { type: "button", "aria-label": `${enabled ? "Disable" : "Enable"} mapping ${m.UUID}` }, enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", async () => {
      const ok = await busy(toggle, "Saving…", () => call("PUT", `/2015-03-31/event-source-mappings/${m.UUID}`, { Enabled: !enabled }));
      if (ok) await redo(`Mapping ${enabled ? "disabled" : "enabled"}.`);
    });
    const del = h("button", { type: "button", "aria-label": `Delete mapping ${m.UUID}` }, "Delete");
    del.addEventListener("click", async () => {
      const ok = await busy(del, "Deleting…", () => call("DELETE", `/2015-03-31/event-source-mappings/${m.UUID}`));
      if (ok) await redo("Mapping deleted.");
    });
    return h("tr", {}, h("td", {}, h("code", {}, m.EventSourceArn || "")), h("td", {}, m.State),
      h("td", { class: "num" }, String(m.BatchSize ?? "")), h("td", {}, toggle, " ", del));
  });
  const source = h("input", { id: "esm-source", required: true, placeholder: "arn:aws:sqs:…" });
  const batch = h("input", { id: "esm-batch", type: "number", min: "1", max: "10000", value: "10" });
  const add = h("button", { type: "submit" }, "Add event source mapping");
  const form = h("form", { class: "inline-form" }, field("Event source ARN", source), field("Batch size", batch), add);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await busy(add, "Creating…", () => call("POST", "/2015-03-31/event-source-mappings/", {
      FunctionName: name, EventSourceArn: source.value.trim(), BatchSize: Number(batch.value),
    }));
    if (ok) await redo("Mapping created.");
  });
  return [table("mappings", ["Source", "State", "Batch size", ""], rows, "No event source mappings."), form];
}

async function rules(name, fnArn, redo) {
  const all = [];
  let token;
  do {
    const page = await events("ListRules", token ? { NextToken: token } : {});
    all.push(...(page.Rules || []));
    token = page.NextToken;
  } while (token);
  const mine = [];
  for (const rule of all) {
    const targets = (await events("ListTargetsByRule", { Rule: rule.Name })).Targets || [];
    for (const t of targets.filter((t) => ofFunction(t.Arn, fnArn))) mine.push([rule, t]);
  }
  const rows = mine.map(([rule, target]) => {
    const enabled = rule.State === "ENABLED";
    const toggle = h("button", { type: "button", "aria-label": `${enabled ? "Disable" : "Enable"} rule ${rule.Name}` }, enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", async () => {
      const ok = await busy(toggle, "Saving…", () => events(enabled ? "DisableRule" : "EnableRule", { Name: rule.Name }));
      if (ok) await redo(`Rule ${rule.Name} ${enabled ? "disabled" : "enabled"}.`);
    });
    const remove = h("button", { type: "button", "aria-label": `Remove rule ${rule.Name}` }, "Remove");
    remove.addEventListener("click", async () => {
      const ok = await busy(remove, "Removing…", () => events("RemoveTargets", { Rule: rule.Name, Ids: [target.Id] }));
      if (ok) await redo(`Removed ${name} from rule ${rule.Name}.`);
    });
    return h("tr", {}, h("td", {}, rule.Name), h("td", {}, h("code", {}, rule.ScheduleExpression || rule.EventPattern || "")),
      h("td", {}, rule.State), h("td", {}, toggle, " ", remove));
  });
  const ruleName = h("input", { id: "rule-name", required: true, maxlength: "64" });
  const expression = h("input", { id: "rule-schedule", required: true, placeholder: "rate(5 minutes)" });
  const add = h("button", { type: "submit" }, "Add schedule");
  const form = h("form", { class: "inline-form" }, field("Rule name", ruleName), field("Schedule expression", expression), add);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = ruleName.value.trim();
    const ok = await busy(add, "Creating…", async () => {
      await events("PutRule", { Name: n, ScheduleExpression: expression.value.trim(), State: "ENABLED" });
      await events("PutTargets", { Rule: n, Targets: [{ Id: name, Arn: fnArn }] });
    });
    if (ok) await redo(`Schedule ${n} added.`);
  });
  return [table("rules", ["Rule", "Schedule or pattern", "State", ""], rows, "No rules target this function."), form];
}

async function subscriptions(fnArn, redo) {
  const mine = [];
  let token = "";
  do {
    const doc = await sns(token ? { Action: "ListSubscriptions", NextToken: token } : { Action: "ListSubscriptions" });
    for (const m of doc.querySelectorAll("Subscriptions > member")) {
      const get = (k) => m.querySelector(k)?.textContent || "";
      if (get("Protocol") === "lambda" && ofFunction(get("Endpoint"), fnArn)) {
        mine.push({ topic: get("TopicArn"), arn: get("SubscriptionArn") });
      }
    }
    token = doc.querySelector("ListSubscriptionsResult > NextToken")?.textContent || "";
  } while (token);
  const rows = mine.map((s) => {
    const del = h("button", { type: "button", "aria-label": `Unsubscribe from ${s.topic}` }, "Unsubscribe");
    del.addEventListener("click", async () => {
      const ok = await busy(del, "Unsubscribing…", () => sns({ Action: "Unsubscribe", SubscriptionArn: s.arn }));
      if (ok) await redo(`Unsubscribed from ${s.topic}.`);
    });
    return h("tr", {}, h("td", {}, h("code", {}, s.topic)), h("td", {}, h("code", {}, s.arn)), h("td", {}, del));
  });
  return [table("subscriptions", ["Topic", "Subscription", ""], rows, "No SNS subscriptions.")];
}

// `/v2/…` could name an S3 bucket too: the header says the request is the console's.
const gateway = async (path) => (await call("GET", path, undefined, { "x-lambdad-console": "1" })).json().items || [];

async function routes(fnArn) {
  const apis = await gateway("/v2/apis");
  const rows = [];
  for (const api of apis) {
    const id = enc(api.apiId);
    const [integrations, apiRoutes] = await Promise.all([
      gateway(`/v2/apis/${id}/integrations`),
      gateway(`/v2/apis/${id}/routes`),
    ]);
    const ours = new Set(integrations.filter((i) => (i.integrationUri || "").includes(fnArn)).map((i) => `integrations/${i.integrationId}`));
    for (const r of apiRoutes.filter((r) => ours.has(r.target))) {
      rows.push(h("tr", {}, h("td", {}, api.name), h("td", {}, h("code", {}, r.routeKey)), h("td", {}, api.apiEndpoint || "")));
    }
  }
  return [table("routes", ["API", "Route", "Endpoint"], rows, "No HTTP API routes integrate this function.")];
}
