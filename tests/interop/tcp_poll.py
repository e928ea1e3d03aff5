#!/usr/bin/env python3
"""tcp_poll.py - one raw TCP exchange of a client that polls at the transport
level (RFC 2510 §5.2 pollReq/pollRep, or their "version 10" counterparts).

Usage: tcp_poll.py send PORT rfc2510|v10 REQUEST.der OUT
       tcp_poll.py poll PORT rfc2510|v10 REF OUT

`send` sends the PKIMessage in REQUEST.der, `poll` a pollReq for the polling
reference REF (hex).  The answer is printed as one line:
  pollRep REF SECONDS   (SECONDS from now, whatever the framing's encoding)
  final TAG             (the PKIMessage's body tag in hex; an ip's certificate
                         is written to OUT)
  final a1 rejection    (an ip refusing the request, RFC 9483 §4.1.1)
  error TEXT
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcp_lib import *  # noqa: E402,F401,F403

verb, port, framing, arg, out = sys.argv[1:6]
kind, value = (0, open(arg, "rb").read()) if verb == "send" else (2, bytes.fromhex(arg))
s = connect(int(port))
s.sendall(v10(kind, value) if framing == "v10" else rfc2510(kind, value))
got, flags, typ, body = read_frame(s)
s.close()
if got != framing:
    fail("answered in %s framing, asked in %s" % (got, framing))
if typ == 1:
    ref, when = struct.unpack(">II", body)
    # RFC 2510: an absolute time (seconds since 1970 UTC); version 10: seconds
    seconds = when - int(time.time()) if framing == "rfc2510" else when
    if not -5 <= seconds <= 3600:
        fail("time to check back %d is not believable" % when)
    print("pollRep %08x %d" % (ref, max(seconds, 0)))
elif typ == 5:
    tag = body_of(body)[0]
    if tag == 0xA1 and ip_status(body) == 2:
        print("final a1 rejection")
    else:
        if tag == 0xA1:
            open(out, "wb").write(ip_certificate(body))
        print("final %02x" % tag)
elif typ == 6:
    text = body[4 + struct.unpack(">H", body[2:4])[0]:] if framing == "v10" else body
    print("error " + text.decode("ascii", "replace"))
else:
    fail("unexpected answer type %d" % typ)
