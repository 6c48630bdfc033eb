#!/usr/bin/env bash
# Starts the Duka desktop app in demo mode (M-Pesa simulated, no credentials), installing what is
# missing first. The demo keeps its data apart from a real till's: DUKA_DATA_DIR (default
# ~/.local/share/duka-demo). `--cli` (or no display) runs the headless CLI demo instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
export DUKA_DATA_DIR=${DUKA_DATA_DIR:-$HOME/.local/share/duka-demo}
export DUKA_ENVIRONMENT=demo

if [ "${1:-}" = "--cli" ] || { [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; }; then
  [ "${1:-}" = "--cli" ] && shift || echo "No display found: running the command-line demo instead."
  ensure_apt "${BASE_PACKAGES[@]}"
  cargo build --quiet -p duka-cli --bin duka
  ./target/debug/duka demo "$@"
  echo
  echo "The demo till is in $DUKA_DATA_DIR; the duka binary is ./target/debug/duka."
  exit 0
fi

ensure_apt "${BASE_PACKAGES[@]}" "${TAURI_PACKAGES[@]}"
echo "==> building the UI and the desktop app (the first build takes a few minutes)"
build_ui
cargo build --quiet -p duka-desktop
echo "==> Duka demo: sign in as Owner (PIN 1234) or Amina (PIN 0000); data in $DUKA_DATA_DIR"
exec ./target/debug/duka-desktop
