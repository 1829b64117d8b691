// lambdad's Node.js runtime: runs an unmodified Lambda handler `file.export`
// (CommonJS or ES module; async, promise or callback style) against the
// Runtime API, with AWS's context object, error payloads and console format.
//
// Shipped inside the lambdad binary and exposed read-only at /var/runtime.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import module, { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import util from "node:util";
import { Writable } from "node:stream";

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const PREFIX = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const TASK = process.env.LAMBDA_TASK_ROOT || "/var/task";
const JSON_LOGS = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";

function call(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, path: PREFIX + p, method, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- response streaming (awslambda.streamifyResponse) --------------------------

const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = "response";
    return handler;
  },
  HttpResponseStream: {
    // The metadata prelude, then eight NUL bytes, before the body.
    from(stream, prelude) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(prelude ?? {}));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

// The runtime's side of a streamed `/response`: a chunked POST opened at the
// first write (so that the content type can still be set), ended by the
// handler or after it returns; errors go in the trailers.
function responseStream(id) {
  let req = null;
  let contentType = "application/octet-stream";
  let settle;
  const finished = new Promise((resolve, reject) => (settle = { resolve, reject }));
  const open = () => {
    if (req) return req;
    req = http.request(
      {
        host: HOST, port: PORT, path: `${PREFIX}/invocation/${id}/response`, method: "POST", agent,
        headers: {
          "Lambda-Runtime-Function-Response-Mode": "streaming",
          "Transfer-Encoding": "chunked",
          Trailer: "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
          "Content-Type": contentType,
        },
      },
      (res) => {
        res.resume();
        res.on("end", settle.resolve);
      },
    );
    req.on("error", settle.reject);
    return req;
  };
  const stream = new Writable({
    write(chunk, _enc, cb) {
      open().write(chunk, cb);
    },
    final(cb) {
      open().end();
      cb();
    },
  });
  stream.setContentType = (t) => (contentType = t);
  stream.started = () => req !== null;
  stream.fail = (err) => {
    const r = open();
    r.addTrailers({
      "Lambda-Runtime-Function-Error-Type": err.errorType,
      "Lambda-Runtime-Function-Error-Body": Buffer.from(JSON.stringify(err)).toString("base64"),
    });
    r.end();
  };
  stream.finished = finished;
  return stream;
}

async function runStreaming(fn, event, ctx) {
  const stream = responseStream(requestId);
  try {
    await fn(event, stream, ctx);
    if (!stream.writableEnded) stream.end();
  } catch (e) {
    if (!stream.started()) throw e; // nothing sent yet: an ordinary /error
    const err = toError(e);
    console.error(`Invoke Error \t${JSON.stringify(err)}`);
    stream.fail(err);
  }
  await stream.finished;
}

// ---- console ---------------------------------------------------------------

let requestId = "";
const write = (s) => fs.writeSync(1, s);
const RANK = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
// ApplicationLogLevel (JSON format only, as on AWS).
const MIN_RANK = JSON_LOGS ? RANK[(process.env.AWS_LAMBDA_LOG_LEVEL || "").toUpperCase()] ?? 0 : 0;

function patchConsole() {
  const levels = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" };
  for (const [name, level] of Object.entries(levels)) {
    if (RANK[level] < MIN_RANK) {
      console[name] = () => {};
      continue;
    }
    console[name] = (...args) => {
      const message = util.format(...args);
      if (JSON_LOGS) {
        write(JSON.stringify({ timestamp: new Date().toISOString(), level, requestId, message }) + "\n");
      } else {
        write(`${new Date().toISOString()}\t${requestId || "undefined"}\t${level}\t${message.replace(/\n/g, "\r")}\n`);
      }
    };
  }
}

// ---- errors ----------------------------------------------------------------

function toError(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name && err.name !== "Error" ? err.name : err.constructor?.name || "Error",
      errorMessage: err.message,
      trace: (err.stack || "").split("\n"),
    };
  }
  return { errorType: typeof err === "object" ? "Error" : "string", errorMessage: typeof err === "string" ? err : JSON.stringify(err), trace: [] };
}

