/*
 * err.h - the one error vocabulary of cmpgw.
 *
 * Every fallible function returns 0 on success or a negative CG_E* code.  The
 * codes come from one X-macro table, in three classes:
 *   PEER      - the peer sent something wrong; the code maps to one
 *               PKIFailureInfo bit (RFC 9810 §5.2.3) reported back in a
 *               protected error message;
 *   TRANSPORT - the connection or framing failed; nothing CMP is answered;
 *   INTERNAL  - our side failed (memory, I/O, crypto library, store); the peer
 *               gets systemFailure.
 */
#ifndef CG_CORE_ERR_H
#define CG_CORE_ERR_H

/* PKIFailureInfo bits, RFC 9810 §5.2.3 (BIT STRING, bit 0 first):
 * X(NAME, bit, ASN.1 name).  The enum and the names come from this table. */
#define CG_FAILINFO_MAP(X)                                   \
  X(BAD_ALG, 0, "badAlg")                              \
  X(BAD_MESSAGE_CHECK, 1, "badMessageCheck")           \
  X(BAD_REQUEST, 2, "badRequest")                      \
  X(BAD_TIME, 3, "badTime")                            \
  X(BAD_CERT_ID, 4, "badCertId")                       \
  X(BAD_DATA_FORMAT, 5, "badDataFormat")               \
  X(WRONG_AUTHORITY, 6, "wrongAuthority")              \
  X(INCORRECT_DATA, 7, "incorrectData")                \
  X(MISSING_TIME_STAMP, 8, "missingTimeStamp")         \
  X(BAD_POP, 9, "badPOP")                              \
  X(CERT_REVOKED, 10, "certRevoked")                   \
  X(CERT_CONFIRMED, 11, "certConfirmed")               \
  X(WRONG_INTEGRITY, 12, "wrongIntegrity")             \
  X(BAD_RECIPIENT_NONCE, 13, "badRecipientNonce")      \
  X(TIME_NOT_AVAILABLE, 14, "timeNotAvailable")        \
  X(UNACCEPTED_POLICY, 15, "unacceptedPolicy")         \
  X(UNACCEPTED_EXTENSION, 16, "unacceptedExtension")   \
  X(ADD_INFO_NOT_AVAILABLE, 17, "addInfoNotAvailable") \
  X(BAD_SENDER_NONCE, 18, "badSenderNonce")            \
  X(BAD_CERT_TEMPLATE, 19, "badCertTemplate")          \
  X(SIGNER_NOT_TRUSTED, 20, "signerNotTrusted")        \
  X(TRANSACTION_ID_IN_USE, 21, "transactionIdInUse")   \
  X(UNSUPPORTED_VERSION, 22, "unsupportedVersion")     \
  X(NOT_AUTHORIZED, 23, "notAuthorized")               \
  X(SYSTEM_UNAVAIL, 24, "systemUnavail")               \
  X(SYSTEM_FAILURE, 25, "systemFailure")               \
  X(DUPLICATE_CERT_REQ, 26, "duplicateCertReq")

enum cg_failinfo {
  CG_FI_NONE = -1,
#define X(name, bit, asn1) CG_FI_##name = bit,
  CG_FAILINFO_MAP(X)
#undef X
};

enum cg_err_class { CG_CLASS_OK, CG_CLASS_PEER, CG_CLASS_TRANSPORT, CG_CLASS_INTERNAL };

