#!/usr/bin/env bash
# Create Nova 34.0.0's real API and cell schemas in existing, empty databases.
#   sync.sh BACKEND CELL_URL API_URL      (BACKEND: mysql | postgresql | sqlite)
# URLs are SQLAlchemy URLs, e.g. mysql+pymysql://root@127.0.0.1/np_x?charset=utf8,
# postgresql+psycopg2://postgres@127.0.0.1/np_x, sqlite:////tmp/x.sqlite.
# Quiet on success; on failure prints nova-manage's output (URLs masked).
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: sync.sh mysql|postgresql|sqlite CELL_URL API_URL" >&2; exit 2; }
backend=$1 cell=$2 api=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case $backend in
  mysql)      re='^mysql(\+pymysql)?://' ;;
  postgresql) re='^postgres(ql)?(\+psycopg2)?://' ;;
  sqlite)     re='^sqlite:///' ;;
  *) echo "sync.sh: unknown backend '$backend'" >&2; exit 2 ;;
esac
for u in "$cell" "$api"; do
  [[ $u =~ $re ]] || { echo "sync.sh: URL scheme does not match backend $backend" >&2; exit 2; }
done

VENV=$("$HERE/venv.sh" | tail -n 1)
tmp=$(mktemp -d /tmp/nova-sync.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$HERE/conf.sh" "$cell" "$api" >"$tmp/nova.conf"

# API DB first, as nova-manage's docs order it; both are alembic upgrades to head.
for cmd in "api_db sync" "db sync"; do
  # shellcheck disable=SC2086
  if ! "$VENV/bin/nova-manage" --config-file "$tmp/nova.conf" $cmd >"$tmp/out" 2>&1; then
    # Mask credentials that oslo/alembic may echo inside URLs.
    sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#g' "$tmp/out" | tail -n 40 >&2
    echo "sync.sh: 'nova-manage $cmd' failed on $backend" >&2
    exit 1
  fi
done
