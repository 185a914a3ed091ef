#!/usr/bin/env bash
# End-to-end load on loopback with wrk: the bench_server binary bare, behind the full stack
# applied to every route (`Router::layer`, "stack") or around the whole router ("around"), and
# behind the stack a user assembles from the peers, tower-http 0.7's bearer check and body limit
# under axum-problem's ProblemLayer, applied to every route ("peer") or around the router
# ("peer_around", not run unless named in SERVERS); and "jwt", the full stack with JWT bearer
# tokens (a fixed RS256 key), every request reusing one token, compared with "stack"; "quota"
# and "quota_redis", the full stack and a quota per principal every request passes, counted in
# the server or in a redis-server on loopback (port REDIS_PORT, default 16379, started and
# stopped by the script; its CPU time per request is reported apart), compared with "stack".
#
#   benches/load.sh            # compare the servers: requests/s, p50/p99, the server's CPU time
#                              # per request, ratios to bare and of the full stack to the peer's
#   benches/load.sh soak       # the full stack under a mix of good and bad requests for 2 min:
#                              # requests served, statuses by count, resident memory start/end
#
# Knobs (environment): DURATION (s, default 10), ROUNDS (default 5), CONNECTIONS (default 32),
# THREADS (wrk, 1), SERVERS (default "bare stack around peer"; bare must be among them),
# SOAK_SECONDS (default 120), PORT (default 18080). Every run is bounded by its duration and
# only ever talks to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
SOAK_SECONDS=${SOAK_SECONDS:-120}
PORT=${PORT:-18080}
SERVERS=${SERVERS:-bare stack around peer}
MODE=${1:-compare}

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk not found; installing it from the distribution's packages" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi

cargo build --release -p tower-envelope-benches --features jwt,redis --bin bench_server >&2
BIN=${CARGO_TARGET_DIR:-target}/release/bench_server
SERVER_PID=""
REDIS_PORT=${REDIS_PORT:-16379}
REDIS_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null
  rm -f /tmp/load_*."$$"
}
trap cleanup EXIT

start_server() { # $@: extra flags
  "$BIN" --addr "127.0.0.1:$PORT" "$@" >/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then return 0; fi
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}

stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }

# The server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
HZ=$(getconf CLK_TCK)

# The bearer token of the requests: a static token, or (server "jwt") a JWT the server accepts,
# the same one on every request, as a client reuses its token.
TOKEN=read-token

# Prints "requests/s p50 p99 cpu" for one wrk run against the running server, cpu being the
# server's CPU time per request served (µs): what the server spent, whatever wrk got.
measure() {
  local out before after
  before=$(cpu_ticks)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/machines/1")
  after=$(cpu_ticks)
  local rps p50 p99 requests cpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v t="$((after - before))" -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }')
  echo "$rps $p50 $p99 $cpu"
}

