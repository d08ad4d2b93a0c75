#!/usr/bin/env bash
# Start a private Docker engine for the container-mode tests, and print the variable to export.
#
#   eval "$(scripts/dockerd.sh start)"   # sets DOCKER_HOST=unix://$TAIEX_DOCKERD_DIR/docker.sock
#   scripts/dockerd.sh stop
#
# Its data, socket and state live under TAIEX_DOCKERD_DIR (default /tmp/taiex-dockerd), so it never
# touches a system engine. It makes no bridge and no iptables or forwarding rules: containers run
# with `--network host` (they reach the test databases on 127.0.0.1) or with no network at all.
# Needs Debian's docker.io package (.ci/run installs it) and root.
set -euo pipefail

DIR=${TAIEX_DOCKERD_DIR:-/tmp/taiex-dockerd}
SOCK=$DIR/docker.sock

start() {
  mkdir -p "$DIR"
  if ! DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1; then
    dockerd --data-root "$DIR/root" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
      -H "unix://$SOCK" --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
      >"$DIR/dockerd.log" 2>&1 &
    local deadline=$((SECONDS + 60))
    until DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then
        echo "dockerd did not start; its log:" >&2; tail -n 20 "$DIR/dockerd.log" >&2; return 1
      fi
      sleep 0.5
    done
  fi
  echo "export DOCKER_HOST=unix://$SOCK"
}

stop() {
  if [ -f "$DIR/dockerd.pid" ]; then
    local pid; pid=$(cat "$DIR/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
