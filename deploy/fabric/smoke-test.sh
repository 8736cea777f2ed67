#!/usr/bin/env bash
# End-to-end check of the local Fabric network with the peer CLI only (no Python client):
#   1. up; RecordBatch endorsed by both organisations' peers -> VALID; CountTarget
#   2. the same kind of transaction endorsed by the city's peer alone -> ENDORSEMENT_POLICY_FAILURE
#   3. down; up (resume): the ledger is still there
#   4. a second network beside the first (FABRIC_PORT_OFFSET + 100), then clean it
# It leaves the first network running unless SMOKE_CLEAN=1. Uses FABRIC_HOME / FABRIC_PORT_OFFSET
# like fabric.sh. Needs python3 (to build a batch and its Merkle root).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FABRIC="$HERE/fabric.sh"
OFFSET="${FABRIC_PORT_OFFSET:-0}"
TARGET="proposal:smoke-$(date +%s)-$$"

step() { printf '\n=== %s\n' "$*"; }
fail() {
  printf 'SMOKE TEST FAILED: %s\n' "$*" >&2
  exit 1
}

# batch_args BATCH_ID N: the peer CLI -c argument of a RecordBatch with N records for $TARGET.
batch_args() {
  python3 - "$1" "$2" "$TARGET" <<'EOF'
import base64, hashlib, json, sys, uuid
batch_id, n, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def mth(leaves):
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()
records, raws = [], []
for i in range(n):
    vote_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{batch_id}/{i}"))
    raw = json.dumps({"vote_id": vote_id, "choice": "agree", "i": i}, separators=(",", ":")).encode()
    raws.append(raw)
    tag = hashlib.sha256(f"{batch_id}/{i}".encode()).hexdigest()
    records.append({"vote_id": vote_id, "target": target, "voter_tag": tag,
                    "record": base64.b64encode(raw).decode()})
batch = {"batch_id": batch_id, "seq": 1, "root": mth(raws).hex(), "records": records}
print(json.dumps({"Args": ["RecordBatch", json.dumps(batch)]}))
EOF
}

count() {
  peer chaincode query -C votes -n votes -c "{\"Args\":[\"CountTarget\",\"$TARGET\"]}"
}

step "up (FABRIC_HOME=${FABRIC_HOME:-<repo>/.data/fabric}, offset $OFFSET)"
start=$(date +%s%3N)
"$FABRIC" up
echo "up took $(($(date +%s%3N) - start)) ms"
eval "$("$FABRIC" env seoulcity)"

step "RecordBatch endorsed by both peers"
before=$(count)
peer chaincode invoke -o "$ORDERER_ADDRESS" --tls --cafile "$ORDERER_CA" -C votes -n votes \
  --peerAddresses "$SEOULCITY_PEER" --tlsRootCertFiles "$SEOULCITY_TLSCA" \
  --peerAddresses "$CITIZENAUDIT_PEER" --tlsRootCertFiles "$CITIZENAUDIT_TLSCA" \
  -c "$(batch_args "smoke-both-$$" 5)" --waitForEvent 2>&1 | tee /tmp/smoke-both.$$ | grep -v 'keepalive ping'
grep -q 'committed with status (VALID)' /tmp/smoke-both.$$ || fail "the transaction endorsed by both orgs was not VALID"
after=$(count)
echo "CountTarget before: $before  after: $after"
[[ "$after" == *'"count":5'* ]] || fail "CountTarget should be 5"

step "RecordBatch endorsed by the city's peer only (must be invalidated)"
set +e
peer chaincode invoke -o "$ORDERER_ADDRESS" --tls --cafile "$ORDERER_CA" -C votes -n votes \
  --peerAddresses "$SEOULCITY_PEER" --tlsRootCertFiles "$SEOULCITY_TLSCA" \
  -c "$(batch_args "smoke-city-only-$$" 3)" --waitForEvent >/tmp/smoke-one.$$ 2>&1
rc=$?
set -e
grep -v 'keepalive ping' /tmp/smoke-one.$$
echo "exit code: $rc"
((rc != 0)) || fail "a transaction endorsed by one org must fail"
grep -q 'ENDORSEMENT_POLICY_FAILURE' /tmp/smoke-one.$$ || fail "expected ENDORSEMENT_POLICY_FAILURE"
[[ "$(count)" == *'"count":5'* ]] || fail "the invalid transaction changed the count"
if peer chaincode query -C votes -n votes -c "{\"Args\":[\"GetBatch\",\"smoke-city-only-$$\"]}" 2>/dev/null; then
  fail "the invalidated batch was stored"
fi
rm -f /tmp/smoke-both.$$ /tmp/smoke-one.$$

step "down, then up again (resume the same ledger)"
"$FABRIC" down
start=$(date +%s%3N)
"$FABRIC" up
echo "resume took $(($(date +%s%3N) - start)) ms"
[[ "$(count)" == *'"count":5'* ]] || fail "the count did not survive down/up"
echo "CountTarget after resume: $(count)"

step "up again while running (must be quick)"
start=$(date +%s%3N)
"$FABRIC" up
echo "idempotent up took $(($(date +%s%3N) - start)) ms"

step "a second network beside the first"
second_home=$(mktemp -d "${TMPDIR:-/tmp}/civic-fabric-smoke.XXXXXX")
rmdir "$second_home"
start=$(date +%s%3N)
FABRIC_HOME="$second_home" FABRIC_PORT_OFFSET=$((OFFSET + 100)) "$FABRIC" up
echo "second network up took $(($(date +%s%3N) - start)) ms"
FABRIC_HOME="$second_home" FABRIC_PORT_OFFSET=$((OFFSET + 100)) "$FABRIC" status
(
  eval "$(FABRIC_HOME="$second_home" FABRIC_PORT_OFFSET=$((OFFSET + 100)) "$FABRIC" env citizenaudit)"
  [[ "$(count)" == *'"count":0'* ]] || fail "the second network shares state with the first"
)
[[ "$(count)" == *'"count":5'* ]] || fail "the first network was disturbed"
FABRIC_HOME="$second_home" FABRIC_PORT_OFFSET=$((OFFSET + 100)) "$FABRIC" clean

if [[ "${SMOKE_CLEAN:-0}" == 1 ]]; then
  step "clean"
  "$FABRIC" clean
fi
printf '\nSMOKE TEST PASSED\n'
