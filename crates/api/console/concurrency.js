// The concurrency tab (reserved and provisioned concurrency) and the
// asynchronous invocation tab (retries, maximum event age, destinations).
import { h, busy } from "./ui.js";
import { call } from "./api.js";
import { field, getOrNull, again } from "./forms.js";

const enc = encodeURIComponent;

export async function renderConcurrency(body, name, fn) {
  const [reserved, provisioned, versions, aliases] = await Promise.all([
    call("GET", `/2019-09-30/functions/${enc(name)}/concurrency`).then((r) => r.json()),
    call("GET", `/2019-09-30/functions/${enc(name)}/provisioned-concurrency?List=ALL`).then((r) => r.json()),
    call("GET", `/2015-03-31/functions/${enc(name)}/versions`).then((r) => r.json().Versions || []),
    call("GET", `/2015-03-31/functions/${enc(name)}/aliases`).then((r) => r.json().Aliases || []),
  ]);
  const current = reserved.ReservedConcurrentExecutions;
  const count = h("input", { id: "reserved", type: "number", min: "0", value: current === undefined ? "" : String(current) });
  const save = h("button", { type: "submit", class: "primary" }, "Save reserved concurrency");
  const remove = h("button", { type: "button", disabled: current === undefined }, "Remove reserved concurrency");
  const reservedForm = h("form", { class: "inline-form" },
    field("Reserved concurrency", count, current === undefined ? "Unreserved: the account's pool." : null), save, remove);
  reservedForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await busy(save, "Saving…", () =>
      call("PUT", `/2017-10-31/functions/${enc(name)}/concurrency`, { ReservedConcurrentExecutions: Number(count.value) }));
    if (ok) await again(renderConcurrency, body, name, fn, `Reserved concurrency: ${count.value}.`);
  });
  remove.addEventListener("click", async () => {
    const ok = await busy(remove, "Removing…", () => call("DELETE", `/2017-10-31/functions/${enc(name)}/concurrency`));
    if (ok) await again(renderConcurrency, body, name, fn, "Reserved concurrency removed.");
  });

  const configs = provisioned.ProvisionedConcurrencyConfigs || [];
  const qualifiers = [...versions.map((v) => v.Version).filter((v) => v !== "$LATEST"), ...aliases.map((a) => a.Name)];
  const qualifier = h("select", { id: "pc-qualifier" }, qualifiers.map((q) => h("option", { value: q }, q)));
  const pcCount = h("input", { id: "pc-count", type: "number", min: "1", value: "1" });
  const add = h("button", { type: "submit", class: "primary", disabled: !qualifiers.length }, "Add provisioned concurrency");
  const pcForm = h("form", { class: "inline-form" },
    field("Version or alias", qualifier), field("Provisioned concurrency", pcCount), add);
  pcForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = qualifier.value;
    const ok = await busy(add, "Saving…", () =>
      call("PUT", `/2019-09-30/functions/${enc(name)}/provisioned-concurrency?Qualifier=${enc(q)}`,
        { ProvisionedConcurrentExecutions: Number(pcCount.value) }));
    if (ok) await again(renderConcurrency, body, name, fn, `Provisioned concurrency on ${q}: ${pcCount.value}.`);
  });
  const rows = configs.map((c) => {
    const q = c.FunctionArn.split(":").pop();
    const del = h("button", { type: "button", "aria-label": `Remove provisioned concurrency of ${q}` }, "Remove");
    del.addEventListener("click", async () => {
      const ok = await busy(del, "Removing…", () =>
        call("DELETE", `/2019-09-30/functions/${enc(name)}/provisioned-concurrency?Qualifier=${enc(q)}`));
      if (ok) await again(renderConcurrency, body, name, fn, `Provisioned concurrency of ${q} removed.`);
    });
    return h("tr", {}, h("td", {}, q), h("td", { class: "num" }, String(c.RequestedProvisionedConcurrentExecutions)),
      h("td", { class: "num" }, String(c.AvailableProvisionedConcurrentExecutions ?? 0)), h("td", {}, c.Status), h("td", {}, del));
  });
  body.replaceChildren(
    h("h2", {}, "Reserved concurrency"), reservedForm,
    h("h2", {}, "Provisioned concurrency"),
    configs.length
      ? h("table", { class: "list", id: "provisioned" },
        h("thead", {}, h("tr", {}, ["Qualifier", "Requested", "Available", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No provisioned concurrency."),
    qualifiers.length ? pcForm : h("p", {}, "Publish a version (or create an alias) to provision concurrency for it."));
}

export async function renderAsync(body, name, fn) {
  const path = `/2019-09-25/functions/${enc(name)}/event-invoke-config`;
  const cfg = await getOrNull(path);
  const retries = h("select", { id: "async-retries" }, ["0", "1", "2"].map((v) =>
    h("option", { value: v, selected: String(cfg?.MaximumRetryAttempts ?? 2) === v }, v)));
  const age = h("input", { id: "async-age", type: "number", min: "60", max: "21600", value: String(cfg?.MaximumEventAgeInSeconds ?? 21600) });
  const onSuccess = h("input", { id: "async-success", value: cfg?.DestinationConfig?.OnSuccess?.Destination || "", placeholder: "arn:aws:sqs:…" });
  const onFailure = h("input", { id: "async-failure", value: cfg?.DestinationConfig?.OnFailure?.Destination || "", placeholder: "arn:aws:sqs:…" });
  const save = h("button", { type: "submit", class: "primary" }, "Save asynchronous configuration");
  const remove = h("button", { type: "button", disabled: !cfg }, "Remove asynchronous configuration");
  const form = h("form", {},
    h("div", { class: "grid" },
      field("Retry attempts", retries),
      field("Maximum event age (seconds)", age, "60 to 21600."),
      field("On-success destination", onSuccess, "A queue, topic, function or event bus ARN; empty: none."),
      field("On-failure destination", onFailure, "A queue, topic, function or event bus ARN; empty: none.")),
    h("div", { class: "actions" }, save, remove));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const destinations = {};
    if (onSuccess.value.trim()) destinations.OnSuccess = { Destination: onSuccess.value.trim() };
    if (onFailure.value.trim()) destinations.OnFailure = { Destination: onFailure.value.trim() };
    const ok = await busy(save, "Saving…", () => call("PUT", path, {
      MaximumRetryAttempts: Number(retries.value),
      MaximumEventAgeInSeconds: Number(age.value),
      DestinationConfig: destinations,
    }));
    if (ok) await again(renderAsync, body, name, fn, "Asynchronous configuration saved.");
  });
  remove.addEventListener("click", async () => {
    const ok = await busy(remove, "Removing…", () => call("DELETE", path));
    if (ok) await again(renderAsync, body, name, fn, "Asynchronous configuration removed.");
  });
  body.replaceChildren(
    h("h2", {}, "Asynchronous invocation"),
    h("p", {}, cfg ? `Last modified ${new Date(cfg.LastModified * 1000 || cfg.LastModified).toLocaleString()}.`
      : "Not configured: 2 retries, events kept up to 6 hours, no destinations."),
    form);
}
