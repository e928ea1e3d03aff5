/*
 * engine_support.c - see engine_support.h.
 */
#include "engine_support.h"

#include "core/crlbuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fixture *F;

void make_cert(struct cert_spec *s, const struct cg_key *subject_key,
                      const struct cg_key *issuer_key, uint8_t *out, size_t cap, size_t *len) {
  uint8_t spki[512];
  size_t spki_len;
  assert_int_equal(cg_key_spki(subject_key, spki, sizeof spki, &spki_len), 0);
  s->spki = (struct der_view){spki, spki_len};
  assert_int_equal(cg_cert_random_serial(s), 0);
  assert_int_equal(cg_cert_build(s, issuer_key, out, cap, len), 0);
}

void make_name(const char *cn, uint8_t *out, size_t *len) {
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {cn};
  assert_int_equal(cg_cert_make_name(t, v, 1, out, 128, len), 0);
}

int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  F = f;
  assert_int_equal(cg_key_generate_ec(256, &f->ca_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->ra_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->dev_key), 0);
  assert_int_equal(cg_key_generate_ec(256, &f->new_key), 0);
  make_name("test CA", f->ca_name, &f->ca_name_len);
  make_name("test RA", f->ra_name, &f->ra_name_len);
  make_name("dev1", f->dev_name, &f->dev_name_len);
  int64_t now = (int64_t)time(NULL);
  struct cert_spec ca = {0};
  ca.issuer = ca.subject = (struct der_view){f->ca_name, f->ca_name_len};
  ca.not_before = now - 10;
  ca.not_after = now + 86400;
  ca.is_ca = true;
  ca.key_usage = CERT_KU_KEY_CERT_SIGN;
  make_cert(&ca, f->ca_key, f->ca_key, f->ca_cert, sizeof f->ca_cert, &f->ca_cert_len);
  struct cert_spec ra = {0};
  ra.issuer = ca.subject;
  ra.subject = (struct der_view){f->ra_name, f->ra_name_len};
  ra.not_before = now - 10;
  ra.not_after = now + 86400;
  ra.key_usage = CERT_KU_DIGITAL_SIGNATURE;
  make_cert(&ra, f->ra_key, f->ca_key, f->ra_cert, sizeof f->ra_cert, &f->ra_cert_len);

  f->ra_chain[0] = (struct der_view){f->ra_cert, f->ra_cert_len};
  f->ra_chain[1] = (struct der_view){f->ca_cert, f->ca_cert_len};
  f->ca_chain[0] = f->ra_chain[1];
  assert_int_equal(cg_random(f->master, 32), 0);
  f->cfg.ra_name = ra.subject;
  f->cfg.ra_key = f->ra_key;
  cg_key_default_sig(f->ra_key, &f->cfg.ra_scheme, &f->cfg.ra_hash);
  f->cfg.ra_chain = f->ra_chain;
  f->cfg.n_ra_chain = 2;
  f->prof_default = (struct cmp_profile){.name = "default", .ca_chain = f->ca_chain,
                                         .n_ca_chain = 1, .trust_anchors = f->ca_chain,
                                         .n_trust_anchors = 1, .allow_mac = true,
                                         .allow_sig = true, .key_reuse = true,
                                         .san_types = CMP_SAN_DNS | CMP_SAN_IP | CMP_SAN_URI |
                                                      CMP_SAN_EMAIL};
  f->prof_other = f->prof_default;
  f->prof_other.name = "other";
  /* The default profile takes nested messages of an RA whose certificate
   * the test CA issued (the test's own RA certificate serves). */
  f->prof_default.nested_anchors = f->ca_chain;
  f->prof_default.n_nested_anchors = 1;
  f->prof_implicit = f->prof_default;
  f->prof_implicit.name = "implicit";
  f->prof_implicit.implicit_confirm = true;
  f->prof_fixed = f->prof_default;
  f->prof_fixed.name = "fixed";
  f->prof_fixed.challenge = CMP_CHALLENGE_FIXED;
  f->prof_fixed.challenge_value = FIXED_CHALLENGE;
  f->prof_random = f->prof_default;
  f->prof_random.name = "random";
  f->prof_random.challenge = CMP_CHALLENGE_RANDOM;
  f->prof_manual = f->prof_default;
  f->prof_manual.name = "manual";
  f->prof_manual.manual_approval = true;
  f->prof_manual.check_after = 7;
  f->prof_onbehalf = f->prof_default;
  f->prof_onbehalf.name = "onbehalf";
  f->prof_onbehalf.on_behalf = true;
  f->cfg.master_key = f->master;
  f->cfg.pbm_max_iterations = 10000;

  strcpy(f->secret.reference, REF);
  strcpy(f->secret.profile, "default");
  assert_int_equal(cmp_secret_seal(f->master, REF, (const uint8_t *)SECRET, strlen(SECRET),
                                   f->secret.enc, sizeof f->secret.enc, &f->secret.enc_len),
                   0);
  *state = f;
  return 0;
}

