#!/bin/sh
# pg-db.sh COMMAND... — run COMMAND with DATABASE_URL (and CORM_TEST_URL, for
# the test fixture) naming a database of its
# own on the server scripts/with-pg.sh started (PGHOST, PGPORT, PGUSER), made
# empty before and dropped after, so that programs that create their tables
# do not meet each other's. Exits with COMMAND's status.
set -eu
db=corm_$$
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
DATABASE_URL="postgresql:///$db?host=$PGHOST&port=$PGPORT&user=$PGUSER"
CORM_TEST_URL=$DATABASE_URL # what the test fixture opens
export DATABASE_URL CORM_TEST_URL
status=0
"$@" || status=$?
exit $status
