#!/usr/bin/env bash
# Interop: the operator commands against a live gateway's database.
#
# Usage: bash tests/interop/test_cli.sh /path/to/cmpgw
#
# Makes a demo gateway with `cmpgw init`, runs `cmpgw serve`, enrols two devices
# with `openssl cmp`, and checks, while the daemon serves:
#   0. (on a deployment of its own) a file that cannot be read is refused with the
#      system's reason (no such file, is a directory), naming the file, line, section
#      and key that named it; so are a bad value and a key set twice (both lines);
#      key files that group or others can access are refused (file, mode, chmod 600),
#      or, with allow_readable_keys = true, served with a warning; `init` makes the
#      parent directories DIR needs (0755) and DIR (0700), and refuses a DIR that
#      exists or a parent that is a file;
#   1. `secret new --ttl/--uses/--note` keeps the output of `secret new` and
#      stores expires_at, max_uses and note;
#   2. `secret list` / `secret show`, human and --json, against the secrets table,
#      and never a secret or a challenge in their output;
#   3. `tx list` (each filter) / `tx show`, human and --json, against transactions
#      and events;
#   4. `certs list` (each filter) / `certs show` (--json, --pem) against certificates;
#   5. `cmpgw revoke` of dev1's certificate while the daemon enrols other devices:
#      certificates, revocations (operator, no transaction) and events agree; a
#      second revoke and an unknown serial exit 1;
#   6. the daemon then answers an rr for that certificate with certRevoked, and the
#      CRL of a genm crlStatusList (cmpgw client) lists it;
#   7. `secret revoke` of dev2's secret: revoked_at and an events row; the daemon
#      refuses its next ir with badMessageCheck;
#   8. `db backup` while the daemon writes, refused onto an existing file;
#      `db check` of the backup and of the live database; a wrong schema version
#      is reported with exit 1;
#   9. exit statuses: 1 not found / refused, 2 usage, 3 store error; `cmpgw help`
#      documents them;
#  10. SIGTERM stops the daemon with status 0; `db check` says ok afterwards.
# The background enrolments started in step 5 run through steps 5 to 8 and must
# all succeed: the CLI never makes the daemon fail, nor the daemon the CLI.
# Exits 0 on success, 1 on the first failure (printing the daemon's log), 77 when
# a tool it drives (openssl, sqlite3, python3) is missing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

need_cmd openssl sqlite3 python3 od cmp timeout
lib_init "${1:-}"

# The background enrolments are killed at exit, before lib_cleanup stops the
# daemon and removes the temp dir.
BG_PID=""
cli_cleanup() {
    local rc=$?
    set +e
    if [ -n "$BG_PID" ]; then
        kill "$BG_PID" 2>/dev/null
        wait "$BG_PID" 2>/dev/null
    fi
    (exit "$rc")
    lib_cleanup
}
trap cli_cleanup EXIT

GW="$IT_TMP/gw"
CONF="$GW/cmpgw.conf"
DB="$GW/cmpgw.db"
W="$IT_TMP/work"
mkdir -p "$W"

# sql QUERY: run QUERY on the gateway's database, result in SQL_OUT.
sql() {
    SQL_OUT="$(sqlite3 -batch -cmd '.timeout 10000' "$DB" "$1" 2>"$W/sql.err")" ||
        fail "sqlite3 failed on: $1" "$W/sql.err"
}

# run_cli NAME ARGS...: `cmpgw ARGS`, stdout in $W/NAME.out, stderr in $W/NAME.err;
# sets RC.
run_cli() {
    local name="$1"
    shift
    echo "   cmpgw $*" | sed -e "s#$IT_TMP/##g"
    RC=0
    "$CMPGW" "$@" >"$W/$name.out" 2>"$W/$name.err" || RC=$?
}

# cli_ok NAME ARGS...: the command must exit 0.
cli_ok() {
    local name="$1"
    run_cli "$@"
    [ "$RC" -eq 0 ] || fail "cmpgw $2 ($name) exited $RC" "$W/$name.out" "$W/$name.err"
}

# cli_exits NAME STATUS ARGS...: the command must exit STATUS and say why on stderr.
cli_exits() {
    local name="$1" want="$2"
    shift 2
    run_cli "$name" "$@"
    [ "$RC" -eq "$want" ] || fail "cmpgw $1 ($name) exited $RC, want $want" "$W/$name.out" "$W/$name.err"
    [ -s "$W/$name.err" ] || fail "cmpgw $1 ($name) exited $RC without a message on stderr"
    ok "exit $want: $(head -n 1 "$W/$name.err")"
}

# has NAME TEXT: stdout of NAME has a line containing TEXT.
has() {
    grep -qF -- "$2" "$W/$1.out" || fail "cmpgw ($1) did not print '$2'" "$W/$1.out"
}

# check MODE ARGS...: compare a --json output with the database (check.py below).
check() {
    python3 "$W/check.py" "$DB" "$@" >"$W/check.out" 2>&1 || fail "check $* failed" "$W/check.out"
    ok "$(tail -n 1 "$W/check.out")"
}

# serve_refuses NAME CONF TEXT: `cmpgw serve -c CONF` must give up at start (exit 1,
# within 60 s), saying TEXT on stderr.
serve_refuses() {
    local name="$1" rc=0
    echo "   cmpgw serve -c ${2#"$IT_TMP"/}"
    timeout 60 "$CMPGW" serve -c "$2" </dev/null >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "cmpgw serve ($name) exited $rc, want 1 at start" "$W/$name.err"
    grep -qF -- "$3" "$W/$name.err" || fail "cmpgw serve ($name) did not say '$3'" "$W/$name.err"
    ok "serve refused: $(grep -F -- "$3" "$W/$name.err" | head -n 1 | sed 's/^[^ ]* [A-Z]* //')"
}

# said NAME TEXT: the stderr of NAME has TEXT.
said() {
    grep -qF -- "$2" "$W/$1.err" || fail "cmpgw ($1) did not say '$2'" "$W/$1.err"
}

# no_secrets NAME...: none of the secrets made here appears in those outputs.
no_secrets() {
    local name s
    for name in "$@"; do
        for s in "$SECRET1" "$SECRET2" "$SECRET3"; do
            if grep -qF -- "$s" "$W/$name.out" "$W/$name.err"; then
                fail "cmpgw ($name) printed a secret" "$W/$name.out"
            fi
        done
    done
}

