#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, one after another, at the
# lowest CPU priority, and prints a line per target: runs, time, crashes.
#
#   fuzz/run.sh SECONDS [TARGET...]      (every target when none is named)
#
# Needs `cargo install cargo-fuzz`. libFuzzer wants a nightly compiler;
# RUSTC_BOOTSTRAP=1 lets the stable one build it. New inputs the fuzzer
# finds go to fuzz/work/<target> (not committed; it carries coverage from
# one run to the next), the committed seeds stay in fuzz/corpus/<target>,
# crashes land in fuzz/artifacts/<target>, logs in fuzz/logs.
# FUZZ_SANITIZER=address turns AddressSanitizer on (slower; the code under
# test is safe Rust, so the default looks for panics, hangs and memory blow-ups).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "corpus/$t" "artifacts/$t"
  log="logs/$t-$(date -u +%Y%m%dT%H%M%SZ).log"
  status=0
  # -a: debug assertions on, so an arithmetic overflow is a finding.
  nice -n 19 cargo fuzz run -a -s "$sanitizer" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=8192 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$t: ${runs:-?} runs in ${secs}s, exit $status, ${crashes} artifact(s) in fuzz/artifacts/$t, log $log"
done