/* X(name, class, failinfo, message) */
#define CG_ERR_MAP(X)                                                              \
  X(DER, PEER, BAD_DATA_FORMAT, "malformed DER")                                   \
  X(DER_DEPTH, PEER, BAD_DATA_FORMAT, "DER nested too deeply")                     \
  X(BAD_DATA, PEER, BAD_DATA_FORMAT, "message content not understood")             \
  X(BAD_REQUEST, PEER, BAD_REQUEST, "request not permitted or not supported")      \
  X(BAD_ALG, PEER, BAD_ALG, "unsupported or disallowed algorithm")                 \
  X(BAD_KEY, PEER, BAD_ALG, "public key size, exponent or curve not accepted")     \
  X(BAD_MAC, PEER, BAD_MESSAGE_CHECK, "message protection invalid")                \
  X(BAD_POP, PEER, BAD_POP, "proof of possession invalid")                         \
  X(BAD_TIME, PEER, BAD_TIME, "messageTime out of tolerance")                      \
  X(BAD_TEMPLATE, PEER, BAD_CERT_TEMPLATE, "certificate template not acceptable")  \
  X(BAD_CERT_ID, PEER, BAD_CERT_ID, "certificate or request id unknown")           \
  X(BAD_RECIP_NONCE, PEER, BAD_RECIPIENT_NONCE, "recipNonce does not match")       \
  X(BAD_SENDER_NONCE, PEER, BAD_SENDER_NONCE, "senderNonce missing or too short")  \
  X(TXID_IN_USE, PEER, TRANSACTION_ID_IN_USE, "transactionID already in use")      \
  X(UNSUPPORTED_VERSION, PEER, UNSUPPORTED_VERSION, "unsupported pvno")            \
  X(WRONG_AUTHORITY, PEER, WRONG_AUTHORITY, "recipient is not this RA")            \
  X(NOT_AUTHORIZED, PEER, NOT_AUTHORIZED, "not authorized for this request")       \
  X(NOT_TRUSTED, PEER, SIGNER_NOT_TRUSTED, "signer certificate not trusted")         \
  X(CERT_REVOKED, PEER, CERT_REVOKED, "certificate already revoked")                 \
  X(WRONG_INTEGRITY, PEER, WRONG_INTEGRITY, "protection not allowed here")           \
  X(CLOSED, TRANSPORT, NONE, "connection closed")                                  \
  X(CONNECT, TRANSPORT, NONE, "cannot connect")                                    \
  X(TOO_BIG, TRANSPORT, NONE, "message exceeds the configured limit")              \
  X(TIMEOUT, TRANSPORT, NONE, "timed out")                                         \
  X(NOMEM, INTERNAL, SYSTEM_FAILURE, "out of memory")                              \
  X(SPACE, INTERNAL, SYSTEM_FAILURE, "output buffer too small")                    \
  X(IO, INTERNAL, SYSTEM_FAILURE, "I/O error")                                     \
  X(CRYPTO, INTERNAL, SYSTEM_FAILURE, "crypto library failure")                    \
  X(STORE, INTERNAL, SYSTEM_FAILURE, "store failure")                              \
  X(CONFIG, INTERNAL, SYSTEM_FAILURE, "invalid configuration")                     \
  X(NOT_FOUND, INTERNAL, SYSTEM_FAILURE, "not found")                              \
  X(EXISTS, INTERNAL, SYSTEM_FAILURE, "already exists")                            \
  X(STATE, INTERNAL, SYSTEM_FAILURE, "illegal state transition")                   \
  X(BUSY, INTERNAL, SYSTEM_UNAVAIL, "service busy or shutting down")               \
  X(CA_UNAVAILABLE, INTERNAL, SYSTEM_UNAVAIL, "the CA cannot issue now")            \
  X(PENDING_LIMIT, PEER, SYSTEM_UNAVAIL, "too many requests waiting")               \
  X(INVAL, INTERNAL, SYSTEM_FAILURE, "invalid argument")                          \
  /* failInfo bits a CA may answer that no check of ours gives; an RA passes \
   * them on (cg_err_from_failinfo()) */                                          \
  X(INCORRECT_DATA, PEER, INCORRECT_DATA, "data incorrect")                        \
  X(MISSING_TIME_STAMP, PEER, MISSING_TIME_STAMP, "time stamp missing")            \
  X(CERT_CONFIRMED, PEER, CERT_CONFIRMED, "certificate already confirmed")         \
  X(TIME_NOT_AVAILABLE, PEER, TIME_NOT_AVAILABLE, "time not available")            \
  X(UNACCEPTED_POLICY, PEER, UNACCEPTED_POLICY, "policy not accepted")             \
  X(UNACCEPTED_EXTENSION, PEER, UNACCEPTED_EXTENSION, "extension not accepted")    \
  X(ADD_INFO_NOT_AVAILABLE, PEER, ADD_INFO_NOT_AVAILABLE, "information not available") \
  X(DUPLICATE_CERT_REQ, PEER, DUPLICATE_CERT_REQ, "duplicate certificate request") \
  X(CA_FAILURE, INTERNAL, SYSTEM_FAILURE, "the CA failed")                        \
  X(CERT_EXISTS, INTERNAL, SYSTEM_FAILURE, "a certificate with this serial is recorded already") \
  X(ADDR_LIMIT, PEER, SYSTEM_UNAVAIL, "this client address is over its limit") \
  X(ADDR_IN_USE, TRANSPORT, NONE, "address already in use")                          \
  X(ACCESS, TRANSPORT, NONE, "permission denied")                                    \
  X(ADDR_NOT_AVAIL, TRANSPORT, NONE, "address not available on this host")                \
  X(KEY_MODE, INTERNAL, SYSTEM_FAILURE, "group or others can access this key file") \
  X(TLS, TRANSPORT, NONE, "TLS handshake or record failed")                        \
  X(EOF, TRANSPORT, NONE, "the peer closed the connection")                       \
  X(STORE_UNAVAIL, INTERNAL, SYSTEM_UNAVAIL, "the database cannot be reached")

enum cg_err {
  CG_OK = 0,
#define X(name, cls, fi, msg) CG_E##name,
  CG_E__FIRST = -1000,
  CG_ERR_MAP(X)
#undef X
  CG_E__LAST
};

/* The short name ("CG_EDER"), the message, the class and the PKIFailureInfo bit
 * (CG_FI_NONE for transport errors) of an error code.  Unknown codes yield
 * "unknown error", CG_CLASS_INTERNAL and CG_FI_SYSTEM_FAILURE. */
const char *cg_err_name(int err);
/* The ASN.1 name of a PKIFailureInfo bit ("badMessageCheck", ...), NULL for a
 * bit RFC 9810 §5.2.3 does not define. */
const char *cg_failinfo_name(int bit);
/* The message of a CG_E* code or of a negative libuv (errno) error: every
 * error the gateway logs goes through this one function. */
const char *cg_strerror(int err);
/* A libuv error as the CG_E* code a layer above transports/ sees (the
 * transports translate at their boundary; their detail text keeps libuv's
 * words): CG_EADDR_IN_USE, CG_EACCESS, CG_EADDR_NOT_AVAIL, CG_ENOMEM,
 * CG_ECONNECT, CG_ETIMEOUT, CG_ECLOSED, CG_EINVAL, else CG_EIO.  0 stays 0,
 * a CG_E* code stays itself. */
int cg_err_from_uv(int uv_err);
/* The error that a PKIFailureInfo bit reports: the first peer error of the
 * table with that bit, CG_ECA_UNAVAILABLE for systemUnavail, CG_ECA_FAILURE
 * for systemFailure and for bits RFC 9810 §5.2.3 does not define. */
int cg_err_from_failinfo(int bit);
enum cg_err_class cg_err_class(int err);
enum cg_failinfo cg_err_failinfo(int err);

#endif
