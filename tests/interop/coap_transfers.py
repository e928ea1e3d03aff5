#!/usr/bin/env python3
"""coap_transfers.py PORT N - Block1 transfers begun and never finished, and
one announced too large, against the CoAP listener at 127.0.0.1:PORT,
/.well-known/cmp:
  N peers (a socket, and so a port, each) send the first 1,024-octet piece
  of a transfer announcing Size1 = 200,000, one after the other, each
  waiting up to 3 s for its answer; the sockets stay open;
  one more peer announces Size1 = 100,000,000.
Prints "begun=N continue=C unavailable=U other=O" (2.31, 5.03, anything
else or nothing) and "oversize=CODE size1=S" (the answer's code and the
Size1 it names).
"""
import os
import socket
import sys

import coap_pdu as cp


def first_piece(size1):
    """Piece 0 of a transfer, 1,024 octets, more to come, announcing size1."""
    return cp.post(int.from_bytes(os.urandom(2), "big"), os.urandom(4), os.urandom(1024),
                   [(cp.BLOCK1, bytes([8 | 6])), (cp.SIZE1, size1.to_bytes(4, "big"))])


def ask(sock, pdu):
    sock.sendto(pdu, ("127.0.0.1", port))
    try:
        while True:
            data, _ = sock.recvfrom(65536)
            if data[1] != 0:  # not an empty ACK
                return data
    except socket.timeout:
        return None


port, n = int(sys.argv[1]), int(sys.argv[2])
socks, counts = [], {"continue": 0, "unavailable": 0, "other": 0}
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    socks.append(s)
    answer = ask(s, first_piece(200000))
    code = answer[1] if answer else None
    counts["continue" if code == cp.code(2, 31) else
           "unavailable" if code == cp.code(5, 3) else "other"] += 1
print("begun=%d continue=%d unavailable=%d other=%d" % (
    n, counts["continue"], counts["unavailable"], counts["other"]), flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
answer = ask(s, first_piece(100000000))
if answer is None:
    print("oversize=none size1=-")
else:
    size1 = cp.parse(answer)[4].get(cp.SIZE1)
    print("oversize=%s size1=%s" % (cp.code_text(answer[1]), cp.uint(size1[0]) if size1 else "-"))