int teardown(void **state) {
  struct fixture *f = *state;
  cg_key_free(f->ca_key);
  cg_key_free(f->ra_key);
  cg_key_free(f->dev_key);
  cg_key_free(f->new_key);
  free(f);
  return 0;
}

struct cmp_txn_record *find_txn(const char *txid, size_t *idx) {
  for (size_t i = 0; i < F->n_txns; i++)
    if (!strcmp(F->txns[i].txid, txid)) {
      if (idx)
        *idx = i;
      return &F->txns[i];
    }
  return NULL;
}

/* Plays store, threadpool and CA for one exchange until it is done. */
/* The stored certificate with that serial, or -1. */
static int find_serial(const char *serial) {
  for (size_t i = 0; serial[0] && i < F->n_txns; i++)
    if (F->cert_lens[i] && !strcmp(F->serials[i], serial))
      return (int)i;
  return -1;
}

/* Applies a revocation as the store would: 0, CG_ENOT_FOUND, CG_ECERT_REVOKED;
 * a release from hold (reason 8): CG_EBAD_CERT_ID when not on hold. */
static int check_revocation(const struct cmp_revocation_record *r) {
  if (r == NULL)
    return 0;
  int i = find_serial(r->serial);
  if (i < 0)
    return CG_ENOT_FOUND;
  if (r->reason == 8)
    return !F->revoked[i] ? CG_EBAD_CERT_ID : F->revoked_reason[i] != 6 ? CG_ECERT_REVOKED : 0;
  return F->revoked[i] ? CG_ECERT_REVOKED : 0;
}

static void apply_revocation(const struct cmp_revocation_record *r) {
  if (r != NULL) {
    int i = find_serial(r->serial);
    F->revoked[i] = r->reason != 8;
    F->revoked_reason[i] = r->reason != 8 ? r->reason : -1;
    F->n_revocations++;
  }
}

const struct cmp_profile *profile_named(const char *profile) {
  return !strcmp(profile, "default")    ? &F->prof_default
         : !strcmp(profile, "implicit") ? &F->prof_implicit
         : !strcmp(profile, "fixed")    ? &F->prof_fixed
         : !strcmp(profile, "random")   ? &F->prof_random
         : !strcmp(profile, "manual")   ? &F->prof_manual
         : !strcmp(profile, "onbehalf") ? &F->prof_onbehalf
                                        : &F->prof_other;
}

struct cmp_exchange *run(const char *profile, const uint8_t *req, size_t len) {
  const struct cmp_profile *p = profile_named(profile);
  struct cmp_exchange *ex = cmp_exchange_new(&F->cfg, p, req, len, (int64_t)time(NULL));
  assert_non_null(ex);
  play(ex, profile);
  return ex;
}

