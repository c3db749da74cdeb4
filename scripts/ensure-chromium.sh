#!/usr/bin/env bash
# Makes sure a headless-capable Chromium exists for the HTML report test (pytest_tests/test_profile_html.py).
# Installs Debian's chromium package when /usr/bin/chromium is missing and we run as root.
set -euo pipefail
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium (apt-get install chromium)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "Chromium not found: install the 'chromium' package (Debian) to run the HTML report test" >&2
  exit 1
fi
