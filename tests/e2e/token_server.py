#!/usr/bin/env python3
"""A Docker token service for tests/e2e/test_push.sh (standard library + the
openssl command): docker-registry's `auth: token` sends clients here.

    token_server.py PORT_FILE KEY CERT SERVICE ISSUER USER PASSWORD LOG

Listens on 127.0.0.1 (a free port, written to PORT_FILE), checks HTTP Basic
credentials, and answers {"token": JWT} granting every scope asked for, the
JWT signed RS256 with KEY and carrying CERT in x5c (the registry trusts CERT
as its rootcertbundle).  Each request's scopes go to LOG, one line each, so
the test can check what the client asked for.  Never the password.
"""

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse

PORT_FILE, KEY, CERT, SERVICE, ISSUER, USER, PASSWORD, LOG = sys.argv[1:9]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64():
    with open(CERT) as f:
        return base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()


def sign(signing_input):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY],
                          input=signing_input, capture_output=True, check=True).stdout


def make_token(scopes):
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) == 3:
            access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64()]}
    claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        with open(LOG, "a") as log:
            log.write(("ok " if auth == good else "refused ") +
                      " ".join(query.get("scope", [])) + "\n")
        if url.path != "/token" or query.get("service") != [SERVICE]:
            self.send_response(400)
            self.end_headers()
            return
        if auth != good:
            body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}'
            self.send_response(401)
        else:
            token = make_token(query.get("scope", []))
            body = json.dumps({"token": token, "access_token": token,
                               "expires_in": 300}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
