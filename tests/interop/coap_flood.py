#!/usr/bin/env python3
"""coap_flood.py PORT N - N non-confirmable CoAP POSTs to /.well-known/cmp
(Content-Format 259, 40 octets of garbage each, a token of their own) sent as
fast as one socket sends them, from one address; then the answers are
collected for up to 10 s.  Prints "sent=N answers=A unavailable=U max_age=M
largest=L request=R challenged=C": how many answers came, how many were 5.03
with a Max-Age option, the largest Max-Age, the largest answer datagram and
the size of each request's (octets), and how many answers were 4.01 (the
Echo challenge of RFC 9175).
"""
import os
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.settimeout(0.2)
body = os.urandom(40)
for i in range(n):
    token = i.to_bytes(4, "big")
    pdu = bytes([0x50 | len(token), 0x02]) + (i & 0xFFFF).to_bytes(2, "big") + token
    pdu += bytes([0xBB]) + b".well-known" + bytes([0x03]) + b"cmp" + bytes([0x12, 0x01, 0x03])
    pdu += b"\xff" + body
    s.sendto(pdu, ("127.0.0.1", port))
answers = unavailable = max_age = largest = challenged = 0
deadline, last = time.time() + 10, time.time()
while time.time() < deadline and time.time() < last + 3:
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        continue
    last = time.time()
    if data[1] == 0:
        continue
    answers += 1
    largest = max(largest, len(data))
    challenged += data[1] == (4 << 5 | 1)
    if data[1] == (5 << 5 | 3):
        pos, number = 4 + (data[0] & 15), 0
        while pos < len(data) and data[pos] != 0xFF:
            delta, length = data[pos] >> 4, data[pos] & 15
            pos += 1
            if delta == 13:
                delta = data[pos] + 13
                pos += 1
            number += delta
            if number == 14:  # Max-Age
                unavailable += 1
                max_age = max(max_age, int.from_bytes(data[pos:pos + length], "big") if length else 0)
            pos += length
print("sent=%d answers=%d unavailable=%d max_age=%d largest=%d request=%d challenged=%d" % (
    n, answers, unavailable, max_age, largest, len(pdu), challenged))
