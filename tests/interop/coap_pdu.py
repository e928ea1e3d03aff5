"""coap_pdu.py - CoAP messages (RFC 7252 §3) as the CoAP test tools build and
read them: a POST to /.well-known/cmp with Content-Format 259 and the options
a tool adds, and the options and payload of what comes back.
"""

CON, NON, ACK = 0, 1, 2
URI_PATH, CONTENT_FORMAT, MAX_AGE, BLOCK1, SIZE1, ECHO = 11, 12, 14, 27, 60, 252


def code(cls, detail):
    return cls << 5 | detail


def code_text(c):
    return "%d.%02d" % (c >> 5, c & 31)


def _option(delta, value):
    assert len(value) < 13
    if delta < 13:
        return bytes([(delta << 4) | len(value)]) + value
    assert delta < 269
    return bytes([(13 << 4) | len(value), delta - 13]) + value


def post(mid, token, payload, extra=(), mtype=CON):
    """A POST of payload to /.well-known/cmp, Content-Format 259, with the
    (number, value) options of extra (numbers above 12, in order)."""
    pdu = bytes([0x40 | mtype << 4 | len(token), 0x02]) + (mid & 0xFFFF).to_bytes(2, "big") + token
    opts = [(URI_PATH, b".well-known"), (URI_PATH, b"cmp"),
            (CONTENT_FORMAT, (259).to_bytes(2, "big"))] + list(extra)
    prev = 0
    for number, value in opts:
        pdu += _option(number - prev, value)
        prev = number
    return pdu + b"\xff" + payload


def parse(pdu):
    """(type, code, message ID, token, {number: [values]}, payload) of pdu."""
    tkl = pdu[0] & 15
    pos, number, opts = 4 + tkl, 0, {}
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
        opts.setdefault(number, []).append(pdu[pos:pos + length])
        pos += length
    payload = pdu[pos + 1:] if pos < len(pdu) else b""
    return (pdu[0] >> 4) & 3, pdu[1], int.from_bytes(pdu[2:4], "big"), pdu[4:4 + tkl], opts, payload


def uint(value):
    return int.from_bytes(value, "big")
