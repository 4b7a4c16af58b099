#!/bin/sh
# with-pg.sh COMMAND... — run COMMAND with a throwaway PostgreSQL server
# (scripts/pg.sh) and its URL in CORM_TEST_URL; the server is stopped and
# its directory removed afterwards, also when COMMAND fails or is killed.
# Exits with COMMAND's status, or 1 when the server cannot start.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/corm-pg-XXXXXX)
cleanup() {
    "$here/pg.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CORM_TEST_URL=$("$here/pg.sh" start "$dir")
# libpq's own variables, for psql, createdb and scripts/pg-db.sh
PGHOST=$dir/sock PGPORT=$(cat "$dir/port") PGUSER=corm
CORM_PG_DIR=$dir # for tests that restart the server (scripts/pg.sh restart)
export CORM_TEST_URL PGHOST PGPORT PGUSER CORM_PG_DIR
echo "with-pg: PostgreSQL at $CORM_TEST_URL"
status=0
"$@" || status=$?
exit $status
