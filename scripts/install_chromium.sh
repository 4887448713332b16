#!/usr/bin/env bash
# Install Debian's headless-capable Chromium (and a font) for tests/report/test_browser.py.
# The test drives the system browser over the DevTools pipe; nothing is downloaded at test time.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium fonts-dejavu-core
