#!/usr/bin/env bash
# Cross-checks the crates a Windows till runs (cargo check for x86_64-pc-windows-gnu: compiled,
# not linked, not run), so nothing Linux-only slips into them: duka-core, daraja, duka-app,
# duka-cli and the desktop app, as built by default (with demo mode) and as a shop's build
# (--no-default-features). Installs what it needs: Debian's MinGW-w64 C compiler and windres
# (build scripts compile SQLite and aws-lc, and the desktop's icon resource) and the Rust
# standard library for the target. What is and is not covered: README, "Tests".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_apt "${WINDOWS_PACKAGES[@]}"
target=x86_64-pc-windows-gnu
if ! rustup target list --installed | grep -qx "$target"; then
  echo "==> rustup target add $target"
  rustup target add "$target"
fi
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
# The desktop embeds the built UI at compile time, even in a check.
[ -f ui/dist/index.html ] || build_ui
packages=(-p duka-core -p daraja -p duka-app -p duka-cli -p duka-desktop)
cargo check --locked --target "$target" "${packages[@]}"
cargo check --locked --target "$target" "${packages[@]}" --no-default-features