# ------------------------------------------------------------------ the checker
# check.py DB MODE FILE ARGS: reads the --json output FILE and the database and
# fails (exit 1, saying where) unless they agree.
cat >"$W/check.py" <<'PYEOF'
import base64, json, sqlite3, sys, time

db_path, mode, out_file = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
with open(out_file, "rb") as f:
    raw = f.read()
text = raw.decode("utf-8")
assert text.endswith("\n") and text.count("\n") == 1, "not one line of JSON"
doc = json.loads(text)
con = sqlite3.connect(db_path, timeout=10)
con.row_factory = sqlite3.Row
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

def rows(q, *p):
    return [dict(r) for r in con.execute(q, p)]

def expect(got, want, where):
    if got != want:
        sys.exit(f"{where}: cmpgw says {json.dumps(got)}, the database {json.dumps(want)}")

def secret_status(r):
    if r["revoked_at"]:
        return "revoked"
    if r["expires_at"] and r["expires_at"] <= now:
        return "expired"
    if r["locked_until"] and r["locked_until"] > now:
        return "locked"
    if r["max_uses"] is not None and r["uses"] >= r["max_uses"]:
        return "exhausted"
    return "active"

SECRET_Q = ("SELECT reference, profile, created_at, expires_at, revoked_at, max_uses, uses,"
            " failed_attempts, locked_until, challenge_enc IS NOT NULL AS has_challenge, note,"
            " subject, sans FROM secrets")

def secret_obj(r):
    o = dict(r)
    o["has_challenge"] = bool(o["has_challenge"])
    o["status"] = secret_status(r)
    # the identity a secret is bound to; sans "" when bound without any
    o["sans"] = None if o["subject"] is None else (o["sans"] or "")
    return o

TXN_Q = ("SELECT transaction_id, profile, auth_ref, req_type, state, failinfo, cert_req_id,"
         " sender_nonce, cert_serial, created_at, updated_at FROM transactions")
FAILINFO = ["badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId",
            "badDataFormat", "wrongAuthority", "incorrectData", "missingTimeStamp", "badPOP",
            "certRevoked", "certConfirmed", "wrongIntegrity", "badRecipientNonce",
            "timeNotAvailable", "unacceptedPolicy", "unacceptedExtension",
            "addInfoNotAvailable", "badSenderNonce", "badCertTemplate", "signerNotTrusted",
            "transactionIdInUse", "unsupportedVersion", "notAuthorized", "systemUnavail",
            "systemFailure", "duplicateCertReq"]

def txn_obj(r):
    o = dict(r)
    fi = o["failinfo"]
    o["failinfo_name"] = FAILINFO[fi] if fi is not None and 0 <= fi < len(FAILINFO) else None
    return o

CERT_Q = ("SELECT c.serial, c.subject, c.issuer, c.sans, c.key_type, c.not_before, c.not_after, c.status,"
          " c.profile, c.transaction_id, c.created_at, r.serial AS r_serial, r.reason,"
          " r.revoked_at, r.requested_by, r.transaction_id AS r_txid"
          " FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial")
REASONS = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
           "superseded", "cessationOfOperation", "certificateHold", None, "removeFromCRL",
           "privilegeWithdrawn", "aACompromise"]

def cert_obj(r):
    o = {k: r[k] for k in ("serial", "subject", "issuer", "sans", "key_type", "not_before",
                           "not_after", "status", "profile", "transaction_id", "created_at")}
    if r["r_serial"] is None:
        o["revocation"] = None
    else:
        o["revocation"] = {"reason": r["reason"],
                           "reason_name": None if r["reason"] is None else REASONS[r["reason"]],
                           "revoked_at": r["revoked_at"], "requested_by": r["requested_by"],
                           "transaction_id": r["r_txid"]}
    return o

def limit(n):
    return -1 if n == "0" else int(n)

if mode == "secrets":          # [PROFILE]
    q = SECRET_Q + (" WHERE profile = ?" if args else "") + " ORDER BY reference"
    want = [secret_obj(r) for r in rows(q, *args)]
    expect(doc, want, "secret list")
    print(f"secret list --json: {len(doc)} secrets as in the database")
elif mode == "secret":         # REF
    want = [secret_obj(r) for r in rows(SECRET_Q + " WHERE reference = ?", args[0])]
    expect([doc], want, "secret show")
    print(f"secret show --json {args[0]}: as in the database (status {doc['status']})")
elif mode == "txs":            # STATE PROFILE SINCE LIMIT ('-' = none)
    st, pr, since, lim = [None if a == "-" else a for a in args]
    q = (TXN_Q + " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR profile = ?2)"
         " AND (?3 IS NULL OR created_at >= ?3) ORDER BY rowid DESC LIMIT ?4")
    want = [txn_obj(r) for r in rows(q, st, pr, since, limit(lim or "50"))]
    expect(doc, want, "tx list")
    print(f"tx list --json {' '.join(args)}: {len(doc)} transactions, newest first, as stored")
elif mode == "tx":             # TXID
    t = rows(TXN_Q + " WHERE transaction_id = ?", args[0])
    assert len(t) == 1, "no such transaction"
    want = txn_obj(t[0])
    c = rows("SELECT serial, status, subject FROM certificates WHERE serial = ?",
             want["cert_serial"])
    want["certificate"] = c[0] if c else None
    want["events"] = rows("SELECT id, at, kind, detail FROM events WHERE transaction_id = ?"
                          " ORDER BY id", args[0])
    expect(doc, want, "tx show")
    kinds = ",".join(e["kind"] for e in doc["events"]) or "none"
    print(f"tx show --json {args[0]}: as stored, certificate {doc['certificate'] and doc['certificate']['status']}, events {kinds}")
elif mode == "certs":          # SUBJECT STATUS LIMIT ('-' = none)
    sub, st, lim = [None if a == "-" else a for a in args]
    q = (CERT_Q + " WHERE (?1 IS NULL OR instr(lower(c.subject), lower(?1)) > 0)"
         " AND (?2 IS NULL OR c.status = ?2) ORDER BY c.rowid DESC LIMIT ?3")
    want = [cert_obj(r) for r in rows(q, sub, st, limit(lim or "50"))]
    expect(doc, want, "certs list")
    print(f"certs list --json {' '.join(args)}: {len(doc)} certificates, newest first, as stored")