void play(struct cmp_exchange *ex, const char *profile) {
  const struct cmp_profile *p = profile_named(profile);
  for (int steps = 0; steps < 20; steps++) {
    switch (cmp_exchange_step(ex)) {
    case CMP_STEP_LOOKUP: {
      struct cmp_lookup_req q;
      size_t idx = 0;
      cmp_exchange_lookup(ex, &q);
      bool known = q.ref_len == strlen(REF) && !memcmp(q.ref, REF, q.ref_len);
      struct cmp_txn_record *t = find_txn(q.txid, &idx);
      struct cmp_lookup_res res = {0};
      /* The device's secret belongs to the profile asked for, except for
       * "other", which tests a secret of another profile. */
      struct cmp_secret_record sec = F->secret;
      if (p != &F->prof_other)
        snprintf(sec.profile, sizeof sec.profile, "%s", p->name);
      if (p == &F->prof_random)
        assert_int_equal(cmp_secret_seal(F->master, "challenge:" REF,
                                         (const uint8_t *)DEVICE_CHALLENGE,
                                         strlen(DEVICE_CHALLENGE), sec.challenge_enc,
                                         sizeof sec.challenge_enc, &sec.challenge_enc_len),
                         0);
      res.secret = known ? &sec : NULL;
      res.txn = t;
      if (t != NULL && F->cert_lens[idx])
        res.txn_cert = (struct der_view){F->certs[idx], F->cert_lens[idx]};
      /* The revocations, when a CRL will be asked for. */
      static struct cmp_revocation_record rv[MAX_TXNS];
      if (q.revoked_issuer != NULL && q.revoked_issuer[0]) {
        for (size_t i = 0; i < F->n_txns; i++)
          if (F->revoked[i]) {
            memcpy(rv[res.n_revoked].serial, F->serials[i], sizeof rv[0].serial);
            rv[res.n_revoked].reason = -1;
            rv[res.n_revoked++].revoked_at = (int64_t)time(NULL);
          }
        res.revoked = rv;
      }
      /* The certificates of the key asked for. */
      for (size_t i = 0; q.key_hash != NULL && q.key_hash[0] && i < F->n_txns; i++) {
        struct cg_x509 x;
        char hex[65];
        if (F->cert_lens[i] == 0 || cg_x509_parse(F->certs[i], F->cert_lens[i], &x) ||
            cg_spki_hash_hex(x.spki, hex) || strcmp(hex, q.key_hash) != 0)
          continue;
        res.key_certified |= q.check_key_reuse && !F->revoked[i];
        res.key_compromised |=
            F->revoked[i] && (F->revoked_reason[i] == 1 || F->revoked_reason[i] == 2);
      }
      int ci = find_serial(q.serial ? q.serial : "");
      if (ci >= 0) {
        res.cert_found = true;
        res.cert = (struct der_view){F->certs[ci], F->cert_lens[ci]};
        res.cert_revoked = F->revoked[ci];
        res.cert_reason = F->revoked[ci] ? F->revoked_reason[ci] : -1;
        res.cert_held_by_operator = F->held_by_operator[ci];
        /* As the store says them: the certificate's own transaction, and
         * the kurs that name it. */
        res.cert_unconfirmed_kup =
            F->txns[ci].state == CMP_TXN_ISSUED && !strcmp(F->txns[ci].req_type, "kur");
        for (size_t k = 0; k < F->n_txns; k++) {
          if (strcmp(F->txns[k].updates_serial, F->serials[ci]) != 0)
            continue;
          enum cmp_txn_state st = F->txns[k].state;
          res.cert_updated |= st == CMP_TXN_CONFIRMED;
          res.cert_update_pending |= st == CMP_TXN_ISSUED || st == CMP_TXN_PENDING_APPROVAL ||
                                     st == CMP_TXN_PENDING_CA;
        }
        res.cert_auth_ref = F->txns[ci].auth_ref;
      }
      cmp_exchange_lookup_done(ex, &res);
      break;
    }
    case CMP_STEP_COMPUTE:
      F->compute_steps++;
      F->light_steps += cmp_exchange_compute_is_light(ex);
      F->heavy_steps += cmp_exchange_compute_is_heavy(ex);
      cmp_exchange_compute(ex);
      break;
    case CMP_STEP_ISSUE: {
      const struct cmp_issue_request *r = cmp_exchange_issue_request(ex);
      F->seen_type = r->type;
      F->seen_ca_state_len = r->ca_state.p != NULL ? r->ca_state.len : 0;
      if (F->seen_ca_state_len > 0)
        memcpy(F->seen_ca_state, r->ca_state.p, r->ca_state.len);
      if (F->ca_answer_set) {
        cmp_exchange_issue_answer(ex, &F->ca_answer);
        break;
      }
      if (F->ca_waits) {
        cmp_exchange_issue_waiting(ex);
        break;
      }
      struct cert_spec s = {0};
      uint8_t der[2048];
      size_t der_len;
      s.issuer = (struct der_view){F->ca_name, F->ca_name_len};
      s.subject = r->subject;
      s.spki = r->spki;
      s.not_before = (int64_t)time(NULL);
      s.not_after = s.not_before + 3600;
      s.key_usage = CERT_KU_DIGITAL_SIGNATURE;
      assert_int_equal(cg_cert_random_serial(&s), 0);
      /* The CA may fail too (the allocation-failure test makes it). */
      int err = cg_cert_build(&s, F->ca_key, der, sizeof der, &der_len);
      if (err == 0)
        F->issued++;
      cmp_exchange_issue_done(ex, err, der, der_len);
      break;
    }
    case CMP_STEP_REVOKE: {
      const struct cmp_revoke_request *rv = cmp_exchange_revoke_request(ex);
      assert_true(rv->cert.p != NULL || rv->body.p != NULL);
      F->ca_revokes++;
      struct cmp_ca_answer a = {.err = F->ca_revoke_err, .waiting = F->ca_revoke_waits,
                                .check_after = 3};
      cmp_exchange_revoke_answer(ex, &a);
      break;
    }
    case CMP_STEP_FORWARD:
      assert_non_null(cmp_exchange_forward_request(ex)->message.p);
      F->forwards++;
      cmp_exchange_forward_answer(ex, &F->fwd_answer);
      break;
    case CMP_STEP_INSERT: {
      const struct cmp_txn_record *t = cmp_exchange_txn(ex);
      const struct cmp_cert_record *c = cmp_exchange_cert(ex);
      if (find_txn(t->txid, NULL) != NULL) {
        cmp_exchange_store_done(ex, CG_EEXISTS);
        break;
      }
      int rerr = check_revocation(cmp_exchange_revocation(ex));
      if (rerr) {
        cmp_exchange_store_done(ex, rerr);
        break;
      }
      /* A use of the secret is counted with the transaction, all or nothing. */
      const struct cmp_secret_note *use = cmp_exchange_secret_note(ex);
      if (use != NULL && use->used) {
        if (F->secret.max_uses != 0 && F->secret.uses >= F->secret.max_uses) {
          cmp_exchange_store_done(ex, CG_EBAD_MAC);
          break;
        }
        F->secret.uses++;
        F->secret.failed_attempts = 0;
      }
      apply_revocation(cmp_exchange_revocation(ex));
      assert_true(F->n_txns < MAX_TXNS);
      F->txns[F->n_txns] = *t;
      F->cert_lens[F->n_txns] = 0;
      struct der_view keep = cmp_exchange_request_to_keep(ex);
      F->kept_len[F->n_txns] = keep.len;
      if (keep.p != NULL) {
        assert_true(keep.len <= sizeof F->kept[0]);
        memcpy(F->kept[F->n_txns], keep.p, keep.len);
      }
      if (c != NULL) {
        memcpy(F->certs[F->n_txns], c->der, c->der_len);
        F->cert_lens[F->n_txns] = c->der_len;
        memcpy(F->serials[F->n_txns], c->serial, sizeof F->serials[0]);
      }
      F->n_txns++;
      cmp_exchange_store_done(ex, 0);
      break;
    }
    case CMP_STEP_UPDATE: {
      const struct cmp_txn_record *t = cmp_exchange_txn(ex);
      struct cmp_txn_record *s = find_txn(t->txid, NULL);
      if (s == NULL)
        cmp_exchange_store_done(ex, CG_ENOT_FOUND);
      else if (s->state != t->prev_state)
        cmp_exchange_store_done(ex, CG_ESTATE);
      else if (check_revocation(cmp_exchange_revocation(ex)))
        cmp_exchange_store_done(ex, check_revocation(cmp_exchange_revocation(ex)));
      else {
        apply_revocation(cmp_exchange_revocation(ex));
        const struct cmp_cert_record *c = cmp_exchange_cert(ex);
        size_t si = (size_t)(s - F->txns);
        if (c != NULL) { /* an approved request's certificate comes with the update */
          memcpy(F->certs[si], c->der, c->der_len);
          F->cert_lens[si] = c->der_len;
          memcpy(F->serials[si], c->serial, sizeof F->serials[0]);
        }
        /* An empty nonce, CA state or check time leaves the stored one. */
        struct cmp_txn_record old = *s;
        *s = *t;
        if (t->sender_nonce[0] == '\0')
          memcpy(s->sender_nonce, old.sender_nonce, sizeof old.sender_nonce);
        if (t->ca_state_len == 0) {
          memcpy(s->ca_state, old.ca_state, sizeof old.ca_state);
          s->ca_state_len = old.ca_state_len;
        }
        if (t->ca_check_at == 0)
          s->ca_check_at = old.ca_check_at;
        cmp_exchange_store_done(ex, 0);
      }
      break;
    }
    case CMP_STEP_CRL: {
      const struct cmp_revocation_record *rv;
      size_t n;
      cmp_exchange_crl_request(ex, &rv, &n);
      struct cg_x509 ca;
      assert_int_equal(cg_x509_parse(F->ca_cert, F->ca_cert_len, &ca), 0);
      struct crl_spec spec = {.issuer = ca.subject,
                              .this_update = (int64_t)time(NULL),
                              .next_update = (int64_t)time(NULL) + 3600,
                              .crl_number = 1,
                              .issuer_key_id = ca.skid};
      uint8_t *der = NULL;
      size_t der_len = 0;
      int err = cg_crl_build(&spec, F->ca_key, &der, &der_len);
      F->crls_made += err == 0;
      F->crl_entries_asked = n;
      cmp_exchange_crl_done(ex, err, der, der_len);
      free(der);
      break;
    }
    case CMP_STEP_NOTE: {
      const struct cmp_secret_note *n = cmp_exchange_secret_note(ex);
      const uint8_t *rsp;
      size_t rsp_len;
      assert_non_null(n);
      assert_true(n->failed);
      cmp_exchange_response(ex, &rsp, &rsp_len);
      F->answered_before_note = rsp != NULL && rsp_len > 0;
      F->notes++;
      snprintf(F->last_note, sizeof F->last_note, "%s", n->detail);
      if (n->lock_after > 0 && ++F->secret.failed_attempts >= n->lock_after)
        F->secret.locked_until = n->lock_until;
      cmp_exchange_store_done(ex, 0);
      break;
    }
    case CMP_STEP_NESTED:
      /* Each inner message is an exchange of its own. */
      for (size_t i = 0; i < cmp_exchange_nested_count(ex); i++) {
        struct der_view m = cmp_exchange_nested_msg(ex, i);
        struct cmp_exchange *inner = cmp_exchange_new_inner(&F->cfg, profile_named(profile), ex,
                                                            m.p, m.len, (int64_t)time(NULL));
        assert_non_null(inner);
        play(inner, profile);
        const uint8_t *rp;
        size_t rl;
        cmp_exchange_response(inner, &rp, &rl);
        cmp_exchange_nested_done(ex, i, rp, rl);
        cmp_exchange_free(inner);
      }
      break;
    case CMP_STEP_DONE:
      return;
    }
  }
  fail_msg("exchange did not finish");
}

