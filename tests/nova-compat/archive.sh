#!/usr/bin/env bash
# Run Nova's own archiver (the reference behaviour nova-purge is compared with).
#   archive.sh CONFIG BEFORE_DATE       e.g. archive.sh nova.conf 2026-06-01
# nova-manage returns 0 (nothing archived) or 1 (rows archived) when it
# completed; 2 bad --max_rows, 3 API DB unreachable, 4 bad --before, 255 crash.
# Exit 0 for the first two, and the original status otherwise.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: archive.sh CONFIG BEFORE_DATE" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$("$HERE/venv.sh" | tail -n 1)

rc=0
# --verbose prints the per-table counts of archived rows on stdout.
"$VENV/bin/nova-manage" --config-file "$1" db archive_deleted_rows \
  --before "$2" --until-complete --verbose || rc=$?
case $rc in
  0|1) exit 0 ;;
  *) echo "archive.sh: nova-manage db archive_deleted_rows failed (status $rc)" >&2
     exit "$rc" ;;
esac
