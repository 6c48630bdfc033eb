#!/usr/bin/env bash
# Runs the real-keyring test inside a private D-Bus session with an unlocked GNOME Keyring,
# with a throw-away HOME so the machine's own keyring is never touched.
# Needs: dbus, gnome-keyring (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/run" && chmod 700 "$home/run"
export HOME=$home XDG_DATA_HOME=$home/.local/share XDG_CONFIG_HOME=$home/.config \
  XDG_CACHE_HOME=$home/.cache XDG_RUNTIME_DIR=$home/run
dbus-run-session -- bash -c '
  echo -n duka-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test -p duka-core --test keyring -- --ignored
' 2> >(grep -v "Failed to set fd limit" >&2)
