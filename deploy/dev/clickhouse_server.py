#!/usr/bin/env python3
"""ClickHouse's HTTP interface in front of chdb, for development and tests.

No modern ClickHouse server can be installed on the development machines, but
PyPI's `chdb-core` is the ClickHouse engine (26.x) in-process. This server
exposes it over the part of ClickHouse's HTTP protocol that Lunettes-rs uses
(the `clickhouse` Rust crate, `lunettes migrate`, the documented SQL), so the
sink talks HTTP exactly as it would to a real server and every query runs on
ClickHouse's own SQL engine. Anything outside that subset is rejected loudly
(HTTP 400 with the reason) rather than half-supported.

Supported:
  GET/HEAD /ping, GET / without a query        -> "Ok.\\n"
  GET /?query=...                              read-only queries (like ClickHouse)
  POST /?query=...  body                       query text = query + body, or the
                                               INSERT data when the query ends in
                                               `FORMAT <fmt>`
  POST / body                                  the body is the query (an INSERT's
                                               inline data follows its FORMAT line)
  multipart/form-data body                     `query` and `param_*` fields (what
                                               the crate sends for bound params)
  URL params: database, default_format, query_id, param_<name>, user/password
  (ignored: no auth), compress=0/decompress=0/enable_http_compression=0, any
  real ClickHouse setting (applied to that one query), e.g.
  insert_deduplication_token, async_insert, wait_for_async_insert.
  Headers: X-ClickHouse-User/Key (ignored), X-ClickHouse-Database,
  X-ClickHouse-Format, X-ClickHouse-Query-Id; chunked request bodies.

Errors come back as ClickHouse sends them: HTTP 500 (400 for a malformed
request), body `Code: N. DB::Exception: ... (version V)` and the
`X-ClickHouse-Exception-Code` header, so a client classifies them by code.

Queries are serialized through one lock on one chdb session (chdb is one
engine per process); `async_insert` is forced off by default as on a real
server, so an acknowledged INSERT is written.

Usage: clickhouse_server.py [--host 127.0.0.1] [--port 8123] [--data DIR]
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

try:
    from chdb import session as chdb_session
except ImportError:  # pragma: no cover - reported at start
    chdb_session = None

# Parameters of the HTTP interface itself (not settings).
HTTP_PARAMS = {"query", "database", "default_format", "query_id", "user", "password"}
# Parameters that must be off: the dev server neither (de)compresses nor keeps sessions.
MUST_BE_ZERO = {"compress", "decompress", "enable_http_compression"}
# Accepted and ignored: they only change progress reporting / buffering.
IGNORED_PARAMS = {"wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms"}
# Settings the server pins for every query (a real server's defaults).
BASELINE = {"async_insert": "0"}
# Statements a GET may run (ClickHouse runs GET requests with readonly=1).
READONLY_START = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|CHECK)\b", re.I)
# An INSERT whose data follows: "INSERT INTO t(...) [SETTINGS ...] FORMAT Fmt" then data.
INSERT_FORMAT = re.compile(
    r"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+([A-Za-z0-9_]+)[ \t]*(?:\r?\n|$)", re.I | re.S
)
ERROR_CODE = re.compile(r"Code:\s*(\d+)")
NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompactEachRow": "application/x-ndjson; charset=UTF-8",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNamesAndTypes": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}


class BadRequest(Exception):
    """A request outside the supported subset (HTTP 400)."""


class Engine:
    """One chdb session, used by one request at a time."""

    def __init__(self, data_dir):
        if chdb_session is None:
            sys.exit("clickhouse_server.py: chdb is not installed (pip install chdb-core)")
        os.makedirs(data_dir, exist_ok=True)
        self.session = chdb_session.Session(data_dir)
        self.lock = threading.Lock()
        self.current_db = None
        for name, value in BASELINE.items():
            self.session.query(f"SET {name} = {quote(value)}")
        names = self.session.query("SELECT name FROM system.settings", "TabSeparated").bytes()
        self.settings = set(names.decode().split())
        self.version = self.session.query("SELECT version()", "TabSeparated").bytes().decode().strip()

    def run(self, database, settings, params, sql, data, fmt):
        """Runs one statement; returns (body, rows_read, rows_written, elapsed_s, fmt)."""
        with self.lock:
            if database != self.current_db:
                self.current_db = None
                self.session.query(f"USE {ident(database)}")
                self.current_db = database
            for name, value in settings.items():
                self.session.query(f"SET {name} = {quote(value)}")
            try:
                return self._execute(params, sql, data, fmt)
            except Exception:
                # A query that fails mid-stream leaves its partial output (the
                # format header, rows already written) in chdb's buffer, and
                # the next query's result would start with it. A throwaway
                # query takes it.
                try:
                    self.session.query("SELECT 1", "TabSeparated")
                except Exception:  # pragma: no cover - the original error matters
                    pass
                raise
            finally:
                for name in settings:
                    if name in BASELINE:
                        self.session.query(f"SET {name} = {quote(BASELINE[name])}")
                    else:
                        self.session.query(f"SET {name} = DEFAULT")

    def _execute(self, params, sql, data, fmt):
        started = time.perf_counter()
        if data is not None:
            head, data_fmt = data
            with self.session.send_insert(head, data_fmt) as inserter:
                if sql:
                    inserter.append(sql)
                result = inserter.finish()
            written = getattr(result, "rows_written", 0)
            return b"", 0, written, time.perf_counter() - started, fmt
        result = self.session.query(sql, fmt, params=params or None)
        body = result.bytes() if result is not None else b""
        return (
            body,
            call(result, "rows_read"),
            call(result, "rows_written"),
            time.perf_counter() - started,
            fmt,
        )


def call(result, attr):
    value = getattr(result, attr, 0)
    try:
        return int(value() if callable(value) else value)
    except Exception:
        return 0


def quote(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name):
    if not NAME_OK.match(name):
        raise BadRequest(f"invalid database name {name!r}")
    return name


def parse_multipart(body, content_type):
    """Fields of a multipart/form-data body (text values only)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise BadRequest("multipart/form-data without a boundary")
    boundary = b"--" + match.group(1).encode()
    fields = {}
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("malformed multipart part (no header end)")
        name = re.search(rb'name="([^"]*)"', head)
        if not name:
            raise BadRequest("multipart part without a name")
        if value.endswith(b"\r\n"):
            value = value[:-2]
        fields[name.group(1).decode()] = value.decode()
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lunettes-dev-clickhouse"
    engine = None  # set in main()
    verbose = False

    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    # --- request plumbing -------------------------------------------------

    def read_body(self):
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if encoding == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BadRequest("connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        if encoding:
            raise BadRequest(f"unsupported Transfer-Encoding {encoding!r}")
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def fail(self, status, code, message):
        text = f"Code: {code}. DB::Exception: {message} (version {self.engine.version})\n"
        self.reply(
            status,
            text.encode(),
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(code),
            },
        )

    def do_HEAD(self):
        self.handle_request(readonly=True)

    def do_GET(self):
        self.handle_request(readonly=True)

    def do_POST(self):
        self.handle_request(readonly=False)

    def do_PUT(self):
        self.fail(400, 1, f"method {self.command} is not supported by the dev server")

    do_DELETE = do_PUT
    do_PATCH = do_PUT

    def handle_request(self, readonly):
        try:
            body = self.read_body()
        except (BadRequest, ValueError) as err:
            self.close_connection = True
            self.fail(400, 27, f"cannot read the request body: {err}")
            return
        url = urlsplit(self.path)
        if url.path == "/ping":
            self.reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if url.path != "/":
            self.fail(400, 1, f"unknown path {url.path!r}: the dev server serves / and /ping only")
            return
        try:
            self.handle_query(url.query, body, readonly)
        except BadRequest as err:
            self.fail(400, 1, str(err))

    def handle_query(self, query_string, body, readonly):
        params = parse_qsl(query_string, keep_blank_values=True)
        if not params and not body:
            self.reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        fields = {}
        for name, value in params:
            if name in fields:
                raise BadRequest(f"parameter {name!r} given twice")
            fields[name] = value
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            for name, value in parse_multipart(body, content_type).items():
                if name in fields:
                    raise BadRequest(f"parameter {name!r} given in both URL and form")
                fields[name] = value
            body = b""
        if self.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            raise BadRequest("compressed request bodies are not supported: send uncompressed")

        database = fields.pop("database", None) or self.headers.get("X-ClickHouse-Database") or "default"
        fmt = fields.pop("default_format", None) or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
        query_id = fields.pop("query_id", None) or self.headers.get("X-ClickHouse-Query-Id") or str(uuid.uuid4())
        fields.pop("user", None)
        fields.pop("password", None)
        query = fields.pop("query", None)
        settings, qparams = {}, {}
        for name, value in fields.items():
            if name.startswith("param_"):
                qparams[name[len("param_"):]] = value
            elif name in MUST_BE_ZERO:
                if value not in ("0", ""):
                    raise BadRequest(f"{name}={value} is not supported by the dev server: send uncompressed data")
            elif name in IGNORED_PARAMS:
                pass
            elif name in self.engine.settings:
                settings[name] = value
            else:
                raise BadRequest(f"unknown parameter {name!r} (not an HTTP parameter nor a ClickHouse setting)")

        if self.verbose:
            sys.stderr.write(f"query={query!r} db={database} settings={settings} params={qparams} body={len(body)}B\n")
        data = None
        if query is not None and body:
            match = INSERT_FORMAT.match(query)
            if match and match.end() >= len(query.rstrip()):
                data = (match.group(1), match.group(2))
                sql = body
            else:
                sql = query + "\n" + body.decode("utf-8", errors="strict")
        elif query is not None:
            sql = query
        else:
            text = body.decode("utf-8", errors="replace")
            match = INSERT_FORMAT.match(text)
            if match:
                data = (match.group(1), match.group(2))
                sql = body[len(text[: match.end()].encode("utf-8")):]
            else:
                sql = text
        if data is None and not sql.strip():
            self.fail(400, 62, "Empty query. (SYNTAX_ERROR)")
            return
        if readonly:
            if data is not None or not READONLY_START.match(sql):
                self.fail(
                    400,
                    164,
                    "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                    "implies readonly. You should use method POST for modifying queries. (READONLY)",
                )
                return
        try:
            out, rows_read, rows_written, elapsed, fmt = self.engine.run(
                database, settings, qparams, sql, data, fmt
            )
        except Exception as err:  # chdb raises RuntimeError/ChdbError with ClickHouse's text
            text = str(err)
            match = ERROR_CODE.search(text)
            code = int(match.group(1)) if match else 1001
            message = text.split("DB::Exception: ", 1)[-1] if "DB::Exception: " in text else text
            self.fail(500, code, message)
            return
        if self.verbose:
            sys.stderr.write(f"  -> rows_read={rows_read} rows_written={rows_written} out={len(out)}B {elapsed * 1000:.1f}ms\n")
        summary = {
            "read_rows": str(rows_read),
            "read_bytes": "0",
            "written_rows": str(rows_written),
            "written_bytes": str(len(sql) if data is not None else 0),
            "total_rows_to_read": "0",
            "result_rows": "0",
            "result_bytes": str(len(out)),
            "elapsed_ns": str(int(elapsed * 1e9)),
        }
        self.reply(
            200,
            out,
            {
                "Content-Type": CONTENT_TYPES.get(fmt, "application/octet-stream"),
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Server-Display-Name": "lunettes-dev",
                "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
            },
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data", default=os.path.join(os.getcwd(), ".clickhouse-dev"))
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    Handler.engine = Engine(args.data)
    Handler.verbose = args.verbose
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    host, port = server.server_address[:2]
    print(f"clickhouse dev server (chdb {Handler.engine.version}) on http://{host}:{port} data={args.data}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
