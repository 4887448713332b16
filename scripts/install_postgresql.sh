#!/usr/bin/env bash
# Install Debian's PostgreSQL server for tests/search/test_postgres.py.
# The test starts its own throwaway server (initdb + pg_ctl in a temporary folder, a free
# port) and stops it at the end; the packaged cluster is not used, nor started here.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "PostgreSQL server binaries already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql
