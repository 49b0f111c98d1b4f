#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the store's tests when it is missing. The tests start
# their own throwaway cluster (tests/store/pg_cluster.py: initdb in a temporary folder, a free
# port on 127.0.0.1, run as the 'postgres' system user, removed afterwards); this script only
# makes the binaries exist. Quiet when they are already there. No service is started.
set -euo pipefail
have_server() {
  [ -n "${FLYWHEEL_PG_BINDIR:-}" ] && [ -x "$FLYWHEEL_PG_BINDIR/pg_ctl" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && return 0
  command -v pg_ctl >/dev/null 2>&1
}
if have_server; then
  # as root the server runs as 'postgres'; Debian's package creates that user, a copy made
  # some other way may not have
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
  fi
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure-postgres: the PostgreSQL server is missing and this user cannot install" \
    "packages; run 'apt-get install -y postgresql' as root, or set FLYWHEEL_SKIP_POSTGRES=1" \
    "to skip the store's PostgreSQL runs (they fail until then)" >&2
  exit 0
fi
echo "ensure-postgres: installing postgresql with apt-get (once)" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() {
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends postgresql >"$log" 2>&1
}
if ! install; then
  "${SUDO[@]}" apt-get update -qq >"$log" 2>&1 || true
  install || { cat "$log" >&2; exit 1; }
fi
have_server || { echo "ensure-postgres: apt-get ran but no pg_ctl was installed" >&2; exit 1; }
# Debian's package starts a 'main' cluster as a service; the tests never use it, and on a CI
# machine nothing should keep running after the tests: stop it (it stays installed).
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    version=$(basename "$(dirname "$conf")")
    "${SUDO[@]}" pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
  done
fi