void client_init(struct client *c, const char *ref, const char *secret) {
  memset(c, 0, sizeof *c);
  assert_int_equal(cg_random(c->txid, 16), 0);
  assert_int_equal(cg_random(c->nonce, 16), 0);
  c->mac = (struct cmp_client_cred){.secret = (const uint8_t *)secret,
                                    .secret_len = strlen(secret),
                                    .ref = (const uint8_t *)ref,
                                    .ref_len = strlen(ref),
                                    .iterations = 500,
                                    .owf = CG_HASH_SHA256,
                                    .mac = CG_HASH_SHA1};
  c->hdr.transaction_id = (struct der_view){c->txid, 16};
  c->hdr.sender_nonce = (struct der_view){c->nonce, 16};
}

size_t make_ir(struct client *c, uint8_t *out, size_t cap) {
  size_t len;
  assert_int_equal(cmp_client_ir(&c->mac, &c->hdr, (struct der_view){F->dev_name, F->dev_name_len},
                                 F->dev_key, out, cap, &len),
                   0);
  return len;
}

/* Decodes the response and checks what every answer must satisfy: it names
 * the request's transaction and nonce, and it is protected. */
void decode_response(struct cmp_exchange *ex, const struct client *c, struct cmp_msg *m) {
  const uint8_t *p;
  size_t len;
  cmp_exchange_response(ex, &p, &len);
  assert_non_null(p);
  assert_int_equal(cmp_msg_decode(p, len, m), 0);
  assert_true(m->has_protection);
  if (c != NULL) {
    assert_true(cg_der_view_is(m->hdr.transaction_id, c->txid, 16));
    assert_true(cg_der_view_is(m->hdr.recip_nonce, c->nonce, 16));
  }
  assert_true(m->hdr.sender_nonce.len >= 16);
}

