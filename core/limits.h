/*
 * limits.h - every bound on what an input can make cmpgw hold or do, in one
 * place (as SQLite keeps its own in sqliteLimit.h), each with the reason for
 * its value.  The modules that enforce a limit name it by the CG_LIMIT_*
 * here (often under a local alias).  What an operator can set lives in the
 * configuration instead (docs/configuration.md); docs/SECURITY.md explains
 * both.  Changing a value here changes what is accepted: the tests that pin
 * a limit (test_server_limits.c, test_x509_verify.c, test_der.c, ...) say
 * where.
 */
#ifndef CG_CORE_LIMITS_H
#define CG_CORE_LIMITS_H

/* ---- encodings ---------------------------------------------------------- */

/* DER nesting.  A PKIMessage nests about 12 deep (nested messages twice
 * that); 32 leaves room and bounds the reader's recursion. */
#define CG_LIMIT_DER_DEPTH 32
/* Extensions of one certificate or request: real ones carry about ten. */
#define CG_LIMIT_X509_EXTENSIONS 256
/* A file the gateway reads (a key, a certificate bundle, the configuration):
 * files are the operator's, but a wrong path must not exhaust memory. */
#define CG_LIMIT_FILE_OCTETS (16u << 20)

/* ---- keys and certificate paths ------------------------------------------ */

/* RSA public keys: below 2048 bits is too weak (a build may lower it:
 * CMPGW_RSA_MIN_BITS); above 4096 the bundled wolfSSL cannot verify, and a
 * large modulus with a large exponent costs hundreds of milliseconds. */
#define CG_LIMIT_RSA_MAX_BITS 4096
/* The public exponent: OpenSSL's bound for large moduli (65537 in practice). */
#define CG_LIMIT_RSA_MAX_EXPONENT_BITS 64
/* Certificates below the anchor in a signer's path: device, one or two
 * intermediates, and room for a cross-certificate. */
#define CG_LIMIT_PATH_DEPTH 5
/* Certificates a path may be built from (extraCerts and the anchors' own). */
#define CG_LIMIT_PATH_POOL 8
/* Candidates tried for one issuer name: a real CA name has at most four
 * (old and new key in a root key update, each self-signed and cross-signed). */
#define CG_LIMIT_PATH_CANDIDATES 8
/* Signature checks in one path validation: the longest path extraCerts can
 * hold needs 9, which leaves 7 for candidates that fail. */
#define CG_LIMIT_PATH_SIGNATURES 16
/* Steps of the path search (extensions of a partial path). */
#define CG_LIMIT_PATH_STEPS 64

/* ---- names ---------------------------------------------------------------- */

/* A requested subject: real ones have fewer than ten RDNs and 200 octets. */
#define CG_LIMIT_NAME_RDNS 64
#define CG_LIMIT_NAME_OCTETS 1024
/* Requested subjectAltNames: a certificate for many hosts has dozens. */
#define CG_LIMIT_SAN_NAMES 64
#define CG_LIMIT_SAN_OCTETS 4096
/* A subject or SAN list bound to a secret, as text. */
#define CG_LIMIT_NAME_TEXT 512

/* ---- CMP messages ---------------------------------------------------------- */

/* generalInfo entries of a header: clients send two or three. */
#define CG_LIMIT_GENERAL_INFO 16
/* extraCerts (and caPubs): a signer's chain with room to spare. */
#define CG_LIMIT_EXTRA_CERTS 8
/* CertReqMsg per request, CertStatus per certConf, RevDetails per rr, inner
 * messages per nested: RFC 9483 profiles one; a few are decoded so that the
 * refusal can name the count. */
#define CG_LIMIT_REQS 4
/* controls of one CertRequest (regToken, oldCertID, ...). */
#define CG_LIMIT_CONTROLS 8
/* InfoTypeAndValue per genm / genp, and CRLStatus per crlStatusList. */
#define CG_LIMIT_GENM_ITAV 8
#define CG_LIMIT_CRL_STATUS 8
/* Attributes and requested extensions of a PKCS#10 request. */
#define CG_LIMIT_P10_ATTRIBUTES 16
#define CG_LIMIT_P10_EXTENSIONS 64
/* Octets of a transactionID, a nonce, a senderKID (secret reference): RFC
 * 9483 asks for 128-bit values; four times that is plenty. */
#define CG_LIMIT_TXID 64
#define CG_LIMIT_NONCE 64
#define CG_LIMIT_REF 128
/* A certificate serial: RFC 5280 §4.1.2.2. */
#define CG_LIMIT_SERIAL 20
/* A PBM salt: RFC 4211 leaves it open; clients send 16. */
#define CG_LIMIT_PBM_SALT 64
/* A shared secret, and its sealed form (secret + 29 octets of AEAD framing,
 * with room for the challenge sealed beside it). */
#define CG_LIMIT_SECRET 128
#define CG_LIMIT_SECRET_SEALED 512
/* What a CA backend keeps with a transaction waiting at its CA. */
#define CG_LIMIT_CA_STATE 160

/* ---- the gateway's own tables ---------------------------------------------- */

/* Addresses the failed-check budget remembers; past it they share one. */
#define CG_LIMIT_GUARD_ADDRESSES 65536
/* A certificate the local CA signs (all names and extensions at their
 * limits, an RSA-4096 key: under 8 KB). */
#define CG_LIMIT_CERT_OCTETS 16384
/* Certificates of a CA chain a backend holds. */
#define CG_LIMIT_CA_CHAIN 8

#endif
