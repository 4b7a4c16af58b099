#!/bin/sh
# deps.sh PACKAGE... — make sure Debian packages are installed.
# As root, installs what is missing with apt-get; otherwise prints the exact
# command to run and fails. Used by `make demo`, `make test` and `make bench`.
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "corm: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null
    }
else
    echo "corm: missing packages:$missing" >&2
    echo "corm: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