/* The response is signed by the RA key (and not MAC-protected). */
void assert_signed_by_ra(const struct cmp_msg *m) {
  struct cg_x509 ra;
  uint8_t seq[6];
  struct cg_iov iov[2];
  assert_int_equal(cg_x509_parse(F->ra_cert, F->ra_cert_len, &ra), 0);
  assert_true(m->n_extra_certs >= 1);
  assert_true(cg_der_view_is(m->extra_certs[0], F->ra_cert, F->ra_cert_len));
  cmp_msg_protected_part(m, seq, iov);
  assert_int_equal(cmp_verify_sig(m->hdr.protection_alg, ra.spki, iov, 2, m->protection), 0);
}

const struct cmp_status_info *refusal_status(const struct cmp_msg *m) {
  switch (m->type) {
  case CMP_ERROR:
    return &m->u.error.status;
  case CMP_IP:
  case CMP_CP:
  case CMP_KUP:
    return m->u.cert_rep.n == 1 ? &m->u.cert_rep.rsp[0].status : NULL;
  case CMP_RP:
    return m->u.rev_rep.n == 1 ? &m->u.rev_rep.status[0] : NULL;
  default:
    return NULL;
  }
}

void status_text(const struct cmp_msg *m, char *out, size_t cap) {
  struct der_reader r, seq;
  struct der_tlv t;
  out[0] = '\0';
  const struct cmp_status_info *st = refusal_status(m);
  if (st == NULL)
    return;
  cg_der_reader_view(&r, st->status_string);
  if (cg_der_enter(&r, DER_SEQUENCE, &seq) == 0 && cg_der_next(&seq, &t) == 0 && t.val.len < cap) {
    memcpy(out, t.val.p, t.val.len);
    out[t.val.len] = '\0';
  }
}