class UserError extends Error {
  constructor(name, message, cause) {
    super(message);
    this.name = name;
    if (cause?.stack) this.stack = `${name}: ${message}\n${cause.stack.split("\n").slice(1).join("\n")}`;
  }
}

// ---- handler loading -------------------------------------------------------

// ES module imports search NODE_PATH too, as on Lambda's Node.js 18+ runtimes
// (Node.js itself does so only for require): a bare specifier that is not
// found from the importing file is looked up in each NODE_PATH directory, in
// order, so the function's own node_modules come first, then the layers',
// then the AWS SDK in /var/runtime/node_modules. The resolve hook costs a
// loader thread before Node.js 22.15 (~70 ms), so it is registered only when
// the handler's first import fails to find a package.
const NODE_PATH_BASES = String.raw`
const bases = (process.env.NODE_PATH || "").split(":")
  .filter((d) => d.endsWith("/node_modules"))
  .map((d) => "file://" + encodeURI(d.slice(0, -"node_modules".length)) + "lambdad-resolve.mjs");
const bare = (s) => !/^(\.{1,2}\/|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(s) && s !== "." && s !== "..";
const missing = (e, s) => e?.code === "ERR_MODULE_NOT_FOUND" && bare(s);
`;
const ASYNC_HOOK = NODE_PATH_BASES + `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (!missing(e, specifier)) throw e;
    for (const parentURL of bases) {
      try {
        return await next(specifier, { ...context, parentURL });
      } catch {}
    }
    throw e;
  }
}
`;
const SYNC_HOOK = NODE_PATH_BASES + `
export function resolve(specifier, context, next) {
  try {
    return next(specifier, context);
  } catch (e) {
    if (!missing(e, specifier)) throw e;
    for (const parentURL of bases) {
      try {
        return next(specifier, { ...context, parentURL });
      } catch {}
    }
    throw e;
  }
}
`;

let hooked = false;

async function searchNodePathForImports() {
  hooked = true;
  const url = (source) => "data:text/javascript," + encodeURIComponent(source);
  if (typeof module.registerHooks === "function") {
    // Node.js 22.15+: synchronous hooks on this thread.
    const hooks = await import(url(SYNC_HOOK));
    module.registerHooks({ resolve: hooks.resolve });
  } else if (typeof module.register === "function") {
    // Node.js 18.19+ and 20.6+: hooks on a loader thread.
    module.register(url(ASYNC_HOOK));
  }
}

// Imports the handler module; when a package it imports is not found, again
// with NODE_PATH searched (under another URL: the failed one stays cached).
async function importHandler(file) {
  const href = pathToFileURL(file).href;
  try {
    return await import(href);
  } catch (e) {
    if (hooked || e?.code !== "ERR_MODULE_NOT_FOUND" || !/Cannot find package/.test(e.message)) throw e;
    await searchNodePathForImports();
    return await import(href + "?node-path");
  }
}

