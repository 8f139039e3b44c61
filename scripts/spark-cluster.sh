#!/usr/bin/env bash
# Start/stop a Spark standalone cluster (1 master + N workers) from the pyspark pip distribution,
# bound to 127.0.0.1, for tests and benchmarks. Nothing is installed; state lives in $STATE_DIR.
#
#   scripts/spark-cluster.sh start   # prints MASTER=spark://127.0.0.1:PORT once every worker registered
#   scripts/spark-cluster.sh status
#   scripts/spark-cluster.sh stop    # stops exactly the processes this script started (pid files)
#
# Environment: SPARK_CLUSTER_DIR (state: pids, logs, work dirs; default ./data/spark-cluster),
# SPARK_MASTER_PORT (default 7177), SPARK_MASTER_WEBUI_PORT (8180), SPARK_WORKERS (2),
# SPARK_WORKER_CORES (1), SPARK_WORKER_MEMORY (1g), PYTHON (.venv/bin/python).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
STATE_DIR="${SPARK_CLUSTER_DIR:-$here/data/spark-cluster}"
PORT="${SPARK_MASTER_PORT:-7177}"
WEBUI="${SPARK_MASTER_WEBUI_PORT:-8180}"
WORKERS="${SPARK_WORKERS:-2}"
CORES="${SPARK_WORKER_CORES:-1}"
MEMORY="${SPARK_WORKER_MEMORY:-1g}"
MASTER="spark://127.0.0.1:$PORT"

export SPARK_HOME="${SPARK_HOME:-$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_LOCAL_IP=127.0.0.1
export SPARK_LOCAL_HOSTNAME=127.0.0.1
export SPARK_LOG_DIR="$STATE_DIR/logs"
# Small JVMs for the daemons themselves (executors get SPARK_WORKER_MEMORY).
export SPARK_DAEMON_MEMORY="${SPARK_DAEMON_MEMORY:-256m}"
export SPARK_DAEMON_JAVA_OPTS="${SPARK_DAEMON_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"

start_daemon() {  # name, class, args...
  local name="$1" cls="$2"; shift 2
  local pidfile="$STATE_DIR/$name.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pidfile"))" >&2
    return
  fi
  nohup "$SPARK_HOME/bin/spark-class" "$cls" "$@" >"$SPARK_LOG_DIR/$name.log" 2>&1 &
  echo $! >"$pidfile"
}

wait_for() {  # pattern, logfile, seconds
  local pattern="$1" log="$2" limit="$3" waited=0
  until grep -q "$pattern" "$log" 2>/dev/null; do
    sleep 1; waited=$((waited + 1))
    if (( waited >= limit )); then
      echo "timed out after ${limit}s waiting for '$pattern' in $log:" >&2
      tail -n 30 "$log" >&2 || true
      return 1
    fi
  done
}

start() {
  mkdir -p "$STATE_DIR" "$SPARK_LOG_DIR"
  start_daemon master org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$PORT" --webui-port "$WEBUI"
  wait_for "Starting Spark master at" "$SPARK_LOG_DIR/master.log" 180
  for i in $(seq 1 "$WORKERS"); do
    mkdir -p "$STATE_DIR/work-$i"
    start_daemon "worker-$i" org.apache.spark.deploy.worker.Worker "$MASTER" \
      --cores "$CORES" --memory "$MEMORY" --host 127.0.0.1 --webui-port 0 --work-dir "$STATE_DIR/work-$i"
  done
  for i in $(seq 1 "$WORKERS"); do
    wait_for "Successfully registered with master" "$SPARK_LOG_DIR/worker-$i.log" 180
  done
  echo "MASTER=$MASTER"
}

stop() {
  local pidfile pid
  for pidfile in "$STATE_DIR"/worker-*.pid "$STATE_DIR"/master.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  echo "stopped"
}

status() {
  local pidfile
  for pidfile in "$STATE_DIR"/*.pid; do
    [[ -f "$pidfile" ]] || continue
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$(basename "$pidfile" .pid) running (pid $(cat "$pidfile"))"
    else
      echo "$(basename "$pidfile" .pid) dead"
    fi
  done
  echo "MASTER=$MASTER"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
