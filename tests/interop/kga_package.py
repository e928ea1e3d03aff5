"""kga_package.py - helpers of test_kga.sh for what `openssl cms` and `openssl pkey`
read: `wrap SD OUT` puts a bare SignedData (what an EnvelopedData of id-signedData
decrypts to) in a ContentInfo; `key AKP OUT` takes the one OneAsymmetricKey v2 (with
its [1] publicKey) of an AsymmetricKeyPackage (RFC 5958) and writes it as a PKCS#8 v1
PrivateKeyInfo, failing when the package is not that."""
import sys


def tlv(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def read(b, i):
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n


def wrap(sd):
    return tlv(0x30, bytes.fromhex("06092a864886f70d010702") + tlv(0xA0, sd))  # id-signedData


def key(akp):
    t, s, e = read(akp, 0)
    assert t == 0x30 and e == len(akp), "not one SEQUENCE"
    t, s, e = read(akp, s)
    assert t == 0x30 and e == len(akp), "not exactly one key"
    parts, i = [], s
    while i < e:
        t, _, end = read(akp, i)
        parts.append((t, akp[i:end]))
        i = end
    assert parts[0] == (0x02, b"\x02\x01\x01"), "OneAsymmetricKey is not v2"
    assert parts[-1][0] == 0x81, "no publicKey [1]"
    return tlv(0x30, b"\x02\x01\x00" + b"".join(p for t, p in parts[1:] if t != 0x81))


if __name__ == "__main__":
    what, src, dst = sys.argv[1:4]
    data = open(src, "rb").read()
    open(dst, "wb").write(wrap(data) if what == "wrap" else key(data))
