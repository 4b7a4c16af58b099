#!/bin/sh
# my-db.sh COMMAND... — run COMMAND with DATABASE_URL (and CORM_TEST_URL,
# for the test fixture) naming a database of its own on the server
# scripts/with-mariadb.sh started (CORM_MY_SOCKET), made empty before and
# dropped after, so that programs that create their tables do not meet
# each other's. Exits with COMMAND's status.
set -eu
db=corm_$$
my() { mariadb --no-defaults -S "$CORM_MY_SOCKET" -ucorm -e "$1"; }
my "CREATE DATABASE $db"
trap 'my "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
DATABASE_URL="mysql://corm@localhost/$db?unix_socket=$CORM_MY_SOCKET"
CORM_TEST_URL=$DATABASE_URL # what the test fixture opens
export DATABASE_URL CORM_TEST_URL
status=0
"$@" || status=$?
exit $status
