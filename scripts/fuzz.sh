#!/usr/bin/env bash
# Fuzzes every parser of outside input with cargo-fuzz (libFuzzer, nightly toolchain): builds
# all targets once, runs each for SECONDS (default 60) one after another in one process (no
# -fork/-jobs), then prints executions and crashes per target and in total. Exits 1 if any
# target crashed; the input that did it is in fuzz/artifacts/<target>/ (replay it with
# `cargo +nightly fuzz run <target> <file>`), the log beside it.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (targets: fuzz/Cargo.toml)
#   FUZZ_DEV=1        build unoptimised: quicker to build, slower to run (CI's smoke test)
#   FUZZ_TARGET_DIR   where cargo builds the targets (default fuzz/target)
# Corpora grow in fuzz/corpus/<target> (not committed); fuzz/seeds/<target> are the committed
# starting inputs (the Daraja fixtures and hand-written cases), fuzz/dicts/json.dict the
# dictionary for the JSON targets.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust

secs="${1:-60}"
[ $# -gt 0 ] && shift
case "$secs" in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
  ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzzing needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "==> cargo install cargo-fuzz --locked"
  nice -n 10 cargo install cargo-fuzz --locked --quiet
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\([a-z_0-9]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^duka-fuzz$')
fi

target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
if [ "${FUZZ_DEV:-0}" = 1 ]; then
  profile_flag=(--dev)
  bin_dir="$target_dir/$triple/debug"
else
  profile_flag=()
  bin_dir="$target_dir/$triple/release"
fi

echo "==> cargo +nightly fuzz build ${profile_flag[*]} (${#targets[@]} targets)"
build_start=$SECONDS
if [ $# -eq 0 ]; then
  nice -n 10 cargo +nightly fuzz build "${profile_flag[@]}" --target-dir "$target_dir"
else
  for t in "${targets[@]}"; do
    nice -n 10 cargo +nightly fuzz build "${profile_flag[@]}" --target-dir "$target_dir" "$t"
  done
fi
echo "    built in $((SECONDS - build_start)) s"

# libFuzzer's last report of how many inputs it ran: the final stats line, else the last
# status line (`#123456 pulse ...`), which it prints even when a crash cuts the run short.
executions() {
  local n
  n="$(sed -n 's/^stat::number_of_executed_units: \([0-9]*\).*/\1/p' "$1" | tail -n 1)"
  [ -n "$n" ] || n="$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$1" | tail -n 1)"
  echo "${n:-0}"
}

total_execs=0
total_crashes=0
rows=()
run_start=$SECONDS
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  log="$artifacts/last-run.log"
  dirs=("$corpus")
  [ -d "fuzz/seeds/$t" ] && dirs+=("fuzz/seeds/$t")
  dict=()
  case "$t" in
    stk_callback | c2b | transaction_status | daraja_responses | relay_frame | pairing)
      dict=(-dict=fuzz/dicts/json.dict) ;;
  esac
  before="$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)"
  echo "==> $t: ${secs} s"
  start=$SECONDS
  rc=0
  nice -n 10 "$bin_dir/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$artifacts/" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  took=$((SECONDS - start))
  after="$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)"
  crashes=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  if [ "$crashes" -gt 0 ]; then
    echo "    CRASH (exit $rc); the end of $log:"
    tail -n 30 "$log" | sed 's/^/    /'
  fi
  n="$(executions "$log")"
  total_execs=$((total_execs + n))
  total_crashes=$((total_crashes + crashes))
  rows+=("$(printf '%-20s %14s %8s %6s' "$t" "$n" "$crashes" "$took")")
done

echo
printf '%-20s %14s %8s %6s\n' target executions crashes secs
for r in "${rows[@]}"; do echo "$r"; done
printf '%-20s %14s %8s %6s\n' total "$total_execs" "$total_crashes" "$((SECONDS - run_start))"
[ "$total_crashes" -eq 0 ]
