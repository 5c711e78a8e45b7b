#!/usr/bin/env bash
# The whole test suite, on a fresh machine or this one: makes MariaDB and
# PostgreSQL available (scripts/services.sh), then runs every test on
# SQLite, MariaDB and PostgreSQL. Tests create and drop their own databases
# (np_test_*); leftovers of a crashed run are swept before and after.
# Private servers of the test lab (/tmp/np-lab-*) that a killed run left
# are swept before.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh)"
export NOVA_PURGE_TEST_MYSQL NOVA_PURGE_TEST_POSTGRES

# Databases are named np_test_<pid>_<n> (np_bench_... for the benchmark):
# drop those whose process is gone, never those of a run still going.
stale() {
  while read -r db; do
    local pid=${db#np_*_}; pid=${pid%%_*}
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || echo "$db"
  done
}

sweep() {
  local mysql_args=(--protocol=tcp -h127.0.0.1 -P3306)
  local user_pass=${NOVA_PURGE_TEST_MYSQL#mysql://}; user_pass=${user_pass%@*}
  mysql_args+=(-u"${user_pass%%:*}")
  [[ $user_pass == *:* ]] && mysql_args+=(-p"${user_pass#*:}")
  mysql "${mysql_args[@]}" -N -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'np\\_test\\_%' OR schema_name LIKE 'np\\_bench\\_%'" |
    stale | while read -r db; do mysql "${mysql_args[@]}" -e "DROP DATABASE \`$db\`"; done
  psql "$NOVA_PURGE_TEST_POSTGRES/postgres" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'np\\_test\\_%' OR datname LIKE 'np\\_bench\\_%'" |
    stale | while read -r db; do psql -q "$NOVA_PURGE_TEST_POSTGRES/postgres" -c "DROP DATABASE \"$db\" WITH (FORCE)"; done
}
# Private servers of the test lab (tests/src/servers/) that a killed test
# run left behind: /tmp/np-lab-<pid>-<start time>-*, whose test process is
# gone. Kills their processes (the process groups recorded in the *.pid
# files, and any process whose command line names the directory) and
# removes the directories. The same as nova_purge_tests::servers::sweep,
# which every test run also does when it first starts a server.
sweep_lab() {
  local dir rest pid start stat f p a args key id
  for dir in /tmp/np-lab-*; do
    [ -d "$dir" ] || continue
    rest=${dir#/tmp/np-lab-}
    pid=${rest%%-*}; rest=${rest#*-}; start=${rest%%-*}
    [[ $pid =~ ^[0-9]+$ && $start =~ ^[0-9]+$ ]] || continue  # the cache, port claims
    if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
      stat=${stat##*) }
      read -r -a stat <<<"$stat"
      # Alive and the same process (not a reused pid): leave it.
      [[ ${stat[0]} != Z && ${stat[19]} == "$start" ]] && continue
    fi
    for f in "$dir"/*.pid; do
      [ -f "$f" ] || continue
      p=$(cat "$f")
      [[ $p =~ ^[0-9]+$ ]] || continue
      if tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$dir/"; then
        kill -KILL -- "-$p" 2>/dev/null || true
      fi
    done
    for f in /proc/[0-9]*/cmdline; do
      mapfile -d '' args 2>/dev/null <"$f" || continue
      for a in "${args[@]}"; do
        if [[ $a == "$dir" || $a == *"$dir/"* ]]; then
          p=${f#/proc/}; kill -KILL "${p%/cmdline}" 2>/dev/null || true
          break
        fi
      done
    done
    sleep 0.2
    # A PostgreSQL server killed by SIGKILL leaves its System V segment:
    # remove it (only that one: the key must match) once its backends,
    # which exit when they see the postmaster gone, have detached.
    for f in "$dir"/*/data/postmaster.pid; do
      [ -f "$f" ] || continue
      read -r key id < <(sed -n 7p "$f") || continue
      [[ $key =~ ^[0-9]+$ && $id =~ ^[0-9]+$ ]] || continue
      for _ in $(seq 25); do
        case $(ipcs -m | awk -v k="$(printf '0x%08x' "$key")" -v i="$id" \
                 '$1 == k && $2 == i { print ($6 == 0 ? "free" : "attached") }') in
          free) ipcrm -m "$id" 2>/dev/null || true; break ;;
          attached) sleep 0.2 ;;
          *) break ;;
        esac
      done
    done
    rm -rf "$dir" && echo "test.sh: removed $dir, left by a killed test run" >&2
  done
}
sweep_lab
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

