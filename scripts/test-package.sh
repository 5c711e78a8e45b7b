#!/usr/bin/env bash
# The Debian package, end to end (scripts/test.sh runs it; it needs root, as
# CI has): builds it with scripts/build-deb.sh, checks its metadata and
# contents, checks the systemd units (with `systemd-analyze verify` when it
# can run, and their key settings in any case), installs it with `dpkg -i`,
# runs the INSTALLED /usr/bin/nova-purge on a real SQLite database, with the
# options of the installed /etc/default/nova-purge, and under strace to
# compare its system calls with the unit's SystemCallFilter, then removes
# and purges it and checks that nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s.%N)
took() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
fail() { echo "test-package: FAILED: $*" >&2; exit 1; }
ok() { echo "test-package: ok: $*"; }
skip() { echo "test-package: SKIPPED: $*"; }

[[ $(id -u) == 0 ]] || fail "run as root: it installs and purges the package with dpkg"
if dpkg-query -W -f='${Status}' nova-purge 2>/dev/null | grep -q 'installed\|config-files'; then
  # On CI, a leftover of a killed run; elsewhere, maybe someone's real one.
  [[ ${CI:-} == true ]] || fail "nova-purge is installed here; this test installs and purges its own build (dpkg --purge nova-purge first)"
  dpkg --purge nova-purge >/dev/null
fi

deb=$(scripts/build-deb.sh)
version=$(dpkg-deb --field "$deb" Version)
built=$(took "$started")

