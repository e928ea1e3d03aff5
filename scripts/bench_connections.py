#!/usr/bin/env python3
"""bench_connections.py - holds N idle keep-alive HTTP connections to a running
cmpgw and prints the daemon's resident memory before and with them.

Usage: scripts/bench_connections.py PORT PID [N] [HOLD_SECONDS] [--tls CA_PEM]

Each connection sends one request the gateway answers without closing (a GET,
answered 405 with keep-alive), then stays idle: what a fleet of devices that
enrolled and keep their connection looks like.  The daemon's idle timeout
(`idle_timeout_ms`, default 60 s) must be longer than the run.  Raise the open
file limit first (ulimit -n 20000).  While the connections are held, run a load
generator against the same daemon to see their effect on throughput; the script
holds them for HOLD_SECONDS (default 0: release at once).  --tls CA_PEM: PORT
is an HTTPS listener whose certificate chains to CA_PEM; each connection makes
a full TLS handshake first (TLS 1.3, no resumption).
"""
import resource
import select
import ssl
import socket
import sys
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    args = sys.argv[1:]
    ctx = None
    if "--tls" in args:
        i = args.index("--tls")
        ctx = ssl.create_default_context(cafile=args[i + 1])
        ctx.check_hostname = False
        del args[i:i + 2]
    port, pid = int(args[0]), int(args[1])
    n = int(args[2]) if len(args) > 2 else 10000
    hold = float(args[3]) if len(args) > 3 else 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    before = rss_kib(pid)
    req = b"GET /.well-known/cmp HTTP/1.1\r\nHost: x\r\n\r\n"
    socks, t0 = [], time.time()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if ctx is not None:
            s = ctx.wrap_socket(s)
        s.sendall(req)
        socks.append(s)
    # every connection answered (405), and still open
    answered = 0
    for s in socks:
        data = s.recv(4096)
        if data.startswith(b"HTTP/1.1 405"):
            answered += 1
    # a connection the server closed would be readable (EOF) now
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    open_now = n - len(poller.poll(0))
    with_conns = rss_kib(pid)
    print("connections: opened=%d answered_405=%d still_open=%d secs=%.1f rss_before_kib=%d "
          "rss_with_kib=%d rss_per_conn_bytes=%.0f" %
          (n, answered, open_now, time.time() - t0, before, with_conns,
           (with_conns - before) * 1024.0 / max(n, 1)))
    sys.stdout.flush()
    time.sleep(hold)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
