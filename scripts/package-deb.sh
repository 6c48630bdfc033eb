#!/usr/bin/env bash
# The Debian package of the desktop app: `bash scripts/package-deb.sh` builds it (release, the
# UI inside) into target/release/bundle/deb/; `--check` then installs it with apt (so its
# dependencies resolve), starts the *installed* app under Xvfb through tauri-driver, checks
# that it reaches its first screen, and removes the package again.
# The Tauri CLI comes from npm (a prebuilt binary, pinned), into target/tauri-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_apt "${BASE_PACKAGES[@]}" "${TAURI_PACKAGES[@]}"
TAURI_CLI_VERSION=2.12.6
cli=target/tauri-cli/node_modules/.bin/tauri
if ! [ -x "$cli" ] || ! "$cli" --version | grep -q "$TAURI_CLI_VERSION"; then
  echo "==> npm install @tauri-apps/cli@$TAURI_CLI_VERSION (into target/tauri-cli)"
  mkdir -p target/tauri-cli
  npm install --silent --no-save --no-audit --no-fund --prefix target/tauri-cli \
    "@tauri-apps/cli@$TAURI_CLI_VERSION" >/dev/null
fi
build_ui
echo "==> building the .deb (release build of the desktop app)"
# A shop gets the binary without its line tables (176 MB installed with them).
(cd src-tauri && CARGO_PROFILE_RELEASE_STRIP=debuginfo "../$cli" build --ci --bundles deb)
deb=$(ls -t target/release/bundle/deb/*.deb | head -n 1)
echo "    $deb ($(du -h "$deb" | cut -f1))"
[ "${1:-}" = "--check" ] || exit 0

echo "==> installing $deb, starting the installed app, removing it"
ensure_apt "${E2E_PACKAGES[@]}"
ensure_tauri_driver
pkg=$(dpkg-deb -f "$deb" Package)
# Removed whatever happens next; a copy left by an earlier run is replaced, never tested.
trap 'as_root apt-get remove -y -qq "$pkg" >/dev/null || true' EXIT
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "./$deb" >/dev/null
bin=$(dpkg -L "$pkg" | grep -E '^/usr/bin/' | head -n 1)
command -v "$(basename "$bin")" >/dev/null || { echo "$bin is not on the PATH" >&2; exit 1; }
dpkg -L "$pkg" | grep -q '\.desktop$' || { echo "no desktop entry in $pkg" >&2; exit 1; }
dpkg -L "$pkg" | grep -q '/icons/' || { echo "no icon in $pkg" >&2; exit 1; }
# The installed binary in a throw-away home, driven like the E2E (scripts/test-e2e.sh).
DUKA_INSTALLED_APP=$bin bash scripts/test-e2e.sh installed
as_root apt-get remove -y -qq "$pkg" >/dev/null
trap - EXIT
! command -v "$(basename "$bin")" >/dev/null || { echo "$bin still there after removal" >&2; exit 1; }
echo "    installed, started (first screen reached) and removed: $pkg"
