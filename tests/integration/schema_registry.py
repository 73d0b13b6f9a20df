# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A minimal Confluent-compatible Schema Registry for the tests.

It implements the calls the agent and Confluent's Python client make:
  POST /subjects/{subject}/versions     register, returns {"id": N}
  POST /subjects/{subject}              look a schema up in a subject
  GET  /schemas/ids/{id}                the schema of an id
  GET  /subjects/{subject}/versions/latest
  GET  /subjects
and answers errors the way the real one does: {"error_code": N, "message": ...}.

`mode` makes it misbehave, for the tests of bad answers: "500", "401",
"nonjson", "huge", "slow" (answers after `slow_s`), or "ok".
Every request is recorded in `requests` (method, path, headers, body).
"""
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# What a proxy in front of a registry may answer instead of it.
NOT_JSON = b"<html><body>Bad Gateway</body></html>"


class Registry:
    def __init__(self, port=0, first_id=4100, user=None, password=None, mode="ok", tls=None):
        """tls: (certificate file, key file) to serve https instead of http."""
        self.first_id = first_id
        self.user, self.password = user, password
        self.mode = mode
        self.slow_s = 5.0
        self.subjects = {}   # subject -> [(version, id)]
        self.schemas = {}    # id -> {"schema":..., "schemaType":...}
        self.requests = []
        self.lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                registry._serve(self, None)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                registry._serve(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ answers

    def _send(self, h, status, doc=None, raw=None, chunked=False):
        body = raw if raw is not None else json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", CONTENT_TYPE)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        if chunked:
            for i in range(0, len(body), 100):
                part = body[i:i + 100]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            h.wfile.write(b"0\r\n\r\n")
        else:
            h.wfile.write(body)
        h.close_connection = True

    def _error(self, h, status, code, message):
        self._send(h, status, {"error_code": code, "message": message})

    def _authorized(self, h):
        if self.user is None:
            return True
        want = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return h.headers.get("Authorization") == "Basic " + want

    def _misbehave(self, h):
        mode = self.mode
        if mode == "500":
            self._error(h, 500, 50001, "Error in the backend data store")
        elif mode == "401":
            self._error(h, 401, 40101, "Unauthorized")
        elif mode == "nonjson":
            self._send(h, 502, raw=NOT_JSON)
        elif mode == "huge":
            self._send(h, 200, raw=b'{"id": 1, "pad": "' + b"x" * (256 * 1024) + b'"}')
        elif mode == "slow":
            time.sleep(self.slow_s)
            self._error(h, 500, 50002, "too late")
        else:
            return False
        return True

    def _serve(self, h, body):
        with self.lock:
            self.requests.append({"method": h.command, "path": h.path,
                                  "headers": dict(h.headers.items()), "body": body})
        if self._misbehave(h):
            return
        if not self._authorized(h):
            self._error(h, 401, 40101, "Unauthorized")
            return
        parts = [p for p in h.path.split("?")[0].split("/") if p]
        if h.command == "POST" and len(parts) == 3 and parts[0] == "subjects" \
                and parts[2] == "versions":
            self._register(h, parts[1], body)
        elif h.command == "POST" and len(parts) == 2 and parts[0] == "subjects":
            self._lookup(h, parts[1], body)
        elif h.command == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            self._by_id(h, parts[2])
        elif h.command == "GET" and len(parts) == 4 and parts[0] == "subjects" \
                and parts[2] == "versions":
            self._version(h, parts[1], parts[3])
        elif h.command == "GET" and parts == ["subjects"]:
            self._send(h, 200, sorted(self.subjects))
        else:
            self._error(h, 404, 404, "HTTP 404 Not Found")

    def _parse(self, h, body):
        try:
            doc = json.loads(body)
            schema = doc["schema"]
        except (ValueError, KeyError, TypeError):
            self._error(h, 422, 42201, "Either the input schema or one its references is invalid")
            return None
        return {"schema": schema, "schemaType": doc.get("schemaType", "AVRO")}

    def _register(self, h, subject, body):
        doc = self._parse(h, body)
        if doc is None:
            return
        with self.lock:
            for sid, known in self.schemas.items():
                if known == doc:
                    break
            else:
                sid = self.first_id + len(self.schemas)
                self.schemas[sid] = doc
            versions = self.subjects.setdefault(subject, [])
            if sid not in [i for _, i in versions]:
                versions.append((len(versions) + 1, sid))
        self._send(h, 200, {"id": sid}, chunked=True)

    def _lookup(self, h, subject, body):
        doc = self._parse(h, body)
        if doc is None:
            return
        for version, sid in self.subjects.get(subject, []):
            if self.schemas[sid] == doc:
                self._send(h, 200, dict(doc, subject=subject, version=version, id=sid))
                return
        self._error(h, 404, 40403, "Schema not found")

    def _by_id(self, h, sid):
        doc = self.schemas.get(int(sid)) if sid.isdigit() else None
        if doc is None:
            self._error(h, 404, 40403, "Schema not found")
        else:
            self._send(h, 200, doc)

    def _version(self, h, subject, version):
        versions = self.subjects.get(subject)
        if not versions:
            self._error(h, 404, 40401, f"Subject '{subject}' not found.")
            return
        v, sid = versions[-1] if version == "latest" else versions[int(version) - 1]
        self._send(h, 200, dict(self.schemas[sid], subject=subject, version=v, id=sid))
