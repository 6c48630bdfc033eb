#!/usr/bin/env bash
# Real-window tests of the desktop app: Xvfb + tauri-driver + WebKitWebDriver, in a private
# D-Bus session with a throw-away HOME and data directory (demo mode, secrets in memory).
# Needs: xvfb webkit2gtk-driver (apt), tauri-driver (cargo install), ui/dist built.
# `bash scripts/test-e2e.sh` runs the tests, then the desktop benchmark in quick mode;
# `bash scripts/test-e2e.sh bench` runs the full benchmark (optimised build) instead;
# `DUKA_INSTALLED_APP=/usr/bin/… bash scripts/test-e2e.sh installed` starts an installed app.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export PATH="$CARGO_HOME/bin:$PATH"
mode=${1:-test}
if [ "$mode" = bench ]; then
  run='DUKA_DESKTOP_BENCH=1 cargo bench -p duka-desktop --features test-hooks --bench desktop'
elif [ "$mode" = installed ]; then
  # The app a package installed (DUKA_INSTALLED_APP), not the one cargo built.
  cargo test -q -p duka-desktop --test installed --no-run
  run='cargo test -p duka-desktop --test installed -- --ignored'
else
  cargo test -q -p duka-desktop --test e2e --no-run
  run='cargo test -p duka-desktop --test e2e -- --ignored --test-threads=1 &&
    DUKA_DESKTOP_BENCH=1 cargo test -p duka-desktop --features test-hooks --bench desktop'
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/run" && chmod 700 "$home/run"
export HOME=$home XDG_DATA_HOME=$home/.local/share XDG_CONFIG_HOME=$home/.config \
  XDG_CACHE_HOME=$home/.cache XDG_RUNTIME_DIR=$home/run
export DUKA_DATA_DIR=$home/duka DUKA_SECRET_BACKEND=memory DUKA_EXPORT_DIR=$home/exports
# Screenshots come from Xvfb's framebuffer file (see `shot` in src-tauri/tests/webdriver).
mkdir -p "$home/fb" && export DUKA_E2E_FBDIR=$home/fb
export RUN=$run
export APP=${DUKA_INSTALLED_APP:-$PWD/target/$([ "$mode" = bench ] && echo release || echo debug)/duka-desktop}
# Every WebDriver step has its own deadline; this one catches anything else (a stuck build, a
# driver that never answers), so a hang fails the suite instead of eating CI's time.
status=0
timeout -k 10 "${DUKA_E2E_TIMEOUT:-1500}" xvfb-run -a -s "-screen 0 1280x800x24 -fbdir $home/fb" dbus-run-session -- bash -c '
  tauri-driver >"$HOME/tauri-driver.log" 2>&1 & TD=$!
  trap "kill $TD 2>/dev/null; pkill -f -- \"$APP\" 2>/dev/null" EXIT
  for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/4444) 2>/dev/null && break; sleep 0.1; done
  eval "$RUN"
' 2> >(grep -vE "Failed to set fd limit|dbus-daemon|SpiRegistry" >&2) || status=$?
if [ "$status" -ne 0 ]; then
  echo "real-window tests failed (exit $status; 124 = timed out); tauri-driver's log:" >&2
  tail -n 60 "$home/tauri-driver.log" >&2 || true
  pkill -f -- "$APP" 2>/dev/null || true
fi
exit "$status"
