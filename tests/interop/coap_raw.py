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


def option(delta, value):
    assert len(value) < 13
    if delta < 13:
        return bytes([(delta << 4) | len(value)]) + value
    assert delta < 269
    return bytes([(13 << 4) | len(value), delta - 13]) + value


def request(mid, token, body, echo=None):
    pdu = bytes([0x40 | len(token), 0x02]) + mid.to_bytes(2, "big") + token
    pdu += option(11, b".well-known") + option(0, b"cmp") + option(1, (259).to_bytes(2, "big"))
    if echo is not None:
        pdu += option(252 - 12, echo)
    return pdu + b"\xff" + body


def options(pdu, pos):
    """The options of pdu from pos: a list of (number, value), and the payload."""
    number, out = 0, []
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
        out.append((number, pdu[pos:pos + length]))
        pos += length
    return out, pdu[pos + 1:] if pos < len(pdu) else b""


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
        mtype, code, rmid = (data[0] >> 4) & 3, data[1], int.from_bytes(data[2:4], "big")
        tkl = data[0] & 15
        if code == 0:
            continue  # an empty ACK
        if mtype == 0:  # a confirmable answer: acknowledged
            s.sendto(bytes([0x60, 0x00]) + rmid.to_bytes(2, "big"), peer)
        if data[4:4 + tkl] != token:
            continue
        opts, payload = options(data, 4 + tkl)
        echo = [v for n, v in opts if n == 252]
        if code == (4 << 5 | 1) and echo and not challenged:
            print("challenge 4.01 echo=%d size=%d request=%d" % (len(echo[0]), len(data), len(pdu)),
                  flush=True)
            challenged = True
            pdu = request((mid + 1) & 0xFFFF, token, body, echo[0])
            s.sendto(pdu, ("127.0.0.1", port))
            continue
        cf = [int.from_bytes(v, "big") for n, v in opts if n == 12]
        block2 = [v for n, v in opts if n == 23]
        print("answer %d.%02d type=%s cf=%s block2=%s payload=%d size=%d request=%d" % (
            code >> 5, code & 31, "CON" if mtype == 0 else "NON" if mtype == 1 else "ACK",
            cf[0] if cf else "-",
            ("first" if block2 and int.from_bytes(block2[0], "big") >> 4 == 0 else "-"),
            len(payload), len(data), len(pdu)), flush=True)
        if answered is None:
            answered = time.time()
    sys.exit(0 if answered is not None else 1)


main()
