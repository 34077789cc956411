#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium for the browser test
# (test/browser/dashboard.test.ts drives it with playwright-core, which never
# downloads a browser). Does nothing when it is already there; otherwise
# installs the `chromium` package with apt-get, running `apt-get update` only
# if the install fails without it. Needs root (or sudo) for the install.
set -euo pipefail

readonly CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

fail() {
  echo "ensure-chromium: $*" >&2
  echo "ensure-chromium: the browser test (test/browser/dashboard.test.ts) needs $CHROMIUM." >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 ||
  fail "$CHROMIUM is missing and apt-get is not available: install Chromium at $CHROMIUM by hand"

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  fail "$CHROMIUM is missing; run this script as root to install Debian's chromium package"
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${as_root[@]}" apt-get install -y --no-install-recommends chromium; }

echo "ensure-chromium: installing Debian's chromium package" >&2
if ! install; then
  echo "ensure-chromium: install failed; running apt-get update and trying again" >&2
  "${as_root[@]}" apt-get update || fail "apt-get update failed"
  install || fail "apt-get install chromium failed"
fi

[ -x "$CHROMIUM" ] || fail "the chromium package is installed but $CHROMIUM is missing"
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM installed")" >&2
