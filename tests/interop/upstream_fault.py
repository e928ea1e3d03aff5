#!/usr/bin/env python3
"""A CMP "CA" that misbehaves, for the upstream backend's fault tests.

    upstream_fault.py MODE [CA_PORT]

Listens on 127.0.0.1 at a port of its own, prints "PORT n" on stdout, and
answers every POST according to MODE:

  hang     reads the request and never answers (the connection stays open)
  http500  answers HTTP 500 with a text body
  garbage  answers 200 application/pkixcmp with octets that are not DER
  badsig   passes the request to the real CA at CA_PORT and flips one octet
           of the protection in its answer (the signature no longer verifies)
  replay   passes the first request to the real CA and answers every later
           one with that first answer (another transaction, another nonce,
           validly protected)

It runs until killed.
"""
import http.client
import http.server
import sys
import threading

MODE = sys.argv[1]
CA_PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
FIRST = []
LOCK = threading.Lock()


def der_len(b, i):
    """The length at b[i] and the index after it."""
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k


def flip_protection(msg):
    """Flips the last octet of the protection BIT STRING ([0] after body)."""
    b = bytearray(msg)
    _, i = der_len(b, 1)  # inside the PKIMessage SEQUENCE
    for _ in range(2):  # header, body
        n, j = der_len(b, i + 1)
        i = j + n
    assert b[i] == 0xA0, "no protection"
    n, j = der_len(b, i + 1)
    b[j + n - 1] ^= 0x01
    return bytes(b)


def to_ca(path, body):
    c = http.client.HTTPConnection("127.0.0.1", CA_PORT, timeout=30)
    c.request("POST", path, body, {"Content-Type": "application/pkixcmp"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, ctype, data):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if MODE == "hang":
            threading.Event().wait()
        elif MODE == "http500":
            self.answer(500, "text/plain", b"internal server error\n")
        elif MODE == "garbage":
            self.answer(200, "application/pkixcmp", b"\x30\x82\xff\xff not DER at all")
        elif MODE == "badsig":
            self.answer(200, "application/pkixcmp", flip_protection(to_ca(self.path, body)))
        elif MODE == "replay":
            with LOCK:
                if not FIRST:
                    FIRST.append(to_ca(self.path, body))
                data = FIRST[0]
            self.answer(200, "application/pkixcmp", data)
        else:
            self.answer(400, "text/plain", b"unknown mode\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