elif mode == "cert":           # SERIAL (as stored)
    r = rows(CERT_Q + " WHERE c.serial = ?", args[0])
    assert len(r) == 1, "no such certificate"
    want = cert_obj(r[0])
    t = rows("SELECT transaction_id, req_type, state, auth_ref FROM transactions"
             " WHERE transaction_id = ?", want["transaction_id"])
    want["transaction"] = t[0] if t else None
    pem = doc.get("pem") or ""
    body = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    der = rows("SELECT der FROM certificates WHERE serial = ?", args[0])[0]["der"]
    expect(base64.b64decode(body) == der, True, "certs show pem")
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n"), "pem header"
    want["pem"] = pem
    expect(doc, want, "certs show")
    print(f"certs show --json {args[0]}: as stored, PEM decodes to the stored DER")
else:
    sys.exit("unknown mode " + mode)
PYEOF

# ------------------------------------------------------------------ set-up
step "cmpgw --version: the version, the commit, the libraries"
"$CMPGW" --version >"$IT_TMP/version.out" 2>&1 || fail "cmpgw --version failed" "$IT_TMP/version.out"
head -n 1 "$IT_TMP/version.out" | grep -qE '^cmpgw [0-9]+\.[0-9]+\.[0-9]+$' ||
    fail "the first line is not 'cmpgw X.Y.Z'" "$IT_TMP/version.out"
for f in 'commit: [0-9a-f]{7,}(-dirty)?$|commit: unknown$' \
    'wolfSSL: [0-9]+\.[0-9]+\.[0-9]+ \((the fast build of scripts/build-wolfssl.sh|the system library)\)$' \
    'SQLite: 3\.[0-9]+\.[0-9]+$' 'libuv: 1\.[0-9]+\.[0-9]+$'; do
    grep -qE "^($f)" "$IT_TMP/version.out" || fail "no line /$f/" "$IT_TMP/version.out"
done
ok "$(head -n 1 "$IT_TMP/version.out"), $(grep wolfSSL "$IT_TMP/version.out")"

step "cmpgw init $GW --http 127.0.0.1:0"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init exited non-zero" "$W/init.out"
RA="$(ra_subject "$GW")" || fail "cannot read the subject of ra-cert.pem"
# A wide group-commit window, so that the bench's concurrent writes are held
# (step 10 checks the daemon said so).
grep -qx 'commit_interval_us = 0' "$CONF" || fail "init wrote no commit_interval_us"
sed -i 's/^commit_interval_us = .*/commit_interval_us = 50000/' "$CONF"

step "0. configuration and key files: a refusal says what is wrong, and where"
# On a deployment of its own, which these checks may change.
G0="$IT_TMP/g0"
C0="$G0/cmpgw.conf"
"$CMPGW" init "$G0" --http 127.0.0.1:0 >"$W/init0.out" 2>&1 || fail "cmpgw init (g0) failed" "$W/init0.out"
# line_of KEY: the number of the line "KEY = ..." of the configuration init wrote.
line_of() { grep -n "^$1 = " "$C0" | cut -d: -f1; }
# A file that cannot be read says why, in the system's words, and which key named it.
sed 's/^master_key = .*/master_key = no-such.key/' "$C0" >"$G0/t-master.conf"
cli_exits t-master 1 secret new -c "$G0/t-master.conf"
said t-master "config $G0/t-master.conf:$(line_of master_key): [secrets] master_key: cannot read $G0/no-such.key: No such file or directory"
mkdir "$G0/p12dir"
sed 's/^pkcs12 = .*/pkcs12 = p12dir/' "$C0" >"$G0/t-p12.conf"
serve_refuses t-p12 "$G0/t-p12.conf" "t-p12.conf:$(line_of pkcs12): [ra] pkcs12: cannot read $G0/p12dir: Is a directory"
# What a backend finds wrong when the daemon starts names the line too.
sed 's/^key = ca-key.pem/key = no-such-key.pem/' "$C0" >"$G0/t-cakey.conf"
serve_refuses t-cakey "$G0/t-cakey.conf" "t-cakey.conf:$(line_of key): [backend local] key: cannot read $G0/no-such-key.pem: No such file or directory"
# A bad value names the file, the line, the section and key, and what is wrong.
n="$(line_of max_connections)"
sed 's/^max_connections = .*/max_connections = abc/' "$C0" >"$G0/t-value.conf"
cli_exits t-value 1 tx list -c "$G0/t-value.conf"
said t-value "config $G0/t-value.conf:$n: [server] max_connections: \"abc\" is not a number (1..1000000)"
# A key set twice is refused naming both lines, rather than the later one winning.
sed 's/^\(max_connections = .*\)/\1\nmax_connections = 5/' "$C0" >"$G0/t-twice.conf"
cli_exits t-twice 1 secret list -c "$G0/t-twice.conf"
said t-twice "t-twice.conf:$((n + 1)): [server] max_connections: set twice, at lines $n and $((n + 1))"
# Key files: init makes them for the owner only; one that group or others can
# access is refused (as sshd refuses one), naming it, its mode and the fix ...
for f in ca-key.pem ra.p12 ra.pass master.key cmpgw.conf; do
    [ "$(stat -c %a "$G0/$f")" = 600 ] || fail "init made $f with mode $(stat -c %a "$G0/$f")"
