#!/usr/bin/env bash
# Start a private MariaDB and PostgreSQL for the store tests, and Redis for the Celery test (the
# broker of tests/test_airflow_celery.py), and print the URLs to export.
#
#   eval "$(scripts/db-servers.sh start)"   # sets TAIEX_TEST_MYSQL_URL, TAIEX_TEST_POSTGRES_URL
#   scripts/db-servers.sh stop              # and TAIEX_TEST_REDIS_URL
#
# All run from a folder of their own (TAIEX_DB_SERVERS_DIR, default /tmp/taiex-db-servers) on
# loopback ports 55432 (PostgreSQL), 53306 (MariaDB) and 56379 (Redis), so they never touch a
# system instance. Needs Debian's mariadb-server and postgresql packages (.ci/run installs them);
# Redis (redis-server) only when installed: without it the Celery test skips (TAIEX_REQUIRE_CELERY=1
# makes it fail instead, as .ci/run does).
set -euo pipefail

DIR=${TAIEX_DB_SERVERS_DIR:-/tmp/taiex-db-servers}
PG_PORT=${TAIEX_PG_PORT:-55432}
MY_PORT=${TAIEX_MY_PORT:-53306}
REDIS_PORT=${TAIEX_REDIS_PORT:-56379}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

as_user() {  # run a command as $1 when we are root (both servers refuse to run as root)
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

owner() { if [ "$(id -u)" = 0 ]; then echo "$1"; else id -un; fi; }

wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for: $*" >&2; return 1; fi
    sleep 0.5
  done
}

start_postgres() {
  local data=$DIR/pg
  mkdir -p "$data"; chown "$(owner postgres)" "$DIR/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    as_user "$(owner postgres)" "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust >"$DIR/pg-init.log"
  fi
  as_user "$(owner postgres)" "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  wait_for 30 "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='taiex_test'" \
    | grep -q 1 || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE taiex_test" >/dev/null
  echo "export TAIEX_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/taiex_test"
}

start_mariadb() {
  local data=$DIR/my
  mkdir -p "$data"; chown "$(owner mysql)" "$data"
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --user="$(owner mysql)" --datadir="$data" --auth-root-authentication-method=normal \
      --skip-test-db >"$DIR/my-init.log" 2>&1
  fi
  as_user "$(owner mysql)" mariadbd --no-defaults --datadir="$data" --socket="$data/mysqld.sock" \
    --port="$MY_PORT" --bind-address=127.0.0.1 --pid-file="$data/mysqld.pid" \
    --innodb-flush-log-at-trx-commit=2 --log-error="$data/server.log" >/dev/null 2>&1 &
  wait_for 60 mariadb-admin --socket="$data/mysqld.sock" -uroot ping
  mariadb --socket="$data/mysqld.sock" -uroot -e "
    CREATE DATABASE IF NOT EXISTS taiex_test CHARACTER SET utf8mb4;
    CREATE USER IF NOT EXISTS 'taiex'@'127.0.0.1' IDENTIFIED BY 'taiex';
    GRANT ALL ON \`taiex_test%\`.* TO 'taiex'@'127.0.0.1';"
  echo "export TAIEX_TEST_MYSQL_URL=mysql+pymysql://taiex:taiex@127.0.0.1:$MY_PORT/taiex_test"
}

start_redis() {
  if ! command -v redis-server >/dev/null; then
    echo "no redis-server: the Celery test will skip (apt-get install redis-server)" >&2
    return 0
  fi
  mkdir -p "$DIR/redis"
  # No persistence: the broker's queues live as long as the test.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --save '' \
    --appendonly no --daemonize yes --pidfile "$DIR/redis/redis.pid" \
    --logfile "$DIR/redis/server.log" >/dev/null
  wait_for 30 redis-cli -p "$REDIS_PORT" ping
  echo "export TAIEX_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  if [ -f "$DIR/pg/PG_VERSION" ]; then
    as_user "$(owner postgres)" "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -S "$DIR/my/mysqld.sock" ]; then
    mariadb-admin --socket="$DIR/my/mysqld.sock" -uroot shutdown >/dev/null 2>&1 || true
  fi
  if [ -f "$DIR/redis/redis.pid" ]; then  # by its pid: never another session's Redis
    kill "$(cat "$DIR/redis/redis.pid")" 2>/dev/null || true
    rm -f "$DIR/redis/redis.pid"
  fi
}

case "${1:-}" in
  start) mkdir -p "$DIR"; chmod 755 "$DIR"; start_postgres; start_mariadb; start_redis ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
