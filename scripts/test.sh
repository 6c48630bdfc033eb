#!/usr/bin/env bash
# Runs every test of Duka, installing what is missing first. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_apt "${BASE_PACKAGES[@]}" "${KEYRING_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}" "${TAURI_PACKAGES[@]}" "${E2E_PACKAGES[@]}" \
  "${WINDOWS_PACKAGES[@]}" "${POSTGRES_PACKAGES[@]}"
# The throw-away PostgreSQL cluster of the relay's second pass goes whatever happens.
trap stop_test_postgres EXIT
PG_SKIPPED=""

echo "==> UI: install and build (the desktop embeds it)"
build_ui
echo "==> the UI's TypeScript types match the Rust types they are generated from"
# Fails when ui/src/lib/bindings.ts is stale; regenerate with
# DUKA_UPDATE_BINDINGS=1 cargo test -p duka-desktop --lib bindings
cargo test -q -p duka-desktop --lib --locked bindings
echo "==> UI: type-check, unit tests (vitest)"
(cd ui && npm run check --silent && npm test --silent)
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo doc, warnings denied (intra-doc links cannot rot)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "==> Windows: cargo check for x86_64-pc-windows-gnu (core, daraja, app, CLI, desktop; compiles only)"
bash scripts/check-windows.sh
echo "==> a shop's build (--no-default-features) has no daraja-sim inside"
for p in duka-cli duka-desktop; do
  if cargo tree -p "$p" --no-default-features -e normal --locked | grep -q daraja-sim; then
    echo "$p pulls in daraja-sim without the demo feature" >&2
    exit 1
  fi
done
cargo check -p duka-cli -p duka-desktop --no-default-features --locked
echo "==> test hooks (DUKA_CRASH_AT, DUKA_EXIT_WHEN_READY) are not in a build without test-hooks"
cargo build -q -p duka-cli -p duka-desktop --locked
for bin in duka duka-desktop; do
  if grep -qa -e DUKA_CRASH_AT -e DUKA_EXIT_WHEN_READY "target/debug/$bin"; then
    echo "target/debug/$bin reads a test hook" >&2
    exit 1
  fi
done
echo "==> cargo test (unit, store, CLI and engine flows, relay, desktop commands)"
cargo test --workspace --locked
echo "==> benchmarks in quick mode (so none can rot; figures come from cargo bench)"
cargo test --workspace --locked --benches
echo "==> the relay's suites again on PostgreSQL (a throw-away cluster on 127.0.0.1)"
if start_test_postgres; then
  # With DUKA_TEST_POSTGRES set each test gets a database of its own; an unreachable server
  # fails the tests, it never skips them.
  cargo test --locked -p duka-relay
  cargo test --locked -p duka-tests --test flows -- relay trust shop
  cargo test --locked -p duka-tests --bench relay
  cargo test --locked -p duka-tests --bench sync
  stop_test_postgres
else
  PG_SKIPPED="SKIPPED: PostgreSQL could not be started on this machine, so the relay's suites ran on SQLite only"
  echo "!!!!! $PG_SKIPPED !!!!!"
fi
echo "==> fuzz smoke: every cargo-fuzz target for 3 s, unoptimised build (figures: scripts/fuzz.sh)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ_DEV=1 bash scripts/fuzz.sh 3
else
  echo "    skipped: no nightly toolchain (rustup toolchain install nightly); the proptests above ran"
fi
echo "==> real OS keyring (D-Bus Secret Service)"
bash scripts/test-keyring.sh
echo "==> desktop app in a real window (Xvfb + tauri-driver); screenshots in target/e2e-screenshots"
ensure_tauri_driver
bash scripts/test-e2e.sh
echo "==> the Debian package: build it, install it with apt, start the installed app, remove it"
bash scripts/package-deb.sh --check
echo "==> independent Daraja client (mpesakit) against daraja-sim"
bash scripts/test-independent.sh
if [ -n "$PG_SKIPPED" ]; then
  echo "==> all tests passed, but $PG_SKIPPED"
else
  echo "==> all tests passed"
fi