done
ok "init made ca-key.pem, ra.p12, ra.pass, master.key and cmpgw.conf (it may hold a challenge_value) with mode 0600"
chmod 644 "$G0/master.key"
cli_exits t-mode 1 secret new -c "$C0"
said t-mode "ERROR $G0/master.key has mode 0644: group or others can access this key file; chmod 600 $G0/master.key (or, to accept it, set [server] allow_readable_keys = true)"
said t-mode "config $C0:$(line_of master_key): [secrets] master_key: cannot read $G0/master.key: group or others can access this key file"
chmod 600 "$G0/master.key"
chmod 640 "$G0/ra.pass"
serve_refuses t-rapass "$C0" "$G0/ra.pass has mode 0640: group or others can access this key file; chmod 600 $G0/ra.pass"
chmod 600 "$G0/ra.pass"
chmod 604 "$G0/ca-key.pem"
serve_refuses t-cakeymode "$C0" "[backend local] key: cannot read $G0/ca-key.pem: group or others can access this key file"
# ... unless [server] allow_readable_keys = true: then a warning, and it serves.
chmod 644 "$G0/master.key" "$G0/ra.p12" "$G0/ra.pass" "$G0/ca-key.pem"
grep -qx 'allow_readable_keys = false' "$C0" || fail "init wrote no allow_readable_keys"
sed -i 's/^allow_readable_keys = .*/allow_readable_keys = true/' "$C0"
cli_ok t-allow secret new -c "$C0" --json
said t-allow "WARN $G0/master.key has mode 0644: group or others can access this key file; [server] allow_readable_keys = true lets it pass (chmod 600 $G0/master.key protects it)"
daemon_start "$C0"
for f in ra.pass ra.p12 master.key ca-key.pem; do
    grep -qF "WARN $G0/$f has mode 0644" "$DAEMON_LOG" || fail "no warning about $f" "$DAEMON_LOG"
done
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS after SIGTERM"
ok "allow_readable_keys = true: served, with a warning for each of the four key files"

step "0b. init makes the parent directories DIR needs"
# as mkdir -p does: 0755 less the umask (set here: the caller's may differ); DIR 0700
(umask 022 && exec "$CMPGW" init "$IT_TMP/new/deeper/gw2" --http 127.0.0.1:0) >"$W/init2.out" 2>&1 ||
    fail "cmpgw init of a DIR whose parents do not exist failed" "$W/init2.out"
[ -s "$IT_TMP/new/deeper/gw2/cmpgw.conf" ] && [ -s "$IT_TMP/new/deeper/gw2/master.key" ] ||
    fail "init wrote no deployment into new/deeper/gw2"
for d in new:755 new/deeper:755 new/deeper/gw2:700; do
    [ "$(stat -c %a "$IT_TMP/${d%%:*}")" = "${d##*:}" ] ||
        fail "${d%%:*} has mode $(stat -c %a "$IT_TMP/${d%%:*}"), want ${d##*:}"
done
ok "made new/ and new/deeper/ (0755), then new/deeper/gw2 (0700)"
cli_exits init-again 1 init "$IT_TMP/new/deeper/gw2"
said init-again "init never overwrites an existing deployment"
: >"$W/a-file"
cli_exits init-file 1 init "$W/a-file/sub/gw"
said init-file "cannot create $W/a-file: Not a directory"
[ ! -e "$W/a-file/sub" ] || fail "init left something under a file"

step "1. secret new, with and without --ttl / --uses / --note"
cli_ok s1 secret new -c "$CONF" --json --ttl 7d --uses 5 --note 'first device, "lab" 4'
REF1="$(json_field reference "$W/s1.out")"; SECRET1="$(json_field secret "$W/s1.out")"
[ "$(cat "$W/s1.out")" = "{\"reference\": \"$REF1\", \"secret\": \"$SECRET1\"}" ] ||
    fail "secret new --json changed its output" "$W/s1.out"
cli_ok s2 secret new -c "$CONF" --ref cli-dev2 --ttl 12h
REF2=cli-dev2
SECRET2="$(sed -n 's/^secret: *//p' "$W/s2.out")"
printf 'reference: cli-dev2\nsecret:    %s\nprofile:   default\nThe secret is shown only now; the gateway stores it encrypted.\n' \
    "$SECRET2" >"$W/s2.want"
cmp -s "$W/s2.out" "$W/s2.want" || fail "secret new changed its human output" "$W/s2.out" "$W/s2.want"
cli_ok s3 secret new -c "$CONF" --json --ref cli-load --uses 1000 --ttl 30m
REF3=cli-load; SECRET3="$(json_field secret "$W/s3.out")"
cli_ok s4 secret new -c "$CONF" --json --ref cli-spare --ttl 3600s
ok "secret new kept its output; references $REF1, $REF2, $REF3, cli-spare"
sql "SELECT reference || '|' || ifnull(max_uses, 'NULL') || '|' || ifnull(note, 'NULL') || '|'
            || (strftime('%s', expires_at) - strftime('%s', created_at))
       FROM secrets ORDER BY reference"
want="$(printf '%s\n' "cli-dev2|NULL|NULL|43200" "cli-load|1000|NULL|1800" "cli-spare|NULL|NULL|3600" \
    "$REF1|5|first device, \"lab\" 4|604800" | LC_ALL=C sort)"
[ "$SQL_OUT" = "$want" ] || fail "secrets rows: '$SQL_OUT', want '$want'"
ok "stored: expires_at = created_at + ttl, max_uses and note as given"
cli_exits s-badttl 2 secret new -c "$CONF" --ttl 7w
cli_exits s-baduses 2 secret new -c "$CONF" --uses 0
cli_exits s-dup 1 secret new -c "$CONF" --ref cli-dev2
sql "SELECT count(*) FROM secrets"
[ "$SQL_OUT" = 4 ] || fail "refused secret new commands wrote rows: $SQL_OUT secrets"

for k in dev1 dev2 load; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$k.key" 2>/dev/null ||
        fail "cannot make an EC key"
done

step "cmpgw serve -c $CONF"
daemon_start "$CONF"
ok "daemon pid $DAEMON_PID listening on 127.0.0.1:$PORT"

# enrol NAME REF SECRET: ir + certConf with the OpenSSL client.
enrol() {
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp \
        -ref "$2" -secret "pass:$3" -recipient "$RA" -newkey "$W/$1.key" \
        -subject "/CN=$1/O=cli test" -sans "$1.example 192.0.2.7" -certout "$W/$1.pem" \
        -msg_timeout 60 >"$W/$1.cmp.log" 2>&1 ||
        fail "openssl cmp ir ($1) exited non-zero" "$W/$1.cmp.log"
}

confirmed_is() {
    sql "SELECT count(*) FROM transactions WHERE state = 'confirmed'"
    [ "$SQL_OUT" = "$1" ]
}

