/*
 * fuzz_pkimessage.c - libFuzzer target for the PKIMessage decoder and the
 * server engine's handling of whatever decodes: each input is decoded, the
 * views it yields are used (names, algorithm parameters, protected part),
 * and then run through an exchange as an unauthenticated request, which
 * must always end in a protected answer that decodes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/encode.h"
#include "cmp/msg.h"
#include "cmp/protect.h"
#include "cmp/server.h"
#include "core/certbuild.h"
#include "core/oid.h"
#include "core/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cmp_server_cfg cfg;
static uint8_t ra_name[64];
static uint8_t master[32];

static void setup(void) {
  static struct cg_key *key;
  size_t len;
  enum cg_oid_id t[] = {CG_OID_AT_CN};
  const char *v[] = {"fuzz RA"};
  if (key != NULL)
    return;
  if (cg_key_generate_ec(256, &key) || cg_cert_make_name(t, v, 1, ra_name, sizeof ra_name, &len))
    abort();
  cfg.ra_name = (struct der_view){ra_name, len};
  cfg.ra_key = key;
  cg_key_default_sig(key, &cfg.ra_scheme, &cfg.ra_hash);
  cfg.master_key = master;
  cfg.pbm_max_iterations = 1000; /* keep each input cheap */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  struct cmp_msg m;
  if (cmp_msg_decode(data, size, &m) == 0) {
    /* Whatever decodes re-encodes from the model to the very same bytes. */
    uint8_t *again = malloc(size);
    struct der_writer w;
    size_t len;
    cg_der_writer_init(&w, again, size);
    if (again == NULL || cmp_msg_encode(&m, &w) || cg_der_writer_finish(&w, &len) || len != size ||
        memcmp(again, data, size) != 0) {
      fprintf(stderr, "decoded message does not re-encode to the same bytes\n");
      abort();
    }
    free(again);
    char name[512];
    uint8_t seq[6];
    struct cg_iov iov[2];
    struct cmp_pbm_params p;
    if (m.hdr.sender_dn.p != NULL)
      cg_name_to_string(m.hdr.sender_dn, name, sizeof name);
    cmp_pbm_parse(m.hdr.protection_alg, 1000, &p);
    cmp_msg_protected_part(&m, seq, iov);
    if (m.type == CMP_IR || m.type == CMP_CR || m.type == CMP_KUR)
      for (size_t i = 0; i < m.u.cert_req.n; i++)
        if (m.u.cert_req.req[i].tmpl.subject.p != NULL)
          cg_name_to_string(m.u.cert_req.req[i].tmpl.subject, name, sizeof name);
  }

  static const struct cmp_profile profile = {.name = "default", .allow_mac = true,
                                             .allow_sig = true};
  struct cmp_exchange *ex = cmp_exchange_new(&cfg, &profile, data, size, 1700000000);
  if (ex == NULL)
    return 0;
  for (int steps = 0; steps < 10; steps++) {
    enum cmp_step s = cmp_exchange_step(ex);
    if (s == CMP_STEP_DONE)
      break;
    if (s == CMP_STEP_LOOKUP) {
      static const struct cmp_lookup_res none = {0};
      cmp_exchange_lookup_done(ex, &none);
    }
    else if (s == CMP_STEP_COMPUTE)
      cmp_exchange_compute(ex);
    else
      abort(); /* without a secret nothing may reach the CA or the store */
  }
  const uint8_t *rsp;
  size_t len;
  cmp_exchange_response(ex, &rsp, &len);
  int rc = rsp ? cmp_msg_decode(rsp, len, &m) : -1;
  if (rc != 0 || m.type != CMP_ERROR) {
    fprintf(stderr, "rsp=%p rc=%d type=%d\n", (const void *)rsp, rc, m.type);
    abort();
  }
  cmp_exchange_free(ex);
  return 0;
}
