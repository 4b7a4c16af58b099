#!/bin/sh
# with-galera.sh COMMAND... — run COMMAND with a throwaway three-node MariaDB
# Galera cluster (scripts/galera.sh): node 1's URL in CORM_TEST_URL, all
# three in CORM_TEST_NODE_URLS (separated by spaces), their directory in
# CORM_GALERA_DIR. The nodes are stopped and the directory removed
# afterwards, also when COMMAND fails or is killed. Exits with COMMAND's
# status, or 1 when the cluster cannot start.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/corm-gal-XXXXXX)
cleanup() {
    "$here/galera.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
urls=$("$here/galera.sh" start "$dir")
CORM_TEST_URL=$(echo "$urls" | sed -n 1p)
CORM_TEST_NODE_URLS=$(echo "$urls" | tr '\n' ' ')
CORM_GALERA_DIR=$dir
export CORM_TEST_URL CORM_TEST_NODE_URLS CORM_GALERA_DIR
echo "with-galera: nodes $CORM_TEST_NODE_URLS"
status=0
"$@" || status=$?
exit $status
