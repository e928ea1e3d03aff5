#!/usr/bin/env python3
"""tcp_frames.py - byte-level checks of cmpgw's raw TCP listener.

Usage: tcp_frames.py PORT MAX_FRAME IR_A IR_B GENM OUTDIR

IR_A, IR_B and GENM are DER PKIMessages written by `openssl cmp -reqout`.
Every check writes hand-made frames (RFC 2510 §5.2 and "version 10") and
compares what comes back byte for byte where the bytes are known, or decodes
the PKIMessage inside.  The certificates of the two ip answers are written to
OUTDIR/ir-a.der and OUTDIR/ir-b.der for openssl to verify.  Prints one line
per check; exits non-zero at the first failure.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcp_lib import *  # noqa: E402,F401,F403

PORT, MAX_FRAME = int(sys.argv[1]), int(sys.argv[2])
IR_A, IR_B, GENM = (open(p, "rb").read() for p in sys.argv[3:6])
OUT = sys.argv[6]


# ---- the checks ------------------------------------------------------------------

# 1. version 10, an ir split into single-octet writes.
s = connect(PORT)
for b in v10(0, IR_A):
    s.sendall(bytes([b]))
framing, flags, typ, value = read_frame(s)
if (framing, flags, typ) != ("v10", 0, 5):
    fail("v10 ir: got %s flags %s type %s, want a pkiRep" % (framing, flags, typ))
open(OUT + "/ir-a.der", "wb").write(ip_certificate(value))
ok("v10 pkiReq sent one octet at a time -> pkiRep (flags 0) with an accepted ip")

# 2. the same connection: two genm frames in one write, answered in order.
s.sendall(v10(0, GENM) + v10(0, GENM))
for i in range(2):
    framing, flags, typ, value = read_frame(s)
    if (framing, typ) != ("v10", 5) or body_of(value)[0] != 0xB6:
        fail("v10 genm %d: not a pkiRep with a genp" % i)
ok("two v10 pkiReq frames in one write -> two pkiRep with genp, in order, same connection")

# 3. the close flag: answered with the flag set, then the connection closes.
s.sendall(v10(0, GENM, flags=1))
framing, flags, typ, value = read_frame(s)
if (framing, flags, typ) != ("v10", 1, 5):
    fail("v10 close flag: got flags %s type %s" % (flags, typ))
expect_closed(s, "v10 close flag")
ok("v10 flags bit 0 (close) -> pkiRep with flags 1, then the server closes")

# 4. RFC 2510: an ir -> finalMsgRep.
s = connect(PORT)
s.sendall(rfc2510(0, IR_B))
framing, _, typ, value = read_frame(s)
if (framing, typ) != ("rfc2510", 5):
    fail("rfc2510 ir: got %s flag %s" % (framing, typ))
open(OUT + "/ir-b.der", "wb").write(ip_certificate(value))
ok("RFC 2510 pkiMsg (flag 0) -> finalMsgRep (flag 5) with an accepted ip")

# 5. RFC 2510: not a PKIMessage -> a CMP error message, still framed.
s.sendall(rfc2510(0, b"hello"))
framing, _, typ, value = read_frame(s)
if (framing, typ) != ("rfc2510", 5) or body_of(value)[0] != 0xB7:
    fail("rfc2510 garbage: not a finalMsgRep carrying a CMP error")
ok("a frame that holds no PKIMessage -> finalMsgRep with a protected CMP error message")


def refused(frame, want, what):
    s = connect(PORT)
    s.sendall(frame)
    got = recv_exact(s, len(want))
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))
    expect_closed(s, what)
    ok("%s -> %s, closed" % (what, want.hex()))


def v10_error(code, text, data=b""):
    return v10(6, struct.pack(">HH", code, len(data)) + data + text, flags=1)


# 6. the exact errorMsgRep bytes for each malformed frame.
too_big = MAX_FRAME + 1
refused(struct.pack(">IBBB", too_big + 3, 10, 0, 0),
        v10_error(0x0200, b"frame of %d octets; at most %d" % (too_big, MAX_FRAME)),
        "v10 length over the cap")
refused(struct.pack(">IB", too_big + 1, 0),
        rfc2510(6, b"frame of %d octets; at most %d" % (too_big, MAX_FRAME)),
        "RFC 2510 length over the cap")
refused(v10(4, b"x"), v10_error(0x0200, b"message type 4 is not a request"), "v10 unknown type 4")
refused(rfc2510(5, IR_A), rfc2510(6, b"message type 5 is not a request"),
        "RFC 2510 finalMsgRep from a client")
refused(b"\x00\x00\x00\x00", rfc2510(6, b"zero length"), "zero length")
refused(struct.pack(">IBBB", 3, 11, 0, 0),
        v10_error(0x0100, b"unsupported version: this server speaks 10", b"\x0a"), "version 11")
refused(v10(2, b"\x00\x00"), v10_error(0x0200, b"a pollReq holds a 4-octet polling reference"),
        "v10 pollReq with a 2-octet reference")
refused(v10(2, b"\x12\x34\x56\x78"), v10_error(0x0200, b"unknown polling reference"),
        "v10 pollReq for an unknown reference")
refused(rfc2510(2, b"\x12\x34\x56\x78"), rfc2510(6, b"unknown polling reference"),
        "RFC 2510 pollReq for an unknown reference")

# 7. a frame that stops half way is closed by the read timeout, not answered;
# the server goes on serving meanwhile.
half = connect(PORT)
half.sendall(v10(0, GENM)[:20])
s = connect(PORT)
s.sendall(rfc2510(0, GENM))
framing, _, typ, value = read_frame(s)
if typ != 5 or body_of(value)[0] != 0xB6:
    fail("a second client was not served while a frame was half sent")
s.close()
half.close()
ok("a half-sent frame does not hold up other clients")
print("tcp_frames: all checks passed")