# --- Metadata --------------------------------------------------------------
field() { dpkg-deb --field "$deb" "$1"; }
[[ $(field Package) == nova-purge ]] || fail "Package: $(field Package)"
[[ $version == $(awk '/^\[workspace\.package\]/ {s=1; next} /^\[/ {s=0}
                      s && $1 == "version" {gsub(/"/, "", $3); print $3}' Cargo.toml) ]] ||
  fail "Version $version is not the workspace's"
[[ $(field Architecture) == $(dpkg --print-architecture) ]] || fail "Architecture: $(field Architecture)"
[[ $(field Section) == admin && $(field Priority) == optional ]] || fail "Section/Priority"
[[ $(field Maintainer) =~ ^.+\ \<.+@.+\>$ ]] || fail "Maintainer: $(field Maintainer)"
[[ $(field Depends) == *libc6* ]] || fail "Depends lacks libc6: $(field Depends)"
[[ $(field Description) == *$'\n'* ]] || fail "Description has no long part"
[[ $(field Installed-Size) =~ ^[0-9]+$ ]] || fail "Installed-Size: $(field Installed-Size)"
[[ $(dpkg-deb --info "$deb" conffiles) == /etc/default/nova-purge ]] || fail "conffiles"
ok "metadata: $(field Package) $version $(field Architecture), Depends: $(field Depends)"

# --- Contents --------------------------------------------------------------
expected=(
  /usr/bin/nova-purge
  /usr/share/man/man1/nova-purge.1.gz
  /usr/share/man/man1/nova-purge-purge.1.gz
  /usr/share/man/man1/nova-purge-restore.1.gz
  /usr/share/bash-completion/completions/nova-purge
  /usr/share/zsh/vendor-completions/_nova-purge
  /usr/share/fish/vendor_completions.d/nova-purge.fish
  /lib/systemd/system/nova-purge.service
  /lib/systemd/system/nova-purge.timer
  /etc/default/nova-purge
  /usr/share/doc/nova-purge/README.md
  /usr/share/doc/nova-purge/docs/operations.md
  /usr/share/doc/nova-purge/docs/cli.md
  /usr/share/doc/nova-purge/copyright
)
contents=$(dpkg-deb --contents "$deb")
for path in "${expected[@]}"; do
  grep -q " \.$path\$" <<<"$contents" || fail "$path is not in the package"
done
if awk '{print $2}' <<<"$contents" | grep -v '^root/root$' >/dev/null; then
  fail "files not owned by root: $(awk '$2 != "root/root"' <<<"$contents")"
fi
grep -q '^-rwxr-xr-x .* \./usr/bin/nova-purge$' <<<"$contents" || fail "binary mode"
if grep -q ' \./etc/systemd/' <<<"$contents"; then fail "the package enables a unit"; fi
ok "contents: ${#expected[@]} expected paths, all root/root"

# --- Units, before installing: key settings --------------------------------
# `setting FILE KEY`: the value of the last KEY= line.
setting() { sed -n "s/^$2=//p" "$1" | tail -n1; }
expect() {
  local file=$1 key=$2 want=$3 got
  got=$(setting "$file" "$key")
  [[ $got == "$want" ]] || fail "$(basename "$file"): $key=$got, expected $key=$want"
}
service=packaging/systemd/nova-purge.service
timer=packaging/systemd/nova-purge.timer
expect "$service" Type oneshot
expect "$service" ExecStart '/usr/bin/nova-purge --config-file /etc/nova/nova.conf purge --all-cells --yes $NOVA_PURGE_OPTIONS'
expect "$service" EnvironmentFile -/etc/default/nova-purge
expect "$service" SuccessExitStatus 3
expect "$service" DynamicUser yes
expect "$service" SupplementaryGroups nova
expect "$service" ProtectSystem strict
expect "$service" ProtectHome yes
expect "$service" PrivateTmp yes
expect "$service" PrivateDevices yes
expect "$service" NoNewPrivileges yes
expect "$service" CapabilityBoundingSet ''
expect "$service" RestrictAddressFamilies 'AF_UNIX AF_INET AF_INET6'
expect "$service" StateDirectory nova-purge
expect "$service" UMask 0077
expect "$service" ReadWritePaths -/var/lib/prometheus/node-exporter
grep -q '^WantedBy=' "$service" && fail "the service has an [Install] section of its own"
expect "$timer" OnCalendar daily
expect "$timer" RandomizedDelaySec 1h
expect "$timer" Persistent true
expect "$timer" WantedBy timers.target
ok "unit settings"

# --- Install ---------------------------------------------------------------
if grep -rqs '^path-exclude' /etc/dpkg/dpkg.cfg.d/; then
  skip "this dpkg excludes paths (/etc/dpkg/dpkg.cfg.d): man pages or docs may not be installed"
fi
scratch=$(mktemp -d)
cleanup() {
  if dpkg-query -W -f='${Status}' nova-purge 2>/dev/null | grep -q 'ok installed\|config-files'; then
    dpkg --purge nova-purge >/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
installing=$(date +%s.%N)
dpkg -i "$deb" >/dev/null
ok "dpkg -i in $(took "$installing")"
for path in "${expected[@]}"; do
  [[ -e $path ]] || fail "$path was not installed"
done
[[ -e /etc/systemd/system/timers.target.wants/nova-purge.timer ]] && fail "the timer was enabled"
if command -v systemctl >/dev/null; then
  state=$(systemctl is-enabled nova-purge.timer 2>/dev/null || true)
  [[ $state == disabled ]] || fail "systemctl is-enabled nova-purge.timer: $state"
  ok "timer installed disabled"
fi

# --- The installed units ---------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  if verify=$(systemd-analyze verify /lib/systemd/system/nova-purge.service \
                /lib/systemd/system/nova-purge.timer 2>&1); then
    [[ -z $verify ]] || fail "systemd-analyze verify says: $verify"
    ok "systemd-analyze verify: no complaints"
  else
    fail "systemd-analyze verify: $verify"
  fi
  if exposure=$(systemd-analyze security --offline=true /lib/systemd/system/nova-purge.service 2>/dev/null |
                  tail -n1); then
    ok "systemd-analyze security: $exposure"
  fi
else
  skip "systemd-analyze is not installed (Debian package systemd): unit files checked by their settings only"
fi

# --- The installed binary --------------------------------------------------
nova_purge=/usr/bin/nova-purge
[[ $($nova_purge --version) == "nova-purge $version" ]] || fail "--version: $($nova_purge --version)"
$nova_purge demo >"$scratch/demo.txt" 2>&1 || fail "nova-purge demo: $(cat "$scratch/demo.txt")"
db=$scratch/nova.sqlite
$nova_purge demo --keep "$db" >/dev/null 2>&1
# The demo purged what is 90 days old; 5 days reaches one more instance.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
dry=$($nova_purge --database-url "sqlite://$db" purge --older-than 5 --dry-run --format json 2>/dev/null)
[[ $(json '["instances"]' <<<"$dry") == 1 && $(json '["dry_run"]' <<<"$dry") == True ]] ||
  fail "dry run: $dry"
# The options of the installed /etc/default/nova-purge, as the service
# passes them (on the demo database instead of --all-cells): nothing there
# is 90 days old any more, so nothing is purged, but they must be valid.
NOVA_PURGE_OPTIONS=$(. /etc/default/nova-purge && echo "$NOVA_PURGE_OPTIONS")
[[ -n $NOVA_PURGE_OPTIONS ]] || fail "/etc/default/nova-purge sets no NOVA_PURGE_OPTIONS"
metrics=$scratch/nova-purge.prom
# shellcheck disable=SC2086 # split as systemd splits $NOVA_PURGE_OPTIONS
$nova_purge --database-url "sqlite://$db" purge --yes $NOVA_PURGE_OPTIONS --metrics-file "$metrics" \
  --format json >"$scratch/packaged.json" 2>"$scratch/packaged.log" ||
  fail "purge with the packaged options ($NOVA_PURGE_OPTIONS): exit $?: $(cat "$scratch/packaged.log")"
[[ $(json '["instances"]' <"$scratch/packaged.json") == 0 ]] || fail "$(cat "$scratch/packaged.json")"
grep -qx 'nova_purge_last_run_exit_code 0' "$metrics" || fail "metrics: $(cat "$metrics")"
# A purge that deletes, with the same metrics file (the counter adds up),
# as an unprivileged user as in the service (SQLite, as root, chowns its
# journal), under strace when there is one: its system calls are compared
# with the unit's SystemCallFilter below.
chmod 0755 "$scratch"
chown nobody "$scratch" "$db" "$metrics"
as_service=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
syscalls=$scratch/strace
tracer=()
command -v strace >/dev/null && tracer=(strace -f -qq -o "$syscalls")
"${as_service[@]}" "${tracer[@]}" $nova_purge --database-url "sqlite://$db" purge --yes --older-than 5 \
  --batch-size 1 --sleep 10ms --metrics-file "$metrics" --format json \
  >"$scratch/purge.json" 2>"$scratch/purge.log" ||
  fail "purge --older-than 5: exit $?: $(cat "$scratch/purge.log")"
# The database servers too, when scripts/test.sh gives them: connecting,
# inspecting, refusing a database that is not Nova's.
for server in ${NOVA_PURGE_TEST_MYSQL:+"$NOVA_PURGE_TEST_MYSQL/mysql"} \
              ${NOVA_PURGE_TEST_POSTGRES:+"$NOVA_PURGE_TEST_POSTGRES/postgres"}; do
  [[ ${#tracer[@]} -gt 0 ]] || break
  code=0
  "${as_service[@]}" strace -f -qq -o "$syscalls.$RANDOM" $nova_purge --database-url "$server" check \
    >/dev/null 2>"$scratch/check.log" || code=$?
  [[ $code == 5 ]] || fail "check on $server: exit $code (expected 5, not a Nova database): $(cat "$scratch/check.log")"
done
[[ $(json '["instances"]' <"$scratch/purge.json") == 1 ]] || fail "purge: $(cat "$scratch/purge.json")"
grep -qx 'nova_purge_instances_purged_total{cell="local"} 1' "$metrics" ||
  fail "metrics: $(cat "$metrics")"
grep -qx 'nova_purge_last_run_exit_code 0' "$metrics" || fail "metrics exit code"
[[ $(stat -c %a "$metrics") == 644 ]] || fail "metrics file mode"
ok "installed binary: --version, demo, dry run, the packaged options ($NOVA_PURGE_OPTIONS), a purge, metrics"

# The system calls of that run against the unit's SystemCallFilter
# (@system-service without @privileged and @resources).
if [[ ${#tracer[@]} -gt 0 ]] && command -v systemd-analyze >/dev/null; then
  expand() {
    systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/#.*//; s/^ *//; /^$/d' |
      while read -r entry; do
        if [[ $entry == @* ]]; then expand "$entry"; else echo "$entry"; fi
      done
  }
  allowed=$(comm -23 <(expand @system-service | sort -u) \
                     <({ expand @privileged; expand @resources; } | sort -u))
  used=$(cat "$syscalls"* | sed -n 's/^[0-9]* *\([a-z0-9_]*\)(.*/\1/p' | sort -u)
  # execve is the tracer starting the binary, before the filter would apply.
  refused=$(comm -23 <(grep -vx execve <<<"$used") <(sort -u <<<"$allowed") | paste -sd' ')
  [[ -z $refused ]] || fail "system calls the unit's SystemCallFilter refuses: $refused"
  ok "the $(wc -l <<<"$used") system calls of a purge (SQLite) and checks (MariaDB, PostgreSQL) are all allowed by the unit's SystemCallFilter"
else
  skip "strace or systemd-analyze missing: system calls not compared with the SystemCallFilter"
fi

if command -v bash >/dev/null; then
  bash -c '. /usr/share/bash-completion/completions/nova-purge && complete -p nova-purge' >/dev/null ||
    fail "the bash completion does not load"
fi
zcat /usr/share/man/man1/nova-purge-purge.1.gz | grep -q -- 'metrics\\-file' ||
  fail "the purge man page lacks --metrics-file"
if command -v man >/dev/null; then
  [[ $(man -w nova-purge) == /usr/share/man/man1/nova-purge.1.gz ]] || fail "man -w nova-purge"
fi
ok "bash completion loads, man pages found"

# --- Remove, then purge ----------------------------------------------------
dpkg --remove nova-purge >/dev/null
for path in "${expected[@]}"; do
  [[ $path == /etc/default/nova-purge ]] && continue
  [[ -e $path ]] && fail "$path is left after dpkg --remove"
done
[[ -f /etc/default/nova-purge ]] || fail "dpkg --remove removed the conffile"
dpkg --purge nova-purge >/dev/null
for path in "${expected[@]}" /usr/share/doc/nova-purge; do
  [[ -e $path ]] && fail "$path is left after dpkg --purge"
done
dpkg-query -W nova-purge >/dev/null 2>&1 && fail "dpkg still knows nova-purge"
ok "dpkg --remove keeps the conffile; dpkg --purge leaves nothing"

echo "test-package: passed: $deb ($(du -k "$deb" | cut -f1) KiB), built in $built, whole test $(took "$started")"
