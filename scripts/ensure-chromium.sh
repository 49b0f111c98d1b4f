#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/server/test_browser.py) when it is
# missing. Playwright drives this system browser; `playwright install` is never used (its
# downloads are blocked here). Quiet when Chromium is already there.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure-chromium: $CHROMIUM is missing and this user cannot install packages;" \
    "run 'apt-get install -y chromium' as root (the browser tests skip until then)" >&2
  exit 0
fi
echo "ensure-chromium: installing chromium with apt-get (once)" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() { "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >"$log" 2>&1; }
if ! install; then
  "${SUDO[@]}" apt-get update -qq >"$log" 2>&1 || true
  install || { cat "$log" >&2; exit 1; }
fi
[ -x "$CHROMIUM" ] || { echo "ensure-chromium: apt-get ran but $CHROMIUM is still missing" >&2; exit 1; }
