#!/usr/bin/env bash
# Reliability run of the managed server (docs/reliability.md): a release
# build of `netipc-reliability` in a temporary run directory, loopback UNIX
# sockets and shared memory only, bounded in time (about 2 minutes with the
# defaults).
#
#   bench/reliability.sh [load_seconds]      (default 30)
#
# Phases:
#  1. 64 clients x load_seconds, mixed UDS / shared memory, single calls,
#     32-item batches and 5 002-cgroup snapshots; at the same time
#     short-lived shared-memory sessions at 160/s, 1 000 idle connections
#     that never send HELLO (reopened as the server closes them), a frozen
#     reader (asks for the snapshot, never reads) and a good client whose
#     latency is measured.
#  2. SIGKILL of a client process with sessions open.
#  3. SIGSTOP of the provider while 20 clients start (2 s deadlines), and
#     one call with a 60 s deadline aborted from another thread.
#  (Before phase 1, a 6 s warm-up of the same mix sets the resource
#  baseline that the later figures are compared with.)
#  4. SIGTERM: shutdown time; no socket or region file may remain.
#  5. SIGKILL of the provider with sessions open, restart in the same run
#     directory, load again.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}

cargo build --release -q -p netipc-bench --bin netipc-reliability
bin=$PWD/target/release/netipc-reliability
run=$(mktemp -d /tmp/netipc-rel.XXXXXX)
chmod 700 "$run"
logs=$run/logs
mkdir "$logs"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -CONT "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT

start_server() {
  "$bin" serve "$run" >"$logs/serve.$1" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 500); do
    grep -q READY "$logs/serve.$1" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "server did not start"; cat "$logs/serve.$1"; exit 1
}

# fds threads rss_kib of the server
usage() {
  local fds threads rss
  fds=$(ls "/proc/$server_pid/fd" | wc -l)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")
  echo "fds=$fds threads=$threads rss_kib=$rss"
}

# The phase-1 mix for $1 seconds (at least 6); output files get suffix $2.
mix() {
  local t=$1 tag=$2 p_load p_churn p_frozen p_good p_flood
  "$bin" load "$run" "$t" 64 >"$logs/load.$tag" 2>"$logs/load.err.$tag" &
  p_load=$!
  "$bin" churn "$run" "$t" 160 >"$logs/churn.$tag" 2>&1 &
  p_churn=$!
  "$bin" frozen "$run" "$t" >"$logs/frozen.$tag" 2>&1 &
  p_frozen=$!
  "$bin" good "$run" "$t" >"$logs/good.$tag" 2>&1 &
  p_good=$!
  sleep 2
  "$bin" flood "$run" $((t - 4)) 1000 >"$logs/flood.$tag" 2>&1 &
  p_flood=$!
  sleep $((t / 2))
  echo "server under load ($tag):  $(usage)"
  wait $p_load $p_churn $p_frozen $p_good $p_flood
}

files_left() {
  find "$run" -maxdepth 1 \( -name '*.sock' -o -name '*.ipcshm' \) | wc -l
}

echo "== netipc reliability run: $(date -u +%FT%TZ), $(nproc) CPUs, load ${secs}s"
start_server 1
sleep 0.5
echo "server at start:          $(usage)"
# A short run of the whole phase-1 mix first: the allocator's per-thread
# arenas reach their working size here and are kept for the life of the
# process. The figures after each phase are compared with this warmed-up
# baseline; growth beyond it would be a leak.
mix 6 warmup
sleep 1
echo "server after warm-up:     $(usage)"

echo "== phase 1: mixed load, churn, idle flood, frozen reader, good client"
mix "$secs" p1
cat "$logs/load.p1" "$logs/churn.p1" "$logs/flood.p1" "$logs/frozen.p1" "$logs/good.p1"
head -3 "$logs/load.err.p1" || true

echo "== short-lived shared-memory sessions alone (160/s), good client alone, then under the idle flood only"
"$bin" churn "$run" 10 160 >"$logs/churn_alone" 2>&1
cat "$logs/churn_alone"
"$bin" good "$run" 10 >"$logs/good_quiet" 2>&1
cat "$logs/good_quiet"
"$bin" flood "$run" 14 1000 >"$logs/flood2" 2>&1 &
p_flood=$!
sleep 2
"$bin" good "$run" 10 >"$logs/good_flood" 2>&1
wait $p_flood
cat "$logs/good_flood" "$logs/flood2"
sleep 1
echo "server after phase 1:     $(usage)"

echo "== phase 2: SIGKILL of a client with sessions open"
"$bin" load "$run" 20 8 >"$logs/killed" 2>&1 &
p_kill=$!
sleep 3
kill -KILL $p_kill; wait $p_kill 2>/dev/null || true
sleep 1
echo "server after the kill:    $(usage)"

echo "== phase 3: SIGSTOP of the provider, 20 clients start"
kill -STOP "$server_pid"
"$bin" stopped "$run" 20 >"$logs/stopped" 2>&1 || true
kill -CONT "$server_pid"
cat "$logs/stopped"
sleep 1
"$bin" good "$run" 3 >"$logs/good_after" 2>&1
cat "$logs/good_after"
sleep 1
echo "server at the end:        $(usage)"

echo "== phase 4: SIGTERM"
t0=$(date +%s%N)
kill -TERM "$server_pid"
wait "$server_pid" || true
t1=$(date +%s%N)
server_pid=
cat "$logs/serve.1"
echo "process exit after SIGTERM: $(( (t1 - t0) / 1000000 )) ms; files left: $(files_left)"

echo "== phase 5: SIGKILL of the provider, restart in the same directory"
start_server 2
"$bin" load "$run" 6 6 >"$logs/before_kill" 2>&1 &
p_load=$!
sleep 2
kill -KILL "$server_pid"; wait "$server_pid" 2>/dev/null || true
echo "left by the killed provider: $(files_left) files"
wait $p_load || true
start_server 3
echo "restarted; files now: $(files_left) (the new socket and any new regions)"
"$bin" load "$run" 5 6 >"$logs/after_restart" 2>&1
echo "load after restart: $(cat "$logs/after_restart")"
kill -TERM "$server_pid"; wait "$server_pid" || true
server_pid=
cat "$logs/serve.3"
echo "files left: $(files_left)"
