#!/usr/bin/env python3
"""A flaky reverse proxy for tests/e2e/test_push.sh (standard library only):
the first request of each kind (GET /v2/, HEAD of a blob, POST, PATCH and
PUT of an upload, PUT of a manifest) is answered 503 (its body read and
dropped); the others are passed to the registry on 127.0.0.1:UPSTREAM_PORT
and its answer passed back.  So the push succeeds only if the client retries
every kind of request, and a chunked upload that fails mid-way is started
again.

    flaky_proxy.py PORT_FILE UPSTREAM_PORT LOG

Listens on 127.0.0.1 (a free port, written to PORT_FILE); LOG gets one line
per request: "503 METHOD PATH" or "STATUS METHOD PATH".
"""

import http.client
import http.server
import os
import sys
import threading

PORT_FILE, UPSTREAM_PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failed_lock = threading.Lock()
failed_kinds = set()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log(self, status):
        with open(LOG, "a") as f:
            f.write(f"{status} {self.command} {self.path.split('?')[0]}\n")

    def kind(self):
        path = self.path.split("?")[0]
        for part in ("/manifests/", "/blobs/uploads/", "/blobs/"):
            if part in path:
                return self.command + " " + part
        return self.command + " " + path

    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        with failed_lock:
            fail = self.kind() not in failed_kinds
            failed_kinds.add(self.kind())
        if fail:
            self.log(503)
            text = b'{"errors": [{"code": "UNAVAILABLE", "message": "flaky proxy"}]}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(text)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM_PORT, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(self.command, self.path, body=body if body else None, headers=headers)
        resp = upstream.getresponse()
        data = resp.read()
        self.log(resp.status)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = relay


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
