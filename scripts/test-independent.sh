#!/usr/bin/env bash
# Proof of fidelity: a third-party Daraja client (mpesakit, PyPI) completes OAuth, STK push and
# STK query against the standalone daraja-sim binary, unchanged but for its base URL.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p daraja-sim --bin daraja-sim
work=$(mktemp -d)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
./target/debug/daraja-sim --port 0 --time-unit-ms 100 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 200); do
  url=$(sed -n 's/^daraja-sim listening on //p' "$work/sim.out")
  [ -n "$url" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
  sleep 0.05
done
[ -n "${url:-}" ] || { echo "daraja-sim did not start" >&2; exit 1; }

export DARAJA_BASE_URL=$url DARAJA_CONSUMER_KEY=duka-demo-key DARAJA_CONSUMER_SECRET=duka-demo-secret \
  DARAJA_SHORTCODE=174379 DARAJA_PASSKEY=bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919 \
  DARAJA_CALLBACK_URL=https://till.example.com/cb DARAJA_QUERY_TIMEOUT=20
passed=0 failed=0
# phone → the ResultCode its simulated customer ends with (see the README's scenario table)
for case in 254700000000:0 254700000200:1032 254700000202:2001; do
  phone=${case%%:*} want=${case##*:}
  if DARAJA_PHONE=$phone DARAJA_EXPECT_RESULT=$want bash tests/independent/run.sh >"$work/out" 2>"$work/err"; then
    passed=$((passed + 1)); echo "ok   mpesakit: push to $phone ends $want"
  else
    failed=$((failed + 1)); echo "FAIL mpesakit: push to $phone, want $want"; cat "$work/out" "$work/err"
  fi
done
echo "independent client: $passed passed, $failed failed"
[ "$failed" = 0 ]
