#!/usr/bin/env bash
# Instructions per request each layer adds over the bare service, counted by callgrind: a
# repeatable measure (the same binary and inputs give the same count, whatever else the machine
# does), beside criterion's wall-clock medians in benches/benches/overhead.rs. The peers (tower-http 0.7,
# axum-problem's ProblemLayer) are counted in the same run, each over its own bare service.
#
#   benches/instructions.sh [N]     # N requests per configuration (default 10000)
#   BIN=path/to/layer_instructions benches/instructions.sh   # count a binary built elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[ -n "${BIN:-}" ] || { cargo build --release -p tower-envelope-benches --bin layer_instructions >&2; BIN=${CARGO_TARGET_DIR:-target}/release/layer_instructions; }
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$N" 2>&1 | awk '/Collected :/ {print $4}'; }
declare -A base
for b in bare bare404 bare_bad bare_grpc_bad ap_bare ap_bare404; do base[$b]=$(count "$b"); done
over() { echo $(( ($(count "$1") - base[$2]) / N )); }
declare -A r
for c in envelope auth url ct limit stack th_bearer th_limit th_stack; do r[$c]=$(over "$c" bare); done
r[reject]=$(over reject bare_bad)
r[grpc_reject]=$(over grpc_reject bare_grpc_bad)
r[rewrite404]=$(over rewrite404 bare404)
r[rewrite404_problem]=$(over rewrite404_problem bare404)
r[ap_pass]=$(over ap_pass ap_bare)
r[ap_rewrite404]=$(over ap_rewrite404 ap_bare404)
printf '%-20s %s\n' configuration "instructions/request over its bare service"
for c in envelope auth url ct limit stack reject grpc_reject rewrite404 rewrite404_problem th_bearer th_limit th_stack ap_pass ap_rewrite404; do
  printf '%-20s %d\n' "$c" "${r[$c]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
printf '%-52s %s\n' target "ratio (this crate / peer)"
printf '%-52s %s (<= 1.00)\n' "envelope passing a 200 / ProblemLayer pass-through" "$(ratio "${r[envelope]}" "${r[ap_pass]}")"
printf '%-52s %s (<= 1.50)\n' "bearer check / tower-http bearer" "$(ratio "${r[auth]}" "${r[th_bearer]}")"
printf '%-52s %s (<= 1.00)\n' "body limit / tower-http limit" "$(ratio "${r[limit]}" "${r[th_limit]}")"
printf '%-52s %s (<= 1.50)\n' "envelope + 4 validators / tower-http bearer + limit" "$(ratio "${r[stack]}" "${r[th_stack]}")"
printf '%-52s %s (<= 1.00)\n' "404 as problem+json / ProblemLayer 404 rewrite" "$(ratio "${r[rewrite404_problem]}" "${r[ap_rewrite404]}")"
printf '%-52s %s (<= 2.00)\n' "bad token as Defender / ProblemLayer 404 rewrite" "$(ratio "${r[reject]}" "${r[ap_rewrite404]}")"
