"""lambdad's Python runtime: runs an unmodified Lambda handler `module.function`
against the Runtime API, with AWS's context object, error payloads and log lines.

Shipped inside the lambdad binary and exposed read-only at /var/runtime.
"""

import _socket
import json
import os
import sys
import time

# `logging`, `traceback` and `socket` are not imported here: together they
# cost ~8 ms at every cold start (the socket module alone builds enums of all
# of _socket's constants). `logging` is configured the moment anything
# imports it (see LoggingFinder); `traceback` is imported when an error is
# reported.

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"


class Headers(dict):
    """Response headers, looked up without regard to case."""

    def get(self, key, default=None):
        return super().get(key.lower(), default)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())


class Response:
    def __init__(self, status, headers):
        self.status = status
        self.headers = headers


class Client:
    """One keep-alive HTTP/1.1 connection to the Runtime API, on a plain
    socket: http.client alone costs ~20 ms of imports at every cold start."""

    def __init__(self):
        host, _, port = API.rpartition(":")
        self.addr = (host, int(port))
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self.buf += chunk

    def take(self, n):
        parts, have = [self.buf], len(self.buf)
        while have < n:
            chunk = self.sock.recv(max(65536, n - have))
            if not chunk:
                raise ConnectionError("the Runtime API closed the connection")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self.buf = data[:n], data[n:]
        return out

    def line(self):
        while b"\r\n" not in self.buf:
            self.recv()
        out, _, self.buf = self.buf.partition(b"\r\n")
        return out

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                body += self.take(size)
                self.take(2)
        else:
            body = self.take(int(headers.get("Content-Length", "0")))
        if headers.get("Connection", "").lower() == "close":
            self.close()
        return Response(status, headers), body

    def call(self, method, path, body=None, headers=None):
        if isinstance(body, str):
            body = body.encode()
        body = body or b""
        head = f"{method} {PREFIX}{path} HTTP/1.1\r\nHost: {API}\r\nContent-Length: {len(body)}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        request = (head + "\r\n").encode("iso-8859-1") + body
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
                    self.sock.connect(self.addr)
                    self.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                self.sock.sendall(request)
                return self.response()
            except (OSError, ValueError, IndexError):
                self.close()
                if attempt:
                    raise


CLIENT = Client()


class CognitoIdentity:
    def __init__(self, data):
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class ClientInfo:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = ClientInfo(data.get("client") or {}) if data.get("client") else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_arn, client_context, identity):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_arn
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity or {})
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={0},log_group_name={1},log_stream_name={2},function_name={3},"
            "memory_limit_in_mb={4},function_version={5},invoked_function_arn={6},client_context={7},identity={8}])"
        ).format(
            self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
            self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
            self.client_context, self.identity,
        )


# ---- logging ---------------------------------------------------------------

REQUEST_ID = ""
JSON_LOGS = os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON"