step "enrol dev1 ($REF1) and dev2 ($REF2) with openssl cmp"
enrol dev1 "$REF1" "$SECRET1"
enrol dev2 "$REF2" "$SECRET2"
until_true 30 confirmed_is 2 || fail "$SQL_OUT transactions confirmed, want 2"
S1="$(cert_serial "$W/dev1.pem")"; S2="$(cert_serial "$W/dev2.pem")"
sql "SELECT serial FROM certificates WHERE ltrim(serial, '0') = '$S1'"; SER1="$SQL_OUT"
sql "SELECT serial FROM certificates WHERE ltrim(serial, '0') = '$S2'"; SER2="$SQL_OUT"
sql "SELECT transaction_id FROM transactions WHERE cert_serial = '$SER1'"; TX1="$SQL_OUT"
sql "SELECT transaction_id FROM transactions WHERE cert_serial = '$SER2'"; TX2="$SQL_OUT"
if [ -z "$SER1" ] || [ -z "$SER2" ] || [ -z "$TX1" ] || [ -z "$TX2" ]; then
    fail "the store lacks the certificates or transactions of dev1/dev2"
fi
ok "dev1: serial $SER1 transaction $TX1; dev2: serial $SER2 transaction $TX2"

# ------------------------------------------------------------------ 2
step "2. secret list / secret show"
cli_ok sl secret list -c "$CONF"
for r in "$REF1" "$REF2" "$REF3" cli-spare; do has sl "$r"; done
sql "SELECT uses FROM secrets WHERE reference = '$REF1'"
USES1="$SQL_OUT"
grep -E "^$REF1 +default +active +$USES1/5 " "$W/sl.out" >/dev/null ||
    fail "secret list: no line '$REF1 default active $USES1/5'" "$W/sl.out"
has sl 'first device, "lab" 4'
ok "secret list: one line per secret, $REF1 active with $USES1/5 uses"
cli_ok slj secret list -c "$CONF" --json
check secrets "$W/slj.out"
cli_ok slp secret list -c "$CONF" --json --profile default
check secrets "$W/slp.out" default
cli_ok slx secret list -c "$CONF" --json --profile nosuch
[ "$(cat "$W/slx.out")" = "[]" ] || fail "secret list of an unknown profile is not []" "$W/slx.out"
cli_ok ss secret show -c "$CONF" "$REF1"
for line in "reference:       $REF1" "status:          active" "uses:            $USES1 of at most 5" \
    "failed attempts: 0" "locked until:    not locked" "revoked:         no" \
    "note:            first device, \"lab\" 4" "challenge:       none"; do
    has ss "$line"
done
sql "SELECT expires_at FROM secrets WHERE reference = '$REF1'"
has ss "expires:         $SQL_OUT"
ok "secret show $REF1: uses, limit, failures, lock, expiry, revocation, note"
cli_ok ssj secret show -c "$CONF" --json "$REF1"
check secret "$W/ssj.out" "$REF1"
no_secrets sl slj slp ss ssj
ok "no secret in the output of list and show"

# ------------------------------------------------------------------ 3
step "3. tx list / tx show"
cli_ok tl tx list -c "$CONF"
head -n 1 "$W/tl.out" | grep -qE '^CREATED +TRANSACTION_ID +TYPE +STATE' || fail "tx list header" "$W/tl.out"
[ "$(sed -n 2p "$W/tl.out" | awk '{print $2}')" = "$TX2" ] || fail "tx list: dev2's transaction is not first" "$W/tl.out"
[ "$(sed -n 3p "$W/tl.out" | awk '{print $2}')" = "$TX1" ] || fail "tx list: dev1's transaction is not second" "$W/tl.out"
ok "tx list: newest first"
cli_ok tlj tx list -c "$CONF" --json
check txs "$W/tlj.out" - - - -
cli_ok tlf tx list -c "$CONF" --json --state confirmed --profile default --limit 1
check txs "$W/tlf.out" confirmed default - 1
sql "SELECT created_at FROM transactions WHERE transaction_id = '$TX2'"
cli_ok tls tx list -c "$CONF" --json --since "$SQL_OUT"
check txs "$W/tls.out" - - "$SQL_OUT" -
cli_ok tln tx list -c "$CONF" --json --state rejected
[ "$(cat "$W/tln.out")" = "[]" ] || fail "tx list --state rejected is not []" "$W/tln.out"
cli_ok ts tx show -c "$CONF" "$TX1"
has ts "transaction:  $TX1"; has ts "state:        confirmed"; has ts "auth_ref:     $REF1"
has ts "certificate:  $SER1 (valid) "
ok "tx show $TX1: state, auth_ref, certificate"
cli_ok tsj tx show -c "$CONF" --json "$(printf '%s' "$TX1" | tr 'a-f' 'A-F')"
check tx "$W/tsj.out" "$TX1"

# ------------------------------------------------------------------ 4
step "4. certs list / certs show"
cli_ok cl certs list -c "$CONF"
has cl "$SER1"; has cl "$SER2"
ok "certs list: both serials"
cli_ok clj certs list -c "$CONF" --json
check certs "$W/clj.out" - - -
cli_ok cls certs list -c "$CONF" --json --subject DEV1 --status valid
check certs "$W/cls.out" DEV1 valid -
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/cls.out")" = 1 ] ||
    fail "certs list --subject DEV1 did not find exactly dev1" "$W/cls.out"
cli_ok cs certs show -c "$CONF" "$SER2"
has cs "serial:       $SER2"; has cs "status:       valid"; has cs "revoked:      no"
has cs "key:          EC P-256"; has cs "subjectAltName: DNS:dev2.example, IP:192.0.2.7"
has cs "transaction:  $TX2 (ir, confirmed, auth_ref $REF2)"
cli_ok csj certs show -c "$CONF" --json "$SER2"
check cert "$W/csj.out" "$SER2"
# openssl's form of the serial (capitals, maybe another count of leading zeros).
OSER2="$(openssl x509 -in "$W/dev2.pem" -noout -serial | sed 's/^serial=//')"
cli_ok csp certs show -c "$CONF" --pem "$OSER2"
openssl x509 -in "$W/csp.out" -outform DER -out "$W/csp.der" 2>"$W/x509.err" ||
    fail "certs show --pem did not print a certificate" "$W/csp.out" "$W/x509.err"
