#!/usr/bin/env python3
"""coap_raw.py PORT FILE COPIES - one confirmable CoAP POST of FILE to
/.well-known/cmp (Content-Format 259) sent COPIES times as the same datagram,
as a client's retransmissions are (same message ID, same token); acknowledges
what the server sends back, and prints one line per answer: its code, its
type (CON or NON), its Content-Format, whether it is the first Block2 piece,
and the sizes of the answer's datagram and of the request's.  A 4.01 with an
Echo option (RFC 9175) is printed as "challenge ..." and the request sent
again, once, with that Echo and a new message ID.  Exits 0 once an answer
came (and two more seconds passed, for a second one that must not), 1 when
none came within 30 s.
"""
import os
import socket
import sys
import time

import coap_pdu as cp


def request(mid, token, body, echo=None):
    return cp.post(mid, token, body, [(cp.ECHO, echo)] if echo is not None else [])


def main():
    port, body, copies = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3])
    mid, token = int.from_bytes(os.urandom(2), "big"), os.urandom(4)
    pdu = request(mid, token, body)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    for _ in range(copies):
        s.sendto(pdu, ("127.0.0.1", port))
    deadline, answered, challenged = time.time() + 30, None, False
    while time.time() < deadline and (answered is None or time.time() < answered + 2):
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        mtype, code, rmid, rtoken, opts, payload = cp.parse(data)
        if code == 0:
            continue  # an empty ACK
        if mtype == cp.CON:  # a confirmable answer: acknowledged
            s.sendto(bytes([0x60, 0x00]) + rmid.to_bytes(2, "big"), peer)
        if rtoken != token:
            continue
        echo = opts.get(cp.ECHO)
        if code == cp.code(4, 1) and echo and not challenged:
            print("challenge 4.01 echo=%d size=%d request=%d" % (len(echo[0]), len(data), len(pdu)),
                  flush=True)
            challenged = True
            pdu = request(mid + 1, token, body, echo[0])
            s.sendto(pdu, ("127.0.0.1", port))
            continue
        cf = opts.get(cp.CONTENT_FORMAT)
        block2 = opts.get(23)
        print("answer %s type=%s cf=%s block2=%s payload=%d size=%d request=%d" % (
            cp.code_text(code), {cp.CON: "CON", cp.NON: "NON"}.get(mtype, "ACK"),
            cp.uint(cf[0]) if cf else "-",
            "first" if block2 and cp.uint(block2[0]) >> 4 == 0 else "-",
            len(payload), len(data), len(pdu)), flush=True)
        if answered is None:
            answered = time.time()
    sys.exit(0 if answered is not None else 1)


main()