void assert_refused(const struct cmp_msg *m, int fail_bit) {
  const struct cmp_status_info *st = refusal_status(m);
  if (st == NULL)
    fail_msg("answer type %d is no refusal", m->type);
  assert_int_equal(st->status, CMP_REJECTION);
  assert_true(st->has_fail_info);
  assert_int_equal(st->fail_info, 1u << fail_bit);
  if (m->type == CMP_IP || m->type == CMP_CP || m->type == CMP_KUP)
    assert_null(m->u.cert_rep.rsp[0].cert.p); /* RFC 9483 §4.1.1: no certifiedKeyPair */
}

void assert_error(const struct cmp_msg *m, int fail_bit) {
  assert_int_equal(m->type, CMP_ERROR);
  assert_refused(m, fail_bit);
}

void assert_rejected_in(const struct cmp_msg *m, int type, int fail_bit) {
  assert_int_equal(m->type, type);
  assert_refused(m, fail_bit);
}

void enrol(struct client *c, struct cmp_msg *ip, struct cmp_exchange **ex_out) {
  uint8_t req[4096];
  size_t len = make_ir(c, req, sizeof req);
  struct cmp_exchange *ex = run("default", req, len);
  decode_response(ex, c, ip);
  *ex_out = ex;
}

int client_new_nonce(struct client *c) { return cg_random(c->nonce, sizeof c->nonce); }