async function loadHandler(spec) {
  const dot = spec.lastIndexOf(".");
  if (dot < 1) throw new UserError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const exportPath = spec.slice(dot + 1);
  const base = path.resolve(TASK, modulePath);
  let file = null;
  for (const ext of [".js", ".mjs", ".cjs", ""]) {
    if (fs.existsSync(base + ext) && fs.statSync(base + ext).isFile()) {
      file = base + ext;
      break;
    }
  }
  if (!file) {
    throw new UserError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'\nRequire stack:\n- ${new URL(import.meta.url).pathname}`);
  }
  let mod;
  const esm = file.endsWith(".mjs") || (file.endsWith(".js") && packageType(path.dirname(file)) === "module");
  try {
    if (esm) {
      mod = await importHandler(file);
    } else {
      try {
        mod = createRequire(file)(file);
      } catch (e) {
        if (e.code === "ERR_REQUIRE_ESM") mod = await importHandler(file);
        else throw e;
      }
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserError("Runtime.UserCodeSyntaxError", `${e.name}: ${e.message}`, e);
    if (e.code === "MODULE_NOT_FOUND" || e.code === "ERR_MODULE_NOT_FOUND") {
      throw new UserError("Runtime.ImportModuleError", `Error: ${e.message}`, e);
    }
    throw e;
  }
  let fn = mod;
  for (const part of exportPath.split(".")) fn = fn?.[part];
  if (fn === undefined && mod?.default) {
    fn = mod.default;
    for (const part of exportPath.split(".")) fn = fn?.[part];
  }
  if (fn === undefined) throw new UserError("Runtime.HandlerNotFound", `${spec} is undefined or not exported`);
  if (typeof fn !== "function") throw new UserError("Runtime.HandlerNotFound", `${spec} is not a function`);
  return fn;
}

function packageType(dir) {
  for (let d = dir; d.startsWith(TASK) || d.startsWith("/opt"); d = path.dirname(d)) {
    const pkg = path.join(d, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, "utf8")).type || "commonjs";
      } catch {
        return "commonjs";
      }
    }
    if (d === path.dirname(d)) break;
  }
  return "commonjs";
}

// ---- invoke loop -----------------------------------------------------------

function context(headers, deadline) {
  const parse = (h) => (headers[h] ? JSON.parse(headers[h]) : undefined);
  const cc = parse("lambda-runtime-client-context");
  const identity = parse("lambda-runtime-cognito-identity");
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: identity && { cognitoIdentityId: identity.cognitoIdentityId, cognitoIdentityPoolId: identity.cognitoIdentityPoolId },
    clientContext: cc,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    done: () => {},
    succeed: () => {},
    fail: () => {},
  };
}

function runHandler(fn, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (f) => (v) => {
      if (!settled) {
        settled = true;
        f(v);
      }
    };
    const ok = settle(resolve);
    const fail = settle(reject);
    const callback = (err, result) => (err !== undefined && err !== null ? fail(err) : ok(result));
    ctx.done = callback;
    ctx.succeed = (r) => callback(null, r);
    ctx.fail = (e) => callback(e ?? "handled");
    try {
      const out = fn(event, ctx, callback);
      if (out && typeof out.then === "function") out.then(ok, fail);
      else if (fn.length < 3) ok(out);
    } catch (e) {
      fail(e);
    }
  });
}

async function main() {
  patchConsole();
  let fn;
  try {
    fn = await loadHandler(process.env._HANDLER || "");
  } catch (e) {
    const err = toError(e);
    console.error(JSON.stringify({ errorType: err.errorType, errorMessage: err.errorMessage, stack: err.trace }));
    await call("POST", "/init/error", JSON.stringify(err), { "Lambda-Runtime-Function-Error-Type": err.errorType });
    process.exit(1);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    if (next.status !== 200) process.exit(1);
    const h = next.headers;
    requestId = h["lambda-runtime-aws-request-id"] || "";
    if (h["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"];
    else delete process.env._X_AMZN_TRACE_ID;
    try {
      const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
      const ctx = context(h, Number(h["lambda-runtime-deadline-ms"] || 0));
      if (fn[STREAMING] === "response") {
        await runStreaming(fn, event, ctx);
        continue;
      }
      const result = await runHandler(fn, event, ctx);
      const body = result === undefined ? "null" : JSON.stringify(result);
      await call("POST", `/invocation/${requestId}/response`, body === undefined ? "null" : body);
    } catch (e) {
      const err = toError(e);
      console.error(`Invoke Error \t${JSON.stringify(err)}`);
      await call("POST", `/invocation/${requestId}/error`, JSON.stringify(err), {
        "Lambda-Runtime-Function-Error-Type": err.errorType,
      });
    }
  }
}

process.on("unhandledRejection", (reason) => {
  const err = toError(reason);
  console.error(`Unhandled Promise Rejection \t${JSON.stringify({ errorType: "Runtime.UnhandledPromiseRejection", errorMessage: err.errorMessage, trace: err.trace })}`);
});

main();
