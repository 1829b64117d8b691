// A small dependency-free code editor: a textarea whose text is drawn by a
// highlighted <pre> under it (Python and JavaScript keywords, strings,
// comments, numbers). Tab moves the focus as everywhere else (keyboard
// users are never trapped); the text is the textarea's own.

const KEYWORDS = {
  python:
    "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield",
  javascript:
    "async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while with yield",
  json: "true false null",
};

const TOKEN = {
  python: /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d[\d_]*(?:\.\d+)?\b)|([A-Za-z_]\w*)/g,
  javascript: /(\/\/[^\n]*|\/\*[\s\S]*?\*\/)|(`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d[\d_]*(?:\.\d+)?\b)|([A-Za-z_$][\w$]*)/g,
  json: /()("(?:\\.|[^"\\\n])*")|(-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)|([a-z]+)/g,
};

const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The text as HTML with <span class="tok-…"> around keywords, strings, comments and numbers. */
export function highlight(text, language) {
  const re = TOKEN[language];
  if (!re) return escapeHtml(text);
  const keywords = new Set(KEYWORDS[language].split(" "));
  let out = "";
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    out += escapeHtml(text.slice(last, m.index));
    let cls = null;
    if (m[1]) cls = "comment";
    else if (m[2]) cls = "string";
    else if (m[3]) cls = "number";
    else if (m[4] && keywords.has(m[4])) cls = "keyword";
    out += cls ? `<span class="tok-${cls}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
    last = m.index + m[0].length;
  }
  return out + escapeHtml(text.slice(last));
}

/** The language of a runtime or file name. */
export function languageOf(runtimeOrFile) {
  if (/^python|\.py$/.test(runtimeOrFile)) return "python";
  if (/^nodejs|\.(m|c)?js$/.test(runtimeOrFile)) return "javascript";
  if (/\.json$/.test(runtimeOrFile)) return "json";
  return "text";
}

/**
 * An editor in `host` (emptied), labelled by `label`; returns
 * { textarea, get value(), set value(v), set language(l) }.
 */
export function createEditor(host, { id, label, value = "", language = "text", rows = 18 }) {
  host.replaceChildren();
  host.classList.add("editor");
  const lab = document.createElement("label");
  lab.htmlFor = id;
  lab.textContent = label;
  const wrap = document.createElement("div");
  wrap.className = "editor-wrap";
  const pre = document.createElement("pre");
  pre.setAttribute("aria-hidden", "true");
  const code = document.createElement("code");
  pre.append(code);
  const ta = document.createElement("textarea");
  ta.id = id;
  ta.rows = rows;
  ta.spellcheck = false;
  ta.autocapitalize = "off";
  ta.setAttribute("autocomplete", "off");
  ta.value = value;
  wrap.append(pre, ta);
  host.append(lab, wrap);
  let lang = language;
  const render = () => {
    // A trailing newline needs a character after it to take up a line.
    code.innerHTML = highlight(ta.value, lang) + "\n";
  };
  ta.addEventListener("input", render);
  ta.addEventListener("scroll", () => {
    pre.scrollTop = ta.scrollTop;
    pre.scrollLeft = ta.scrollLeft;
  });
  render();
  return {
    textarea: ta,
    get value() {
      return ta.value;
    },
    set value(v) {
      ta.value = v;
      render();
    },
    set language(l) {
      lang = l;
      render();
    },
  };
}
