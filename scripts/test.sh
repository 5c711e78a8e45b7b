#!/usr/bin/env bash
# The whole test suite, on a fresh machine or this one: makes MariaDB and
# PostgreSQL available (scripts/services.sh), then runs every test on
# SQLite, MariaDB and PostgreSQL. Tests create and drop their own databases
# (np_test_*); leftovers of a crashed run are swept before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh)"
export NOVA_PURGE_TEST_MYSQL NOVA_PURGE_TEST_POSTGRES

sweep() {
  local mysql_args=(--protocol=tcp -h127.0.0.1 -P3306)
  local user_pass=${NOVA_PURGE_TEST_MYSQL#mysql://}; user_pass=${user_pass%@*}
  mysql_args+=(-u"${user_pass%%:*}")
  [[ $user_pass == *:* ]] && mysql_args+=(-p"${user_pass#*:}")
  mysql "${mysql_args[@]}" -N -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'np\\_test\\_%'" |
    while read -r db; do mysql "${mysql_args[@]}" -e "DROP DATABASE \`$db\`"; done
  psql "$NOVA_PURGE_TEST_POSTGRES/postgres" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'np\\_test\\_%'" |
    while read -r db; do psql -q "$NOVA_PURGE_TEST_POSTGRES/postgres" -c "DROP DATABASE \"$db\" WITH (FORCE)"; done
}
sweep
trap sweep EXIT

# The benchmark's smoke run (seconds, SQLite): proves the command still
# works and still agrees with the floor. Real figures: docs/benchmarks.md.
# Before the suite, so that the test runner's summary is the last line.
cargo build -q -p purge-cli -p nova-purge-bench
target/debug/nova-purge-bench --smoke --nova-purge target/debug/nova-purge

# The Debian package, built, installed, run and purged (root only: it uses
# dpkg on this machine). Adds a release build of purge-cli, the one release
# build CI makes.
if [[ $(id -u) == 0 ]]; then
  scripts/test-package.sh
else
  echo "test.sh: SKIPPED scripts/test-package.sh: it installs the package with dpkg and needs root" >&2
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

