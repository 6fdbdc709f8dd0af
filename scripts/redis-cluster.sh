#!/usr/bin/env bash
# A three-master Redis Cluster on loopback for the cluster tests (tests/support/redis.ts finds it through
# TEST_REDIS_CLUSTER_NODES, default 127.0.0.1:7001,7002,7003).
#
#   scripts/redis-cluster.sh start    # idempotent: a cluster already up is left alone
#   scripts/redis-cluster.sh stop     # shuts the nodes down and removes their files
#   scripts/redis-cluster.sh status
#
# Throwaway test nodes: no persistence, files under $REDIS_CLUSTER_DIR.
set -euo pipefail

read -r -a PORTS <<<"${REDIS_CLUSTER_PORTS:-7001 7002 7003}"
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/agora-redis-cluster}"
HOST=127.0.0.1

note() { printf '  %s\n' "$*"; }
die() {
  printf 'redis-cluster: %s\n' "$*" >&2
  exit 1
}
cli() { redis-cli -h "$HOST" -p "$1" "${@:2}"; }
node_up() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }
cluster_ok() { cli "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
known_nodes() { cli "$1" cluster info 2>/dev/null | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p'; }
all_ok() {
  local port
  for port in "${PORTS[@]}"; do cluster_ok "$port" || return 1; done
}
wait_until() {
  local what=$1
  shift
  for _ in $(seq 60); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  die "$what within 30s"
}

start() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "redis-server and redis-cli are needed (apt-get install redis-server)"
  if all_ok; then
    note "Redis Cluster already up on ${PORTS[*]}"
    return 0
  fi
  local port
  for port in "${PORTS[@]}"; do
    if node_up "$port"; then continue; fi
    mkdir -p "$DIR/$port"
    redis-server --bind "$HOST" --port "$port" --cluster-enabled yes --cluster-config-file "$DIR/$port/nodes.conf" \
      --cluster-node-timeout 5000 --dir "$DIR/$port" --save '' --appendonly no --daemonize yes --logfile "$DIR/$port/redis.log"
  done
  for port in "${PORTS[@]}"; do wait_until "node $port did not answer PING" node_up "$port"; done
  # Nodes restarted from their nodes.conf find each other again; only brand-new nodes need `--cluster create`.
  if [ "$(known_nodes "${PORTS[0]}")" = 1 ]; then
    local nodes=()
    for port in "${PORTS[@]}"; do nodes+=("$HOST:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  fi
  wait_until "the cluster did not reach cluster_state:ok" all_ok
  note "Redis Cluster up on ${PORTS[*]} ($(cli "${PORTS[0]}" cluster info | grep -m1 '^cluster_known_nodes' | tr -d '\r'))"
}

stop() {
  local port
  for port in "${PORTS[@]}"; do
    if node_up "$port"; then cli "$port" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  rm -rf "$DIR"
  note "Redis Cluster on ${PORTS[*]} stopped"
}

status() {
  if all_ok; then
    note "up: $(cli "${PORTS[0]}" cluster nodes | awk '{print $2, $3}' | tr '\n' ';')"
  else
    note "not up"
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
