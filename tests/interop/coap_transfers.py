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


def option_bytes(number, prev, value):
    delta = number - prev
    if delta < 13:
        head, ext = delta, b""
    elif delta < 269:
        head, ext = 13, bytes([delta - 13])
    else:
        raise ValueError(delta)
    assert len(value) < 13
    return bytes([(head << 4) | len(value)]) + ext + value


def first_piece(size1):
    token, mid = os.urandom(4), os.urandom(2)
    pdu = bytes([0x40 | len(token), 0x02]) + mid + token
    opts = [(11, b".well-known"), (11, b"cmp"), (12, (259).to_bytes(2, "big")),
            (27, bytes([8 | 6])),  # Block1: piece 0, more to come, 1,024 octets
            (60, size1.to_bytes(4, "big"))]
    prev = 0
    for number, value in opts:
        pdu += option_bytes(number, prev, value)
        prev = number
    return pdu + b"\xff" + os.urandom(1024)


def options(pdu):
    pos, number, out = 4 + (pdu[0] & 15), 0, {}
    while pos < len(pdu) and pdu[pos] != 0xFF:
        delta, length = pdu[pos] >> 4, pdu[pos] & 15
        pos += 1
        if delta == 13:
            delta = pdu[pos] + 13
            pos += 1
        if length == 13:
            length = pdu[pos] + 13
            pos += 1
        number += delta
        out[number] = pdu[pos:pos + length]
        pos += length
    return out


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
    counts["continue" if code == (2 << 5 | 31) else
           "unavailable" if code == (5 << 5 | 3) else "other"] += 1
print("begun=%d continue=%d unavailable=%d other=%d" % (
    n, counts["continue"], counts["unavailable"], counts["other"]), flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
answer = ask(s, first_piece(100000000))
if answer is None:
    print("oversize=none size1=-")
else:
    size1 = options(answer).get(60)
    print("oversize=%d.%02d size1=%s" % (answer[1] >> 5, answer[1] & 31,
                                         int.from_bytes(size1, "big") if size1 else "-"))