openssl x509 -in "$W/dev2.pem" -outform DER -out "$W/dev2.der"
cmp -s "$W/csp.der" "$W/dev2.der" || fail "certs show --pem $OSER2 is not dev2's certificate"
ok "certs show --pem $OSER2: dev2's certificate"

# ------------------------------------------------------------------ 5
step "5. cmpgw revoke $SER1 while the daemon enrols in the background"
# Background enrolments with their own secret, one after the other until step 8
# is done: the daemon keeps writing while the CLI reads and writes.
(
    set +e
    i=0
    while [ ! -e "$W/load.stop" ] && [ "$i" -lt 500 ]; do
        i=$((i + 1))
        if openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp \
            -ref "$REF3" -secret "pass:$SECRET3" -recipient "$RA" -newkey "$W/load.key" \
            -subject "/CN=load-$i" -certout "$W/load-$i.pem" -msg_timeout 60 \
            >"$W/load-$i.log" 2>&1; then
            echo "$i" >>"$W/load.done"
        else
            echo "$i" >>"$W/load.failed"
        fi
    done
) &
BG_PID=$!
OSER1="$(openssl x509 -in "$W/dev1.pem" -noout -serial | sed 's/^serial=//')"
cli_ok rv revoke -c "$CONF" "$OSER1" --reason keyCompromise --json
python3 - "$W/rv.out" "$SER1" <<'PYEOF' || fail "revoke --json output" "$W/rv.out"
import json, re, sys
d = json.loads(open(sys.argv[1]).read())
assert d["serial"] == sys.argv[2] and d["reason"] == 1 and d["reason_name"] == "keyCompromise"
assert d["requested_by"] == "operator" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["revoked_at"])
PYEOF
REVOKED_AT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["revoked_at"])' "$W/rv.out")"
sql "SELECT c.status || '|' || r.reason || '|' || r.revoked_at || '|' || ifnull(r.transaction_id, 'NULL')
            || '|' || r.requested_by FROM certificates c JOIN revocations r ON r.serial = c.serial
      WHERE c.serial = '$SER1'"
[ "$SQL_OUT" = "revoked|1|$REVOKED_AT|NULL|operator" ] || fail "store after revoke: '$SQL_OUT'"
sql "SELECT count(*) FROM events WHERE kind = 'certificate.revoked' AND transaction_id = '$TX1'
        AND at = '$REVOKED_AT' AND detail LIKE '%$SER1%'"
[ "$SQL_OUT" = 1 ] || fail "no certificate.revoked event for $SER1 in transaction $TX1"
ok "certificates.status revoked, revocations (1, operator, no transaction), events certificate.revoked"
cli_exits rv2 1 revoke -c "$CONF" "$SER1" --reason 4
grep -q 'revoked already' "$W/rv2.err" || fail "the second revoke does not say 'revoked already'" "$W/rv2.err"
sql "SELECT count(*) || '|' || max(reason) FROM revocations WHERE serial = '$SER1'"
[ "$SQL_OUT" = "1|1" ] || fail "the second revoke changed revocations: $SQL_OUT"
cli_exits rv3 1 revoke -c "$CONF" 0badc0ffee --reason 1
cli_exits rv4 2 revoke -c "$CONF" "$SER2" --reason 7
cli_exits rv5 2 revoke -c "$CONF" "$SER2"
cli_ok rvs certs show -c "$CONF" "$SER1"
has rvs "status:       revoked"
has rvs "revoked:      $REVOKED_AT, reason 1 (keyCompromise), requested by operator"
cli_ok rvt tx show -c "$CONF" "$TX1"
has rvt "certificate:  $SER1 (revoked)"
has rvt "certificate.revoked"
cli_ok rvtj tx show -c "$CONF" --json "$TX1"
check tx "$W/rvtj.out" "$TX1"
cli_ok rvcl certs list -c "$CONF" --json --status revoked
check certs "$W/rvcl.out" - revoked -

# ------------------------------------------------------------------ 6
step "6. rr for the revoked certificate: certRevoked; the CRL lists it"
if openssl cmp -cmd rr -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF1" \
    -secret "pass:$SECRET1" -recipient "$RA" -trusted "$GW/ca-cert.pem" -oldcert "$W/dev1.pem" \
    -revreason 0 -msg_timeout 60 >"$W/rr.log" 2>&1; then
    fail "the daemon accepted an rr for a certificate the operator revoked" "$W/rr.log"
fi
FI="$(client_failinfo "$W/rr.log")"
[ "$FI" = certRevoked ] || fail "rr: PKIFailureInfo '$FI', want certRevoked" "$W/rr.log"
ok "openssl cmp rr: $(grep -m1 -o 'PKIStatus: .*' "$W/rr.log")"
crl_fetch "http://127.0.0.1:$PORT/.well-known/cmp" "$REF1" "$SECRET1" "$GW/ca-cert.pem" "$W/crl"
grep -qx "$S1" "$W/crl.serials" || fail "the CRL does not list $S1" "$W/crl.txt"
grep -qx "$S2" "$W/crl.serials" && fail "the CRL lists $S2, which is not revoked" "$W/crl.txt"
ok "the CRL from genm crlStatusList lists $S1 (and not $S2)"

# ------------------------------------------------------------------ 7
step "7. secret revoke $REF2; the daemon refuses its next ir"
cli_ok sr secret revoke -c "$CONF" "$REF2" --json
AT="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["reference"]=="cli-dev2"; print(d["revoked_at"])' "$W/sr.out")" ||
    fail "secret revoke --json output" "$W/sr.out"
