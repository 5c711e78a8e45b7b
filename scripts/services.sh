#!/usr/bin/env bash
# Makes MariaDB and PostgreSQL reachable on 127.0.0.1 for the test suite:
# starts them when installed but stopped, installs them (Debian packages)
# when missing, and makes sure a user that may create databases can log in
# over TCP; also installs what the test lab's private servers and the Nova
# compatibility suite run with (galera-4, rsync, openssl, Python's venv). Prints the two server URLs as shell assignments on stdout:
#   NOVA_PURGE_TEST_MYSQL=mysql://...
#   NOVA_PURGE_TEST_POSTGRES=postgres://...
# Everything else goes to stderr. Safe to run again.
set -euo pipefail

log() { echo "services: $*" >&2; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

wait_for() { # seconds, command...
  local tries=$(( $1 * 2 )); shift
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  "$@" >&2
}

# --- MariaDB -----------------------------------------------------------------
# Tests connect as root without a password over TCP, as on the project's
# machines; on a fresh install root only logs in through the socket, so a
# dedicated test user is created instead.
MYSQL_TEST_USER=nova_purge_test
MYSQL_TEST_PASSWORD=nova-purge-test

mysql_tcp() { mysql --protocol=tcp -h127.0.0.1 -P3306 "$@" -e 'SELECT 1' >/dev/null 2>&1; }

ensure_mariadb() {
  if ! command -v mysql >/dev/null || [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server mariadb-client
  fi
  if ! mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 && ! mysql_tcp -uroot; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >&2
    wait_for 60 mysqladmin --protocol=socket -uroot ping || wait_for 5 mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping
  fi
  if mysql_tcp -uroot; then
    echo "NOVA_PURGE_TEST_MYSQL=mysql://root@127.0.0.1:3306"
    return
  fi
  if ! mysql_tcp -u"$MYSQL_TEST_USER" -p"$MYSQL_TEST_PASSWORD"; then
    log "creating MariaDB user $MYSQL_TEST_USER"
    mysql --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '$MYSQL_TEST_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
CREATE USER IF NOT EXISTS '$MYSQL_TEST_USER'@'localhost' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_TEST_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_TEST_USER'@'localhost' WITH GRANT OPTION;
SQL
  fi
  echo "NOVA_PURGE_TEST_MYSQL=mysql://$MYSQL_TEST_USER:$MYSQL_TEST_PASSWORD@127.0.0.1:3306"
}

# --- PostgreSQL --------------------------------------------------------------
PG_TEST_USER=nova_purge_test
PG_TEST_PASSWORD=nova-purge-test

pg_tcp() { psql "$1" -tAc 'SELECT 1' >/dev/null 2>&1; }

ensure_postgres() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    wait_for 60 pg_isready -h 127.0.0.1 -p 5432
  fi
  if pg_tcp "postgres://postgres@127.0.0.1:5432/postgres"; then
    echo "NOVA_PURGE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432"
    return
  fi
  local url="postgres://$PG_TEST_USER:$PG_TEST_PASSWORD@127.0.0.1:5432"
  if ! pg_tcp "$url/postgres"; then
    log "creating PostgreSQL role $PG_TEST_USER"
    runuser -u postgres -- psql -q -c \
      "DO \$\$ BEGIN CREATE ROLE $PG_TEST_USER LOGIN SUPERUSER PASSWORD '$PG_TEST_PASSWORD'; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;" >&2
  fi
  echo "NOVA_PURGE_TEST_POSTGRES=$url"
}

# --- The test lab's tools ----------------------------------------------------
# mariadb-server depends on galera-4 and rsync, but a server installed some
# other way may lack them; the TLS tests make their CA with openssl, and
# tests/nova-compat/venv.sh needs python3.11 with its venv module.
ensure_lab_tools() {
  local need=()
  [ -e /usr/lib/galera/libgalera_smm.so ] || [ -e /usr/lib/libgalera_smm.so ] || need+=(galera-4)
  command -v rsync >/dev/null || need+=(rsync)
  command -v openssl >/dev/null || need+=(openssl)
  python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3.11 python3.11-venv)
  if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}"
  fi
}

ensure_mariadb
ensure_postgres
ensure_lab_tools
