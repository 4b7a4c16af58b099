#!/bin/sh
# with-pg-replicas.sh COMMAND... — run COMMAND with a throwaway PostgreSQL
# primary and two streaming replicas (scripts/pg-replicas.sh): the
# primary's URL in CORM_TEST_URL, the replicas' in CORM_TEST_REPLICA_URLS
# (separated by spaces), their directory in CORM_PG_REPLICAS_DIR. All three
# are stopped and the directory removed afterwards, also when COMMAND fails
# or is killed. Exits with COMMAND's status, or 1 when a server cannot start.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/corm-rep-XXXXXX)
cleanup() {
    "$here/pg-replicas.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
urls=$("$here/pg-replicas.sh" start "$dir")
CORM_TEST_URL=$(echo "$urls" | sed -n 1p)
CORM_TEST_REPLICA_URLS=$(echo "$urls" | sed -n '2,$p' | tr '\n' ' ')
CORM_PG_REPLICAS_DIR=$dir
export CORM_TEST_URL CORM_TEST_REPLICA_URLS CORM_PG_REPLICAS_DIR
echo "with-pg-replicas: primary $CORM_TEST_URL, replicas $CORM_TEST_REPLICA_URLS"
status=0
"$@" || status=$?
exit $status
