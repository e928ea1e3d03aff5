#!/usr/bin/env python3
"""abuse.py - the clients test_abuse.sh needs that openssl cmp is not: many
sockets from a chosen loopback address, requests abandoned as soon as sent,
a write lock held on the database, a request whose answer never comes.

Every wait is for a condition, bounded; nothing sleeps a fixed time.

  silent PORT SRC N -- CMD...      N silent connections from SRC held while CMD
                                   runs (CMD must succeed); then every one of
                                   them must be closed by the server (60 s)
  abandon PORT SRC N PATH REQ      N connections from SRC each POST REQ to PATH,
                                   then all close without reading
  post PORT SRC PATH REQ           one POST from SRC: prints "STATUS RETRY-AFTER"
  hold-lock DB READY RELEASE       BEGIN IMMEDIATE on DB, touch READY, hold until
                                   RELEASE exists (120 s), roll back
  stuck PORT PATH REQ READ OUT     POST REQ; once the server has read it (its
                                   socket's Recv-Q is empty: ss), touch READ; then
                                   write "answer STATUS" or "closed" to OUT
"""
import os
import select
import socket
import sqlite3
import subprocess
import sys
import time


def connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def http_request(path, body):
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pkixcmp\r\n"
            "Content-Length: %d\r\n\r\n" % (path, len(body))).encode()
    return head + body


def wait_until(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def closed_by_peer(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096) == b""
    except OSError:
        return True


def silent(port, src, n, cmd):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(port, src))
        except OSError as e:
            print("connect failed: %s" % e, file=sys.stderr)
            return 1
    rc = subprocess.call(cmd)
    if rc != 0:
        print("the command run beside %d silent sockets failed (%d)" % (n, rc), file=sys.stderr)
        return 1
    open_ones = list(socks)

    def all_closed():
        open_ones[:] = [s for s in open_ones if not closed_by_peer(s)]
        return not open_ones
    if not wait_until(all_closed, 60):
        print("%d of %d silent sockets still open after 60 s" % (len(open_ones), n),
              file=sys.stderr)
        return 1
    print("all %d silent sockets were closed by the server" % n)
    return 0


def abandon(port, src, n, path, req):
    der = open(req, "rb").read()
    # OpenSSL's PBM iteration count, 500 (INTEGER 01f4), made 10,000 (2710):
    # each check then costs a millisecond or more, so that the requests wait
    # for the workers while their clients leave.
    heavy = der.replace(b"\x02\x02\x01\xf4", b"\x02\x02\x27\x10", 1)
    if heavy == der:
        print("no PBM iteration count 500 in the request", file=sys.stderr)
        return 1
    msg = http_request(path, heavy)
    for _ in range(n):
        s = connect(port, src)
        s.sendall(msg)
        s.close()  # the request and the end of the connection arrive together
    return 0


def read_response(s, seconds):
    s.settimeout(seconds)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None, data
            data += chunk
    except OSError:
        return None, data
    return data.split(b"\r\n", 1)[0].decode(errors="replace"), data


def post(port, src, path, req):
    s = connect(port, src)
    s.sendall(http_request(path, open(req, "rb").read()))
    status, data = read_response(s, 30)
    if status is None:
        print("closed")
        return 1
    retry = "-"
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"retry-after:"):
            retry = line.split(b":", 1)[1].strip().decode()
    print("%s %s" % (status.split(" ")[1], retry))
    return 0


def hold_lock(db, ready, release):
    c = sqlite3.connect(db, timeout=30, isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    open(ready, "w").close()
    wait_until(lambda: os.path.exists(release), 120)
    c.execute("ROLLBACK")
    c.close()
    return 0


def recv_q(port, cport):
    out = subprocess.run(["ss", "-Htn", "state", "established",
                          "( sport = :%d and dport = :%d )" % (port, cport)],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def stuck(port, path, req, read, out):
    s = connect(port, "127.0.0.1")
    cport = s.getsockname()[1]
    s.sendall(http_request(path, open(req, "rb").read()))
    # On loopback the octets are in the server's queue when sendall returns:
    # an empty queue then means the server has read them.
    if not wait_until(lambda: recv_q(port, cport) == 0, 30):
        print("the server did not read the request", file=sys.stderr)
        return 1
    open(read, "w").close()
    status, _ = read_response(s, 60)
    with open(out, "w") as f:
        f.write("closed\n" if status is None else "answer %s\n" % status)
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "silent" and "--" in argv:
        k = argv.index("--")
        return silent(int(argv[2]), argv[3], int(argv[4]), argv[k + 1:])
    if cmd == "abandon" and len(argv) == 7:
        return abandon(int(argv[2]), argv[3], int(argv[4]), argv[5], argv[6])
    if cmd == "post" and len(argv) == 6:
        return post(int(argv[2]), argv[3], argv[4], argv[5])
    if cmd == "hold-lock" and len(argv) == 5:
        return hold_lock(argv[2], argv[3], argv[4])
    if cmd == "stuck" and len(argv) == 7:
        return stuck(int(argv[2]), argv[3], argv[4], argv[5], argv[6])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
