#!/usr/bin/env python3
"""coap_blocks.py PORT - what a broken or hostile client does with blocks and
datagrams, against the CoAP listener at 127.0.0.1:PORT, /.well-known/cmp:
  garbage: 200 datagrams that are not CoAP (random octets, short headers);
  abandoned: the first piece of a Block1 transfer (64 octets, more to come),
    never continued;
  gap: the pieces 0 and then 2 of a transfer.
Prints one line per piece sent with the code of the server's answer to it
("none" when it said nothing within 3 s).
"""
import os
import socket
import sys

import coap_pdu as cp

port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)


def request(mid, token, num, payload):
    """A confirmable POST carrying piece num (more to come, SZX 2: 64 octets)."""
    return cp.post(mid, token, payload, [(cp.BLOCK1, bytes([(num << 4) | 8 | 2]))])


def answer(mid):
    try:
        while True:
            data, _ = s.recvfrom(65536)
            if int.from_bytes(data[2:4], "big") == mid:
                return cp.code_text(data[1])
    except socket.timeout:
        return "none"


for i in range(200):
    s.sendto(os.urandom(1 + i % 40), ("127.0.0.1", port))
print("garbage: 200 sent")
token = os.urandom(4)
s.sendto(request(0x1000, token, 0, os.urandom(64)), ("127.0.0.1", port))
print("abandoned piece 0: %s" % answer(0x1000))
token = os.urandom(4)
for mid, num in ((0x2000, 0), (0x2001, 2)):
    s.sendto(request(mid, token, num, os.urandom(64)), ("127.0.0.1", port))
    print("gap piece %d: %s" % (num, answer(mid)))
