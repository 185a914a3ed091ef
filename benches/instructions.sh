#!/usr/bin/env bash
# Instructions per request each layer adds over the bare service, counted by callgrind: a
# repeatable measure (the same binary and inputs give the same count, whatever else the machine
# does), beside criterion's wall-clock medians in benches/overhead.rs.
#
#   benches/instructions.sh [N]     # N requests per configuration (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build --release --example layer_instructions >&2
BIN=target/release/examples/layer_instructions
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$N" 2>&1 | awk '/Collected :/ {print $4}'; }
bare=$(count bare)
printf '%-12s %s\n' configuration "instructions/request over bare"
for c in envelope auth url ct limit stack th_bearer th_limit reject grpc_reject rewrite404; do
  printf '%-12s %d\n' "$c" $(( ($(count "$c") - bare) / N ))
done
