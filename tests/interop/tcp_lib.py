"""tcp_lib.py - framing (RFC 2510 §5.2 and "version 10") and a minimal DER
reader for the raw TCP tests of cmpgw (tcp_frames.py, tcp_poll.py)."""
import socket
import struct
import sys

DEADLINE = 60  # seconds any one answer may take on a loaded machine


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("   ok: " + msg)


def v10(msg_type, value, flags=0):
    return struct.pack(">IBBB", len(value) + 3, 10, flags, msg_type) + value


def rfc2510(flag, value):
    return struct.pack(">IB", len(value) + 1, flag) + value


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            fail("connection closed after %d of %d octets" % (len(data), n))
        data += chunk
    return data


def read_frame(s):
    """(framing, flags, type, value) of the next frame."""
    (length,) = struct.unpack(">I", recv_exact(s, 4))
    rest = recv_exact(s, length)
    if rest[0] == 10:
        return "v10", rest[1], rest[2], rest[3:]
    return "rfc2510", None, rest[0], rest[1:]


def expect_closed(s, what):
    try:
        if s.recv(1) != b"":
            fail(what + ": more data after the last frame")
    except ConnectionResetError:
        pass  # closed either way
    s.close()


# ---- a minimal DER reader ------------------------------------------------------

def tlv(buf, off=0):
    """(tag, value_start, value_end, next) of the TLV at off."""
    tag = buf[off]
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, off + n, off + n


def children(buf, start, end):
    out = []
    while start < end:
        t = tlv(buf, start)
        out.append((t[0], t[1], t[2], start))
        start = t[3]
    return out


def body_of(msg):
    """(tag, start, end) of the PKIBody of a DER PKIMessage."""
    t, s, e, _ = tlv(msg)
    if t != 0x30:
        fail("the answer is not a PKIMessage")
    parts = children(msg, s, e)
    return parts[1][0], parts[1][1], parts[1][2]


def _ip_response(msg):
    """The parts of an ip's first CertResponse: certReqId, status, [certifiedKeyPair]."""
    tag, s, e = body_of(msg)
    if tag != 0xA1:
        fail("expected an ip, got body tag 0x%02x" % tag)
    _, s, e, _ = tlv(msg, s)  # CertRepMessage
    parts = children(msg, s, e)
    resp = [p for p in parts if p[0] == 0x30][0]
    _, s, e, _ = tlv(msg, resp[1])  # the first CertResponse
    return children(msg, s, e)


def ip_status(msg):
    """The PKIStatus of an ip's first CertResponse (0 accepted, 2 rejection)."""
    cr = _ip_response(msg)
    status = children(msg, cr[1][1], cr[1][2])[0]
    return msg[status[1]:status[2]][0]


def ip_certificate(msg):
    """The certificate of an accepted ip (RFC 9810 §5.3.4), as DER."""
    cr = _ip_response(msg)
    status = children(msg, cr[1][1], cr[1][2])[0]
    if msg[status[1]:status[2]] != b"\x00":
        fail("the ip's PKIStatus is not accepted")
    ckp = children(msg, cr[2][1], cr[2][2])[0]  # certOrEncCert [0]
    cert = children(msg, ckp[1], ckp[2])[0]
    return msg[cert[3]:cert[2]]
