#!/bin/sh
# pg-replicas.sh start DIR | stop DIR | urls DIR — a throwaway PostgreSQL
# primary with two streaming replicas (issue 10), each in DIR/<name> on a
# unix socket there (no TCP):
#
#   start  the primary (scripts/pg.sh start DIR/primary), then each replica
#          copied from it by `pg_basebackup -R` (which writes standby.signal
#          and primary_conninfo) and started on its own socket; waits until
#          both stream from the primary; prints three URLs, a line each:
#          the primary's, then the replicas'.
#   stop   stop all three (immediate), whatever state they are in.
#   urls   print the URLs again.
#   stop-one DIR NAME  stop one of them (primary, replica1, replica2) abruptly.
#   promote DIR NAME   make a replica a primary (pg_ctl promote; waits until
#          it takes writes).
#
# As root (CI) the servers run as the `postgres` user, as pg.sh does. A
# server that does not start is an error (exit 1, with its log).
set -eu
cmd=${1:?usage: pg-replicas.sh start|stop|urls|stop-one|promote DIR}
dir=${2:?usage: pg-replicas.sh start|stop|urls|stop-one|promote DIR}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(pg_config --bindir)
[ -x "$bin/initdb" ] || bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$1"
    else
        sh -c "$1"
    fi
}

url_of() { echo "postgresql:///corm_test?host=$dir/$1/sock&port=$(cat "$dir/$1/port")&user=corm"; }

urls() {
    url_of primary
    url_of replica1
    url_of replica2
}

case $cmd in
start)
    mkdir -p "$dir/primary"
    [ "$(id -u)" = 0 ] && chown postgres "$dir" # its servers' directories are inside
    "$here/pg.sh" start "$dir/primary" > /dev/null
    pport=$(cat "$dir/primary/port")
    n=0
    for r in replica1 replica2; do
        n=$((n + 1))
        mkdir -p "$dir/$r/sock"
        echo $((pport + n)) > "$dir/$r/port"
        [ "$(id -u)" = 0 ] && chown -R postgres "$dir/$r" && chmod 700 "$dir/$r"
        as_owner "'$bin/pg_basebackup' -D '$dir/$r/data' -h '$dir/primary/sock' -p $pport \
            -U corm -R -X stream -c fast >'$dir/$r/basebackup.log' 2>&1" || {
            cat "$dir/$r/basebackup.log" >&2
            echo "pg-replicas.sh: pg_basebackup for $r failed" >&2
            exit 1
        }
        as_owner "'$bin/pg_ctl' -D '$dir/$r/data' -l '$dir/$r/server.log' -w -t 30 \
            -o \"-k '$dir/$r/sock' -p $((pport + n)) -c listen_addresses='' -c fsync=off\" \
            start >/dev/null" || {
            cat "$dir/$r/server.log" >&2
            echo "pg-replicas.sh: $r did not start" >&2
            exit 1
        }
    done
    # both stream before the URLs are handed out
    i=0
    while [ "$(as_owner "'$bin/psql' -h '$dir/primary/sock' -p $pport -U corm -d corm_test -Atc \
        \"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'\"")" != 2 ]; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            echo "pg-replicas.sh: the replicas do not stream" >&2
            cat "$dir/replica1/server.log" "$dir/replica2/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    urls
    ;;
stop)
    for r in replica1 replica2; do
        [ -d "$dir/$r/data" ] && as_owner "'$bin/pg_ctl' -D '$dir/$r/data' -m immediate stop \
            >/dev/null 2>&1" || true
    done
    "$here/pg.sh" stop "$dir/primary"
    ;;
urls)
    urls
    ;;
stop-one) # stop-one DIR NAME: one server stopped (immediate), as a crash would
    name=${3:?usage: pg-replicas.sh stop-one DIR primary|replica1|replica2}
    as_owner "'$bin/pg_ctl' -D '$dir/$name/data' -m immediate stop >/dev/null 2>&1"
    ;;
promote) # promote DIR NAME: the replica leaves recovery and takes writes
    name=${3:?usage: pg-replicas.sh promote DIR replica1|replica2}
    as_owner "'$bin/pg_ctl' -D '$dir/$name/data' -w -t 30 promote >/dev/null"
    ;;
*)
    echo "usage: pg-replicas.sh start|stop|urls|stop-one|promote DIR [NAME]" >&2
    exit 2
    ;;
esac