sql "SELECT revoked_at FROM secrets WHERE reference = '$REF2'"
[ "$SQL_OUT" = "$AT" ] || fail "secrets.revoked_at is '$SQL_OUT', want $AT"
sql "SELECT count(*) FROM events WHERE kind = 'secret.revoked' AND at = '$AT' AND detail LIKE '%$REF2%'"
[ "$SQL_OUT" = 1 ] || fail "no secret.revoked event for $REF2"
ok "secrets.revoked_at $AT and one secret.revoked event"
cli_exits sr2 1 secret revoke -c "$CONF" "$REF2"
grep -q 'revoked already' "$W/sr2.err" || fail "the second secret revoke does not say 'revoked already'" "$W/sr2.err"
cli_exits sr3 1 secret revoke -c "$CONF" no-such-reference
cli_ok srs secret show -c "$CONF" "$REF2"
has srs "status:          revoked"; has srs "revoked:         $AT"
if openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF2" \
    -secret "pass:$SECRET2" -recipient "$RA" -trusted "$GW/ca-cert.pem" -newkey "$W/dev2.key" \
    -subject "/CN=dev2-again" -certout "$W/dev2-again.pem" -msg_timeout 60 >"$W/ir-revoked.log" 2>&1; then
    fail "the daemon accepted an ir with a revoked secret" "$W/ir-revoked.log"
fi
FI="$(client_failinfo "$W/ir-revoked.log")"
[ "$FI" = badMessageCheck ] || fail "ir with the revoked secret: PKIFailureInfo '$FI', want badMessageCheck" "$W/ir-revoked.log"
ok "openssl cmp ir with $REF2: $(grep -m1 -o 'PKIStatus: .*' "$W/ir-revoked.log")"

# ------------------------------------------------------------------ 8
step "8. db backup while serving; db check"
cli_ok bk db backup -c "$CONF" "$W/backup.db"
has bk "written to"
[ -s "$W/backup.db" ] || fail "db backup wrote no file"
[ "$(stat -c %a "$W/backup.db")" = 600 ] || fail "the backup is not mode 0600"
cp "$W/backup.db" "$W/backup.copy"
cli_exits bk2 1 db backup -c "$CONF" "$W/backup.db"
cmp -s "$W/backup.db" "$W/backup.copy" || fail "a refused db backup changed the existing file"
cli_ok ck db check "$W/backup.db"
[ "$(cat "$W/ck.out")" = ok ] || fail "db check of the backup did not say ok" "$W/ck.out"
ok "db check backup.db: ok"
B_COUNTS="$(sqlite3 -batch "$W/backup.db" "SELECT (SELECT count(*) FROM secrets) || ' ' ||
    (SELECT count(*) FROM revocations WHERE serial = '$SER1') || ' ' ||
    (SELECT count(*) FROM secrets WHERE reference = '$REF2' AND revoked_at IS NOT NULL)")"
[ "$B_COUNTS" = "4 1 1" ] || fail "the backup lacks rows written before it: $B_COUNTS"
ok "the backup holds the operator's revocations"
cli_ok ckl db check -c "$CONF" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["problems"]==[] and d["user_version"]==d["expected_version"]' \
    "$W/ckl.out" || fail "db check --json of the live database" "$W/ckl.out"
ok "db check -c --json (live database): ok, user_version $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user_version"])' "$W/ckl.out")"
sqlite3 -batch "$W/backup.copy" "PRAGMA user_version = 999" || fail "cannot change the copy's user_version"
cli_exits ckv 1 db check "$W/backup.copy"
grep -q 'schema version 999' "$W/ckv.out" || fail "db check did not report version 999" "$W/ckv.out"
ok "a copy at schema version 999: $(cat "$W/ckv.out")"

touch "$W/load.stop"
wait "$BG_PID" || true
BG_PID=""
[ ! -e "$W/load.failed" ] || fail "background enrolments failed: $(tr '\n' ' ' <"$W/load.failed")" \
    "$W/load-$(head -n 1 "$W/load.failed").log"
LOADS="$(wc -l <"$W/load.done" 2>/dev/null || echo 0)"
[ "$LOADS" -ge 1 ] || fail "no background enrolment ran"
sql "SELECT count(*) FROM certificates WHERE subject LIKE 'CN=load-%'"
[ "$SQL_OUT" = "$LOADS" ] || fail "$SQL_OUT certificates for the background enrolments, want $LOADS"
ok "the $LOADS background enrolments during steps 5-8 all succeeded"

# ------------------------------------------------------------------ 9
step "9. exit statuses"
cli_exits e1 1 tx show -c "$CONF" 0123456789abcdef
cli_exits e2 1 certs show -c "$CONF" 0123456789abcdef
cli_exits e3 1 secret show -c "$CONF" no-such-reference
cli_exits e4 2 tx list
cli_exits e5 2 tx list -c "$CONF" --state nonsense
cli_exits e6 2 tx list -c "$CONF" --since yesterday
cli_exits e7 2 certs list -c "$CONF" --status expired
cli_exits e8 2 db check -c "$CONF" "$W/backup.db"
cli_exits e9 1 db check "$W/no-such.db"
sed 's/^database = .*/database = no-such-dir\/cmpgw.db/' "$CONF" >"$GW/broken.conf"
cli_exits e10 3 tx list -c "$GW/broken.conf"
cli_exits e11 1 tx list -c "$W/no-such.conf"
"$CMPGW" help >"$W/help.out" 2>&1 || fail "cmpgw help exited non-zero" "$W/help.out"
for w in "secret list" "secret show" "secret revoke" "tx list" "tx show" "certs list" \
    "certs show" "revoke -c CONF SERIAL --reason" "db check" "db backup" "3 store error"; do
    grep -qF -- "$w" "$W/help.out" || fail "cmpgw help does not mention '$w'" "$W/help.out"
done
ok "cmpgw help lists every command and the exit statuses"

# ------------------------------------------------------------------ 9b
step "9b. bench cmp: the load generator runs whole transactions (numbers: docs/PERFORMANCE.md)"
SECRET4="$(json_field secret "$W/s4.out")"
BEFORE="$(sqlite3 "$DB" "SELECT count(*) FROM certificates WHERE subject = 'CN=cmpgw bench' AND status = 'valid'")"
for op in ir ir-implicit genm; do
    "$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "$SECRET4" \
        --op "$op" --sessions 4 --count 40 --server-pid "$DAEMON_PID" >"$W/bench-$op.out" 2>&1 ||
        fail "cmpgw bench cmp --op $op failed" "$W/bench-$op.out"
    grep -qE "^cmp: op=$op auth=mac keytype=p256 transport=http sessions=4 ok=40 failed=0 .* server_cpu_ms_per_tx=" "$W/bench-$op.out" ||
        fail "unexpected bench output" "$W/bench-$op.out"
