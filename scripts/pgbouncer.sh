#!/usr/bin/env bash
# Debian's PgBouncer on loopback in transaction pooling mode, in front of the local PostgreSQL, for
# tests/integration/pgbouncer.test.ts (it finds it through TEST_PGBOUNCER_URL, default
# postgres://postgres@127.0.0.1:6432/). Every database of the server is reachable through it (a
# wildcard entry), as user postgres with trust auth: a throwaway test setup, not a production config.
#
#   scripts/pgbouncer.sh start    # idempotent: a PgBouncer already answering on the port is left alone
#   scripts/pgbouncer.sh stop     # stops it and removes its files
#   scripts/pgbouncer.sh status
#
# PgBouncer refuses to run as root: as root it runs as the postgres user (or $PGBOUNCER_USER).
# max_prepared_statements (protocol-level named prepared statements in transaction mode) exists from
# PgBouncer 1.21; older versions (Debian 12 ships 1.18) get the setting left out, and Agora must not
# use named prepared statements through them (it does not: see README, Operations).
set -euo pipefail

PORT="${PGBOUNCER_PORT:-6432}"
HOST=127.0.0.1
PG_HOST="${PGBOUNCER_SERVER_HOST:-127.0.0.1}"
PG_PORT="${PGBOUNCER_SERVER_PORT:-5432}"
DIR="${PGBOUNCER_DIR:-${TMPDIR:-/tmp}/agora-pgbouncer}"
RUN_AS="${PGBOUNCER_USER:-postgres}"

note() { printf '  %s\n' "$*"; }
die() {
  printf 'pgbouncer: %s\n' "$*" >&2
  exit 1
}

find_pgbouncer() {
  if command -v pgbouncer >/dev/null; then
    command -v pgbouncer
  elif [ -x /usr/sbin/pgbouncer ]; then
    echo /usr/sbin/pgbouncer
  else
    return 1
  fi
}

# A real query through PgBouncer (not only an open port), and transaction pooling: not some other
# PgBouncer on the port (Debian's packaged service listens on 6432 too, in session mode).
answering() {
  psql "postgres://postgres@$HOST:$PORT/postgres" -w -X -Atqc 'select 1' >/dev/null 2>&1 &&
    psql "postgres://postgres@$HOST:$PORT/pgbouncer" -w -X -Atc 'show config' 2>/dev/null | grep -q '^pool_mode|transaction|'
}
port_taken() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# "1.18.0" → 1018
version_number() {
  local version
  version=$("$1" --version | sed -n 's/^PgBouncer \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  read -r major minor <<<"$version"
  echo $((major * 1000 + minor))
}

as_runner() {
  if [ "$(id -u)" = 0 ]; then
    su "$RUN_AS" -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

start() {
  local bin
  bin=$(find_pgbouncer) || die "pgbouncer is not installed (apt-get install pgbouncer)"
  command -v psql >/dev/null || die "psql is needed to check PgBouncer (apt-get install postgresql-client)"
  if answering; then
    note "PgBouncer already answering on $HOST:$PORT"
    return 0
  fi
  if port_taken; then
    die "$HOST:$PORT is taken by something that is not a transaction-mode PgBouncer (Debian's packaged service? systemctl stop pgbouncer), or set PGBOUNCER_PORT"
  fi
  mkdir -p "$DIR"
  local prepared=""
  if [ "$(version_number "$bin")" -ge 1021 ]; then prepared="max_prepared_statements = 200"; fi
  # PgBouncer checks trust-auth users against the auth file: postgres, no password.
  printf '"postgres" ""\n' >"$DIR/userlist.txt"
  cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
; a test database's pool goes soon after its last client (the tests drop their databases)
server_idle_timeout = 10
autodb_idle_timeout = 60
ignore_startup_parameters = extra_float_digits
$prepared
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
  if [ "$(id -u)" = 0 ]; then chown -R "$RUN_AS" "$DIR"; fi
  as_runner "'$bin' -d '$DIR/pgbouncer.ini'" || die "pgbouncer did not start; see $DIR/pgbouncer.log"
  for _ in $(seq 60); do
    if answering; then
      note "PgBouncer $("$bin" --version | head -n 1 | sed 's/^PgBouncer //') on $HOST:$PORT, transaction pooling, in front of $PG_HOST:$PG_PORT${prepared:+ ($prepared)}"
      return 0
    fi
    sleep 0.5
  done
  die "PgBouncer did not answer on $HOST:$PORT within 30s; see $DIR/pgbouncer.log"
}

stop() {
  if [ -f "$DIR/pgbouncer.pid" ]; then
    local pid
    pid=$(cat "$DIR/pgbouncer.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid" # a fast shutdown: clients are disconnected
      for _ in $(seq 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
      done
    fi
  fi
  rm -rf "$DIR"
  note "PgBouncer stopped"
}

status() {
  if answering; then
    psql "postgres://postgres@$HOST:$PORT/pgbouncer" -w -X -c 'show pools'
  else
    echo "PgBouncer is not answering on $HOST:$PORT"
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