def setup_logging(logging):
    """Gives the root logger AWS's handler: its line format (or JSON) with
    the request id, on stdout."""

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = REQUEST_ID
            return True

    class TextFormatter(logging.Formatter):
        def __init__(self):
            super().__init__("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
            self.converter = time.gmtime

    class JsonFormatter(logging.Formatter):
        def format(self, record):
            out = {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "requestId": getattr(record, "aws_request_id", REQUEST_ID),
            }
            if record.exc_info and record.exc_info[0]:
                import traceback

                out["errorType"] = record.exc_info[0].__name__
                out["errorMessage"] = str(record.exc_info[1])
                out["stackTrace"] = traceback.format_tb(record.exc_info[2])
            return json.dumps(out, default=str)

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if JSON_LOGS else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if JSON_LOGS:
        root.setLevel({"TRACE": 5, "FATAL": 50}.get(level, getattr(logging, level or "INFO", logging.INFO)))


class LoggingFinder:
    """An import hook that runs setup_logging right after `logging` is first
    imported (by the function or by anything it uses), so that the root
    logger has AWS's handler from its first use, as on Lambda."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        spec.loader = ConfiguringLoader(spec.loader)
        return spec


class ConfiguringLoader:
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        setup_logging(module)


def configure_logging_on_import():
    if "logging" in sys.modules:
        setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, LoggingFinder())


# ---- errors ----------------------------------------------------------------

class FaultError(Exception):
    def __init__(self, error_type, message, tb=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.tb = tb


def stack(tb):
    if not tb:
        return []
    import traceback

    return traceback.format_list(traceback.extract_tb(tb))


def error_payload(error_type, message, tb, request_id):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack(tb)}


def log_error(error_type, message, tb):
    if JSON_LOGS:
        sys.stdout.write(json.dumps({
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "ERROR",
            "message": message, "errorType": error_type, "errorMessage": message,
            "requestId": REQUEST_ID, "stackTrace": stack(tb),
        }) + "\n")
    else:
        lines = "".join(stack(tb)).replace("\n", "\r")
        sys.stdout.write(f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):\r{lines}\n")
    sys.stdout.flush()


# ---- init ------------------------------------------------------------------

def load_handler(spec):
    import importlib

    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as e:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}")
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}")
    except SyntaxError as e:
        raise FaultError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", e.__traceback__)
    except Exception as e:
        raise FaultError(type(e).__name__, str(e), e.__traceback__)
    if modname.startswith("__"):
        raise FaultError("Runtime.BadFunctionCode", "Cannot use built-in module {} as a handler module".format(modname))
    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")


def main():
    sys.stdout = os.fdopen(sys.stdout.fileno(), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    sys.stderr = os.fdopen(sys.stderr.fileno(), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for p in reversed([task, "/opt/python", f"/opt/python/lib/{minor}/site-packages"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    os.chdir(task)
    configure_logging_on_import()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as e:
        log_error(e.error_type, e.message, e.tb)
        body = json.dumps(error_payload(e.error_type, e.message, e.tb, ""))
        CLIENT.call("POST", "/init/error", body, {"Lambda-Runtime-Function-Error-Type": e.error_type})
        sys.exit(1)

    global REQUEST_ID
    while True:
        resp, body = CLIENT.call("GET", "/invocation/next")
        if resp.status != 200:
            sys.exit(1)
        h = resp.headers
        request_id = h.get("Lambda-Runtime-Aws-Request-Id", "")
        REQUEST_ID = request_id
        if h.get("Lambda-Runtime-Trace-Id"):
            os.environ["_X_AMZN_TRACE_ID"] = h["Lambda-Runtime-Trace-Id"]
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            client_context = json.loads(h["Lambda-Runtime-Client-Context"]) if h.get("Lambda-Runtime-Client-Context") else None
            identity = json.loads(h["Lambda-Runtime-Cognito-Identity"]) if h.get("Lambda-Runtime-Cognito-Identity") else None
            context = LambdaContext(request_id, int(h.get("Lambda-Runtime-Deadline-Ms", "0")),
                                    h.get("Lambda-Runtime-Invoked-Function-Arn"), client_context, identity)
            try:
                event = json.loads(body) if body else {}
            except ValueError as e:
                raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}")
            result = handler(event, context)
            try:
                out = json.dumps(result)
            except (TypeError, ValueError) as e:
                raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {e}")
            CLIENT.call("POST", f"/invocation/{request_id}/response", out.encode())
        except FaultError as e:
            log_error(e.error_type, e.message, e.tb)
            payload = json.dumps(error_payload(e.error_type, e.message, e.tb, request_id))
            CLIENT.call("POST", f"/invocation/{request_id}/error", payload, {"Lambda-Runtime-Function-Error-Type": e.error_type})
        except Exception as e:
            tb = e.__traceback__.tb_next if e.__traceback__ else None
            error_type = type(e).__name__
            log_error(error_type, str(e), tb)
            payload = json.dumps(error_payload(error_type, str(e), tb, request_id))
            CLIENT.call("POST", f"/invocation/{request_id}/error", payload, {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
        sys.stdout.flush()


if __name__ == "__main__":
    main()
