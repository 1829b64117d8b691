// The operate tabs of a function's page (function.js lists them): triggers,
// function URL, concurrency (reserved and provisioned), asynchronous
// invocation, and settings (tags, ephemeral storage, logging). Each calls
// the public Lambda API (and the front doors' APIs) as the SDKs do. Their
// modules are loaded when a tab is opened, so the list page stays small.

const lazy = (module, name) => async (...args) => (await import(module))[name](...args);

export const OPERATE_TABS = [
  { id: "triggers", label: "Triggers", render: lazy("./triggers.js", "renderTriggers") },
  { id: "url", label: "Function URL", render: lazy("./urls.js", "renderUrl") },
  { id: "concurrency", label: "Concurrency", render: lazy("./concurrency.js", "renderConcurrency") },
  { id: "async", label: "Asynchronous invocation", render: lazy("./concurrency.js", "renderAsync") },
  { id: "settings", label: "Settings", render: lazy("./settings.js", "renderSettings") },
];
