#!/usr/bin/env bash
# Runs an independent, third-party Daraja client (mpesakit, PyPI) against DARAJA_BASE_URL.
# Creates/refreshes a venv at ${DUKA_TARGET_DIR:-target}/independent-venv, then runs
# run_client.py with the caller's environment (DARAJA_* variables: see run_client.py).
# Stdout is only run_client.py's JSON lines; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQ=tests/independent/requirements.txt
VENV="${DUKA_TARGET_DIR:-target}/independent-venv"
PY="${PYTHON:-python3}"

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "run.sh: $PY not found: install the Debian package python3 (and python3-venv)" >&2
  exit 3
fi

# The venv is usable when its python runs; otherwise (first run, or the base python changed) make it.
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)"
    echo "run.sh: Python's venv/ensurepip is missing: install the Debian package python3-venv" \
      "(or python${ver}-venv), e.g. apt-get install -y python3-venv" >&2
    exit 3
  fi
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  echo "==> creating $VENV" >&2
  "$PY" -m venv "$VENV" >&2
fi

# Install only when the pinned set is not what the venv already has (stamp = hash of requirements).
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
pinned="$(sed -n 's/^mpesakit==//p' "$REQ")"
have="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("mpesakit"))' 2>/dev/null || true)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ "$have" != "$pinned" ]; then
  echo "==> installing mpesakit==$pinned into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ" >&2
  echo "$want" >"$stamp"
fi

# Never send loopback traffic (the simulator) through a proxy the environment may name.
export NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost,::1"
export no_proxy="$NO_PROXY"

exec "$VENV/bin/python" tests/independent/run_client.py "$@"
