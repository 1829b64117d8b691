// The console's shell: hash routes to the pages.
import { h, status, takePending, serverConfig } from "./ui.js";
import { setCsrf } from "./api.js";
import { renderLogin, showUser, sessionLost } from "./login.js";
import { renderList, renderCreate } from "./pages.js";
import { renderFunction } from "./function.js";

async function route() {
  const main = document.getElementById("main");
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const message = takePending();
  status(message || "", "ok");
  const cfg = await serverConfig();
  if (!cfg.loggedIn) {
    renderLogin(main);
    return;
  }
  setCsrf(cfg.csrfToken);
  showUser(cfg);
  try {
    if (parts[0] === "create") await renderCreate(main);
    else if (parts[0] === "functions" && parts[1]) await renderFunction(main, parts[1], parts[2] || "code");
    else await renderList(main);
  } catch (e) {
    if (sessionLost(e)) return;
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, e.message));
  }
  const heading = main.querySelector("h1");
  if (heading) {
    document.title = `${heading.textContent} · lambdad console`;
  }
}

window.addEventListener("hashchange", route);
// The skip link focuses the content without touching the route.
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  document.getElementById("main").focus();
});
route();