done
# the default profile does not grant implicit confirmation, and the bench says so
grep -qx "  implicit confirmation not granted in 40 answers: certConf sent (the profile's implicit_confirm is false)" \
    "$W/bench-ir-implicit.out" || fail "the bench does not report the certConfs it had to send" "$W/bench-ir-implicit.out"
grep -q "not granted" "$W/bench-ir.out" && fail "plain ir reported as not granted" "$W/bench-ir.out"
bench_valid() { sqlite3 "$DB" "SELECT count(*) FROM certificates WHERE subject = 'CN=cmpgw bench' AND status = '$1'"; }
[ "$(bench_valid valid)" = $((BEFORE + 80)) ] ||
    fail "the 80 enrolments of the bench are not all confirmed certificates"
ok "40 ir + certConf, 40 ir (implicitConfirm asked, not granted here: certConf sent, and reported), 40 genm; 80 valid certificates"
# signed: each of the 4 sessions enrols its signing certificate first (MAC), then 40 signed ir
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "$SECRET4" \
    --op ir --auth sig --sessions 4 --count 40 >"$W/bench-sig.out" 2>&1 ||
    fail "cmpgw bench cmp --auth sig failed" "$W/bench-sig.out"
grep -qE "^cmp: op=ir auth=sig keytype=p256 transport=http sessions=4 ok=40 failed=0 " "$W/bench-sig.out" ||
    fail "unexpected bench output" "$W/bench-sig.out"
[ "$(bench_valid valid)" = $((BEFORE + 124)) ] || fail "4 signing certificates + 40 signed enrolments were not all stored"
ok "--auth sig: 4 signing certificates enrolled by MAC, then 40 signature-protected ir + certConf"
# rr: the certificates are enrolled before the clock, then revoked (MAC, then signed by each one)
REVOKED="$(bench_valid revoked)"
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "$SECRET4" \
    --op rr --sessions 4 --count 20 >"$W/bench-rr.out" 2>&1 || fail "cmpgw bench cmp --op rr failed" "$W/bench-rr.out"
grep -qE "^cmp: op=rr auth=mac .* ok=20 failed=0 " "$W/bench-rr.out" || fail "unexpected bench output" "$W/bench-rr.out"
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "$SECRET4" \
    --op rr --auth sig --sessions 4 --count 8 >"$W/bench-rrs.out" 2>&1 ||
    fail "cmpgw bench cmp --op rr --auth sig failed" "$W/bench-rrs.out"
grep -qE "^cmp: op=rr auth=sig .* ok=8 failed=0 " "$W/bench-rrs.out" || fail "unexpected bench output" "$W/bench-rrs.out"
[ "$(bench_valid revoked)" = $((REVOKED + 28)) ] || fail "the bench's 28 rr did not revoke 28 certificates"
[ "$(bench_valid valid)" = $((BEFORE + 124)) ] || fail "the rr runs left valid certificates behind"
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "$SECRET4" \
    --op rr --sessions 4 >"$W/bench-rr0.out" 2>&1 && fail "--op rr without --count was accepted" "$W/bench-rr0.out"
ok "--op rr: 20 MAC-protected and 8 signed revocations of certificates enrolled before the clock; --count required"
# (the secret from a file, as `openssl cmp -secret file:` takes it: ps does not show it)
printf '%s\n' "$SECRET4" >"$W/secret4.txt"
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref cli-spare --secret "file:$W/secret4.txt" \
    --op genm --sessions 4 --count 30 --rate 200 >"$W/bench-rate.out" 2>&1 ||
    fail "cmpgw bench cmp --rate failed" "$W/bench-rate.out"
grep -qE "^cmp: op=genm auth=mac .* ok=30 failed=0 .* rate=200$" "$W/bench-rate.out" ||
    fail "unexpected bench output" "$W/bench-rate.out"
ok "--rate 200: 30 genm paced by the token bucket, all answered"

# ------------------------------------------------------------------ 10
step "10. SIGTERM"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS after SIGTERM"
ok "the daemon exited with status 0"
line="$(grep -oE 'store: [0-9]+ operations in [0-9]+ commits \([0-9]+ held for group commit\)' "$DAEMON_LOG")" ||
    fail "the daemon did not report its store at the stop" "$DAEMON_LOG"
held="$(echo "$line" | sed -E 's/.*\(([0-9]+) held.*/\1/')"
[ "$held" -ge 1 ] || fail "no write group was held for group commit: $line"
ok "$line"
cli_ok fin db check -c "$CONF"
[ "$(cat "$W/fin.out")" = ok ] || fail "db check after the stop did not say ok" "$W/fin.out"
ok "db check after the stop: ok"

# ------------------------------------------------------------------ 11
step "11. bench store (the numbers are for docs/PERFORMANCE.md; here: it writes what it says)"
"$CMPGW" bench store --ops 2000 --inflight 64 --preload 500 --db "$W/bench.db" >"$W/bench.out" 2>"$W/bench.err" ||
    fail "cmpgw bench store failed" "$W/bench.out" "$W/bench.err"
grep -qE '^store: writes=2000 failed=0 .* preloaded=500 ' "$W/bench.out" || fail "unexpected bench output" "$W/bench.out"
[ "$(sqlite3 "$W/bench.db" "SELECT count(*) FROM certificates WHERE status = 'valid'")" = 2500 ] ||
    fail "the bench database does not hold 2500 certificates"
[ "$(sqlite3 "$W/bench.db" "SELECT count(*) FROM transactions t JOIN certificates c ON c.serial = t.cert_serial")" = 2500 ] ||
    fail "the bench transactions and certificates do not match"
ok "$(cat "$W/bench.out")"
"$CMPGW" bench crypto --rounds 20 >"$W/crypto.out" 2>&1 || fail "cmpgw bench crypto failed" "$W/crypto.out"
grep -qE '^crypto: pbm_500_us=[0-9.]+ .* ir_certconf_floor_ms=[0-9]+\.[0-9]+$' "$W/crypto.out" ||
    fail "unexpected bench crypto output" "$W/crypto.out"
ok "$(cat "$W/crypto.out")"

echo
echo "PASS: test_cli"