if [ "$MODE" = compare ]; then
  # The servers alternate ROUNDS times, so that all see the same machine; each row is the median
  # of its rounds (requests/s, and the p50/p99 of the round with the median throughput).
  servers=$SERVERS
  case " $servers " in *" bare "*) ;; *) echo "SERVERS must include bare" >&2; exit 2 ;; esac
  echo "wrk: $THREADS thread(s), $CONNECTIONS connections, ${DURATION}s per run, $ROUNDS rounds alternating ${servers// /, }, GET /api/machines/1 with a bearer token"
  for server in $servers; do : > "/tmp/load_$server.$$"; done
  for round in $(seq 1 "$ROUNDS"); do
    line="round $round:"
    for server in $servers; do
      TOKEN=read-token
      case $server in
        bare) start_server ;;
        stack) start_server --stack ;;
        jwt) TOKEN=$("$BIN" --print-jwt); start_server --jwt ;;
        quota) start_server --quota ;;
        quota_redis)
          if [ -z "$REDIS_PID" ]; then
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
            REDIS_PID=$!
            for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
          fi
          start_server --quota-redis "redis://127.0.0.1:$REDIS_PORT/" ;;
        around) start_server --stack-around ;;
        peer) start_server --peer ;;
        peer_around) start_server --peer-around ;;
        *) echo "unknown server $server (bare, stack, around, peer, peer_around, jwt, quota, quota_redis)" >&2; exit 2 ;;
      esac
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/machines/1")
      [ "$code" = 200 ] || { echo "$server answered $code to a good request" >&2; exit 1; }
      if [ "$server" = quota_redis ]; then
        redis_before=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
        measure >> "/tmp/load_$server.$$"
        redis_after=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
        requests=$(tail -1 "/tmp/load_$server.$$" | awk '{print $1}')
        awk -v t="$((redis_after - redis_before))" -v r="$requests" -v d="$DURATION" -v hz="$HZ" \
          'BEGIN { printf "%.3f\n", t * 1e6 / hz / (r * d) }' >> "/tmp/load_redis.$$"
      else
        measure >> "/tmp/load_$server.$$"
      fi
      stop_server
      line="$line $server $(tail -1 "/tmp/load_$server.$$" | awk '{print $1 " req/s (" $4 " µs CPU)"}'),"
    done
    echo "${line%,}"
  done
  median() { sort -n -k1,1 "$1" | awk '{ rows[NR] = $0 } END { print rows[int((NR + 1) / 2)] }'; }
  median_cpu() { sort -n -k4,4 "$1" | awk '{ rows[NR] = $4 } END { print rows[int((NR + 1) / 2)] }'; }
  # The median over the rounds of one server's CPU per request over another's in the same round.
  median_cpu_ratio() {
    paste -d ' ' "/tmp/load_$1.$$" "/tmp/load_$2.$$" | awk '{ printf "%.4f\n", $4 / $8 }' | sort -n \
      | awk '{ rows[NR] = $1 } END { printf "%.3f", rows[int((NR + 1) / 2)] }'
  }
  printf '%-12s %12s %10s %10s %14s\n' server requests/s p50 p99 "CPU µs/request"
  for server in $servers; do
    read -r rps p50 p99 _ < <(median "/tmp/load_$server.$$")
    cpu=$(median_cpu "/tmp/load_$server.$$")
    printf '%-12s %12s %10s %10s %14s\n' "$server" "$rps" "$p50" "$p99" "$cpu"
    eval "rps_$server=$rps cpu_$server=$cpu"
  done
  for server in $servers; do
    [ "$server" = bare ] && continue
    eval "rps=\$rps_$server cpu=\$cpu_$server"
    # Requests per CPU second relative to bare: the throughput each would reach on the same CPU.
    awk -v name="$server" -v r="$rps" -v c="$cpu" -v rb="$rps_bare" -v cb="$cpu_bare" \
      'BEGIN { printf "%s/bare: throughput %.3f, requests per CPU second %.3f (medians)\n", name, r / rb, cb / c }'
  done
  # The full stack's CPU per request relative to the peer stack's, in the same rounds: the ratio
  # of the medians, and the median of the rounds' ratios.
  if [ -s "/tmp/load_redis.$$" ]; then
    echo "redis-server CPU µs/request (quota_redis, median of the rounds): $(sort -n "/tmp/load_redis.$$" | awk '{ rows[NR] = $1 } END { print rows[int((NR + 1) / 2)] }')"
  fi
  for pair in "stack peer" "around peer" "around peer_around" "jwt stack" "quota stack" "quota_redis stack"; do
    read -r ours theirs <<<"$pair"
    case " $servers " in *" $ours "*) ;; *) continue ;; esac
    case " $servers " in *" $theirs "*) ;; *) continue ;; esac
    eval "a=\$cpu_$ours b=\$cpu_$theirs"
    awk -v name="$ours/$theirs" -v a="$a" -v b="$b" -v r="$(median_cpu_ratio "$ours" "$theirs")" \
      'BEGIN { printf "%s CPU per request: %.3f (medians), %s (median of the rounds)\n", name, a / b, r }'
  done
  for server in $servers; do rm -f "/tmp/load_$server.$$"; done
elif [ "$MODE" = soak ]; then
  start_server --stack
  sleep 0.5
  rss_start=$(rss_kib)
  echo "soak: full stack, ${SOAK_SECONDS}s, $CONNECTIONS connections, mixed good and bad requests"
  # Resident memory every 20 s while the load runs, to tell growth from noise.
  ( for _ in $(seq 1 $(( SOAK_SECONDS / 20 ))); do sleep 20; printf '%s ' "$(rss_kib)"; done ) > "/tmp/load_rss.$$" &
  sampler=$!
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --latency -s benches/mixed.lua "http://127.0.0.1:$PORT")
  wait "$sampler" 2>/dev/null || true
  rss_end=$(rss_kib)
  stop_server
  echo "$out" | sed -n '/Requests\/sec/p;/requests in/p;/^status/p;/Non-2xx/p;/Socket errors/p'
  echo "resident memory (KiB): start ${rss_start}, every 20 s: $(cat "/tmp/load_rss.$$"), end ${rss_end}"
  rm -f "/tmp/load_rss.$$"
else
  echo "usage: benches/load.sh [compare|soak]" >&2
  exit 2
fi
