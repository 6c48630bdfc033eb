# Shared by scripts/*.sh: install what is missing on a Debian machine.
# Usage: ensure_apt PKG... ; ensure_rust

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

# Installs the Debian packages that are not installed yet (apt-get update first, once).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The UI: npm packages from the lock file, then a production build into ui/dist (the desktop
# app embeds it at compile time, so this comes before any cargo build of src-tauri).
build_ui() {
  command -v npm >/dev/null || ensure_apt nodejs npm
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}

ensure_rust() {
  if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null || {
    echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again" >&2
    exit 1
  }
}

# What building and testing Duka needs from Debian.
BASE_PACKAGES=(build-essential pkg-config ca-certificates)
# The real-keyring test: a private D-Bus session with GNOME Keyring.
KEYRING_PACKAGES=(dbus dbus-x11 gnome-keyring libsecret-tools)
# The desktop shell (Tauri 2 on WebKitGTK): build and command tests.
TAURI_PACKAGES=(libwebkit2gtk-4.1-dev build-essential curl file libssl-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev pkg-config)
# Real-window tests of the desktop app.
E2E_PACKAGES=(xvfb webkit2gtk-driver dbus dbus-x11)

ensure_tauri_driver() {
  command -v tauri-driver >/dev/null && return 0
  [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ] && return 0
  echo "==> cargo install tauri-driver --locked"
  cargo install tauri-driver --locked --quiet
}

# The Windows build check (scripts/check-windows.sh): the x86_64 MinGW-w64 C compiler, for the
# build scripts that compile C (SQLite, aws-lc). Only it: the `mingw-w64` metapackage adds i686
# and C++ (244 MB to download, 1.2 GB installed, against 56 MB and 358 MB).
WINDOWS_PACKAGES=(gcc-mingw-w64-x86-64-posix)

# The independent Daraja client (mpesakit from PyPI) runs in a venv.
PYTHON_PACKAGES=(python3 python3-venv)

# The relay's PostgreSQL backend is tested against a real server (Debian's postgresql).
POSTGRES_PACKAGES=(postgresql)

# Starts a throw-away PostgreSQL cluster for the relay's tests: initdb into a fresh temporary
# directory owned by an unprivileged user (`postgres` when run as root), listening only on
# 127.0.0.1 on a free port, trust authentication (it lives for one test run), fsync on. On
# success exports DUKA_TEST_POSTGRES (the URL the tests use) and returns 0; otherwise says
# why and returns 1. stop_test_postgres stops it and removes the directory.
start_test_postgres() {
  local bin port run=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2
    return 1
  fi
  PG_TEST_DIR=$(mktemp -d /tmp/duka-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres: "$PG_TEST_DIR"
    run=(runuser -u postgres --)
  fi
  PG_TEST_RUN=("${run[@]}")
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U duka --auth=trust -E UTF8 --no-instructions >"$PG_TEST_DIR/initdb.log" 2>&1 || {
    cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_TEST_DIR -c max_connections=300 -c fsync=on -c synchronous_commit=on" \
    start >/dev/null || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
  PG_TEST_BIN=$bin
  export DUKA_TEST_POSTGRES="postgres://duka@127.0.0.1:$port/postgres"
  echo "    PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_TEST_DIR)"
}

stop_test_postgres() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  if [ -n "${PG_TEST_BIN:-}" ]; then
    "${PG_TEST_RUN[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TEST_DIR"
  unset PG_TEST_DIR PG_TEST_BIN DUKA_TEST_POSTGRES
}
