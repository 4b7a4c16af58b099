#!/bin/sh
# with-mariadb.sh COMMAND... — run COMMAND with a throwaway MariaDB server
# (scripts/mariadb.sh) and its URL in CORM_TEST_URL; the server is stopped
# and its directory removed afterwards, also when COMMAND fails or is
# killed. Exits with COMMAND's status, or 1 when the server cannot start.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/corm-my-XXXXXX)
cleanup() {
    "$here/mariadb.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CORM_TEST_URL=$("$here/mariadb.sh" start "$dir")
CORM_MY_SOCKET=$dir/sock/mysqld.sock # for the mariadb client and scripts/my-db.sh
CORM_MY_DIR=$dir # for tests that restart the server (scripts/mariadb.sh restart)
export CORM_TEST_URL CORM_MY_SOCKET CORM_MY_DIR
echo "with-mariadb: MariaDB at $CORM_TEST_URL"
status=0
"$@" || status=$?
exit $status
