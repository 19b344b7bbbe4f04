#!/usr/bin/env bash
# Start, stop or tail a local single-node Elasticsearch for akhbar, on 127.0.0.1 only.
#
# The server is Elastic's integ-test-zip distribution from Maven Central (server core and
# transport modules). Elasticsearch refuses to run as root, so the server runs as an
# unprivileged system user that this script creates. Data and logs live under var/es/.
#   scripts/es.sh up|down|logs|status        (ES_PORT overrides 9200)
set -euo pipefail

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9200}"
ES_HEAP="${ES_HEAP:-512m}"
ES_USER="${ES_USER:-akhbar-es}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="$ROOT/var/es"
HOME_DIR="$BASE/elasticsearch-$ES_VERSION"
RUN_DIR="$BASE/run-$ES_PORT"   # one data/log/pid folder per port, so test nodes can sit beside the main one
PID_FILE="$RUN_DIR/es.pid"
URL="http://127.0.0.1:$ES_PORT"

log() { printf 'es: %s\n' "$*" >&2; }

find_java() {
  # Newest JDK under /usr/lib/jvm that this Elasticsearch supports (17+); JAVA_HOME wins if set.
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  local best="" best_major=0 dir major
  for dir in /usr/lib/jvm/*/; do
    [ -x "$dir/bin/java" ] || continue
    major=$("$dir/bin/java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
    major=${major%%.*}
    if [ -n "$major" ] && [ "$major" -ge 17 ] && [ "$major" -gt "$best_major" ]; then best="${dir%/}"; best_major=$major; fi
  done
  [ -n "$best" ] || { log "no JDK 17+ found under /usr/lib/jvm"; exit 1; }
  echo "$best"
}

fetch() {
  [ -x "$HOME_DIR/bin/elasticsearch" ] && return
  mkdir -p "$BASE"
  log "fetching Elasticsearch $ES_VERSION from Maven Central"
  mvn -q -B dependency:copy \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    -DoutputDirectory="$BASE"
  unzip -q -o "$BASE/elasticsearch-$ES_VERSION.zip" -d "$BASE"
  rm -f "$BASE/elasticsearch-$ES_VERSION.zip"
}

ensure_user() {
  id -u "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

answers() { curl -fsS -m 2 "$URL/_cluster/health" >/dev/null 2>&1; }

write_config() {
  mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs" "$RUN_DIR/config" "$RUN_DIR/tmp"
  cp -n "$HOME_DIR"/config/* "$RUN_DIR/config/" 2>/dev/null || true
  cat > "$RUN_DIR/config/elasticsearch.yml" <<YML
cluster.name: akhbar-local
node.name: akhbar-$ES_PORT
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $((ES_PORT + 100))
discovery.type: single-node
path.data: $RUN_DIR/data
path.logs: $RUN_DIR/logs
xpack.security.enabled: false
xpack.ml.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
${ES_EXTRA_SETTINGS:-}
YML
  chown -R "$ES_USER" "$RUN_DIR"
  chmod o+rx "$ROOT" "$ROOT/var" "$BASE" 2>/dev/null || true
}

up() {
  if running && answers; then log "already running on $URL (pid $(cat "$PID_FILE"))"; return; fi
  if answers; then log "something else already answers on $URL; not starting another"; return; fi
  fetch
  ensure_user
  write_config
  local java; java=$(find_java)
  log "starting Elasticsearch $ES_VERSION on $URL with $java as $ES_USER"
  runuser -u "$ES_USER" -- env -i PATH=/usr/bin:/bin HOME="$RUN_DIR" \
    ES_JAVA_HOME="$java" ES_PATH_CONF="$RUN_DIR/config" ES_TMPDIR="$RUN_DIR/tmp" \
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
    "$HOME_DIR/bin/elasticsearch" -d -p "$PID_FILE" >"$RUN_DIR/logs/start.out" 2>&1 || {
      log "start failed:"; tail -n 40 "$RUN_DIR/logs/start.out" >&2; exit 1; }
  local waited=0
  until answers; do
    sleep 1; waited=$((waited + 1))
    if ! running && [ "$waited" -gt 5 ]; then log "Elasticsearch exited during start; last log lines:"; tail -n 40 "$RUN_DIR/logs/"*.log >&2 || true; exit 1; fi
    if [ "$waited" -ge 180 ]; then log "no answer on $URL after ${waited}s"; tail -n 40 "$RUN_DIR/logs/"*.log >&2 || true; exit 1; fi
  done
  curl -fsS -m 60 "$URL/_cluster/health?wait_for_status=yellow&timeout=60s" >/dev/null
  log "up on $URL: Elasticsearch and JDK $(curl -fsS "$URL/_cat/nodes?h=version,jdk")"
}

down() {
  if ! running; then log "not running on port $ES_PORT"; rm -f "$PID_FILE"; return; fi
  local pid; pid=$(cat "$PID_FILE")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { log "stopped (pid $pid)"; rm -f "$PID_FILE"; return; }; sleep 1; done
  log "pid $pid did not stop in 60s; killing"; kill -9 "$pid" || true; rm -f "$PID_FILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  logs) tail -n "${LINES:-100}" -f "$RUN_DIR/logs/akhbar-local.log" ;;
  status) if running && answers; then echo "running on $URL (pid $(cat "$PID_FILE"))"; else echo "not running on $URL"; exit 1; fi ;;
  *) echo "usage: $0 up|down|logs|status" >&2; exit 2 ;;
esac
