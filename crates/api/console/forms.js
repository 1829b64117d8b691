// Small helpers of the operate tabs' forms.
import { h, status } from "./ui.js";
import { call } from "./api.js";

/** A field: label and input (or select), with an optional hint. */
export const field = (label, input, hint) =>
  h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", {}, hint) : null);

/** The JSON of a GET, or null when the API answers 404 (nothing configured). */
export async function getOrNull(path) {
  try {
    return (await call("GET", path)).json();
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/** Re-renders a tab, then reports `message`. */
export async function again(render, body, name, fn, message) {
  await render(body, name, fn);
  status(message, "ok");
}
