#!/usr/bin/env bash
# Starts Duka in demo mode (no credentials), installing what is missing first.
# The demo keeps its data apart from a real till's: DUKA_DATA_DIR (default ~/.local/share/duka-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_apt "${BASE_PACKAGES[@]}"
export DUKA_DATA_DIR=${DUKA_DATA_DIR:-$HOME/.local/share/duka-demo}
export DUKA_ENVIRONMENT=demo
cargo build --quiet -p duka-cli --bin duka
./target/debug/duka demo "$@"
echo
echo "The demo till is in $DUKA_DATA_DIR; the duka binary is ./target/debug/duka."
