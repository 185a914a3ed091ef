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
# The guard rails: passing paths within 10% of the accepted counts (8b6436a: envelope 452,
# bearer 665, limit 336, envelope + 4 validators 1966); error paths within a ratio of
# axum-problem's 404 rewrite, counted in the same run.
echo
printf '%-52s %s\n' "guard rail" "this run (limit)"
printf '%-52s %d (<= %d)\n' "envelope passing a 200" "${r[envelope]}" 497
printf '%-52s %d (<= %d)\n' "bearer check" "${r[auth]}" 731
printf '%-52s %d (<= %d)\n' "body limit" "${r[limit]}" 370
printf '%-52s %d (<= %d)\n' "envelope + 4 validators" "${r[stack]}" 2163
printf '%-52s %s (<= 1.30)\n' "404 as problem+json / ProblemLayer 404 rewrite" "$(ratio "${r[rewrite404_problem]}" "${r[ap_rewrite404]}")"
printf '%-52s %s (<= 2.30)\n' "bad token as Defender / ProblemLayer 404 rewrite" "$(ratio "${r[reject]}" "${r[ap_rewrite404]}")"
