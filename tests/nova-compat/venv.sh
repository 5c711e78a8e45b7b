#!/usr/bin/env bash
# Create (once) a private virtualenv holding the real OpenStack Nova 34.0.0,
# with the MariaDB and PostgreSQL drivers. Idempotent: a complete venv is
# detected by a stamp file and reused in well under a second.
# Prints the venv path on the last line of stdout.
set -euo pipefail

NOVA_VERSION=34.0.0
PYMYSQL_VERSION=1.2.4
PSYCOPG2_VERSION=2.9.13
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${NOVA_VENV:-$HOME/.cache/nova-purge/nova-venv-$NOVA_VERSION}
PYTHON=${PYTHON:-python3.11}
STAMP="$VENV/.nova-purge-stamp"

die() { echo "venv.sh: $*" >&2; exit 1; }

# The stamp records what was installed; a change of pins forces a rebuild.
want="nova==$NOVA_VERSION pymysql==$PYMYSQL_VERSION psycopg2-binary==$PSYCOPG2_VERSION $(sha256sum "$HERE/constraints.txt" | cut -c1-16)"

ready() {
  [[ -f $STAMP && $(cat "$STAMP") == "$want" ]] &&
    "$VENV/bin/python" - "$NOVA_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
import nova, pymysql, psycopg2  # noqa: F401  (importable, not just installed)
sys.exit(m.version("nova") != sys.argv[1])
PY
}

if ready; then echo "$VENV"; exit 0; fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Nova $NOVA_VERSION needs Python >= 3.11)"
mkdir -p "$(dirname "$VENV")"
# Serialise concurrent callers (e.g. parallel test processes) on one lock.
exec 9>"$VENV.lock"
flock 9
if ready; then echo "$VENV"; exit 0; fi

LOG=$(mktemp /tmp/nova-venv.XXXXXX.log)
echo "venv.sh: installing nova==$NOVA_VERSION into $VENV (log: $LOG)" >&2
rm -rf "$VENV"   # a venv without a valid stamp is a half-done install
if ! { "$PYTHON" -m venv "$VENV" &&
       "$VENV/bin/pip" install --disable-pip-version-check --no-input \
         -c "$HERE/constraints.txt" \
         "nova==$NOVA_VERSION" "pymysql==$PYMYSQL_VERSION" \
         "psycopg2-binary==$PSYCOPG2_VERSION"; } >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  rm -rf "$VENV"
  die "pip install failed; full log in $LOG"
fi
echo "$want" >"$STAMP"
ready || die "nova $NOVA_VERSION installed but not importable from $VENV"
rm -f "$LOG"
echo "$VENV"
