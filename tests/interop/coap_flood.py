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

import coap_pdu as cp

port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.settimeout(0.2)
body = os.urandom(40)
for i in range(n):
    token = i.to_bytes(4, "big")
    pdu = cp.post(i, token, body, mtype=cp.NON)
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
    mtype, code, _, _, opts, _ = cp.parse(data)
    challenged += code == cp.code(4, 1)
    if code == cp.code(5, 3) and cp.MAX_AGE in opts:
        unavailable += 1
        max_age = max(max_age, cp.uint(opts[cp.MAX_AGE][0]))
print("sent=%d answers=%d unavailable=%d max_age=%d largest=%d request=%d challenged=%d" % (
    n, answers, unavailable, max_age, largest, len(pdu), challenged))
