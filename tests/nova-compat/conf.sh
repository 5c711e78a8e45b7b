#!/usr/bin/env bash
# Print a minimal nova.conf for CELL_URL and API_URL (SQLAlchemy URLs) on stdout.
#   conf.sh CELL_URL API_URL > nova.conf
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: conf.sh CELL_URL API_URL" >&2; exit 2; }
# oslo.config expands $name in values: write '$' as '$$' so that passwords
# containing it survive ('%' needs no escaping).
cat <<CONF
[DEFAULT]
# No message bus here: objects that emit notifications must not try to reach one.
transport_url = fake:/
[oslo_messaging_notifications]
driver = noop
[database]
connection = ${1//\$/\$\$}
[api_database]
connection = ${2//\$/\$\$}
CONF
