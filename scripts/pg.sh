#!/bin/sh
# pg.sh start DIR | stop DIR | url DIR — a throwaway PostgreSQL server for the
# tests and benchmarks, in directory DIR (made by the caller, e.g. mktemp -d).
#
#   start  initdb DIR/data, start the server on a unix socket in DIR/sock
#          (no TCP), create the database corm_test, and print its URL
#          (postgresql:///corm_test?host=DIR/sock&port=PORT&user=corm).
#   stop   stop it (immediate: nothing in it is kept), whatever state it is in.
#
# CORM_PG_OPTS adds server options; the tests leave it unset and get
# fsync=off (nothing they write must survive a crash), the benchmarks set
# it empty to run the server with its default settings.
#   restart  stop it abruptly and start it again (as a crash would), on the same socket.
#   url    print the URL again.
#
# initdb refuses to run as root, so as root (CI) the server runs as the
# `postgres` user, which owns DIR; otherwise as the caller. A server that
# does not start is an error (exit 1, with its log), never a skip.
set -eu
cmd=${1:?usage: pg.sh start|stop|restart|url DIR}
dir=${2:?usage: pg.sh start|stop|restart|url DIR}
bin=$(pg_config --bindir)
[ -x "$bin/initdb" ] || bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
port_file=$dir/port

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$1"
    else
        sh -c "$1"
    fi
}

url() { echo "postgresql:///corm_test?host=$dir/sock&port=$(cat "$port_file")&user=corm"; }

case $cmd in
start)
    mkdir -p "$dir/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir" && chmod 700 "$dir"
    # a port number only names the socket file; choose one no other test uses
    port=$((20000 + $$ % 20000))
    echo "$port" > "$port_file"
    as_owner "'$bin/initdb' -D '$dir/data' -U corm --auth=trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" || {
        cat "$dir/initdb.log" >&2
        echo "pg.sh: initdb failed" >&2
        exit 1
    }
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 30 \
        -o \"-k '$dir/sock' -p $port -c listen_addresses='' ${CORM_PG_OPTS--c fsync=off}\" \
        start >/dev/null" || {
        cat "$dir/server.log" >&2
        echo "pg.sh: the server did not start" >&2
        exit 1
    }
    as_owner "'$bin/createdb' -h '$dir/sock' -p $port -U corm corm_test" || {
        cat "$dir/server.log" >&2
        exit 1
    }
    url
    ;;
stop)
    [ -d "$dir/data" ] || exit 0
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m immediate stop >/dev/null 2>&1" || true
    ;;
restart)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -m immediate -w -t 30 restart >/dev/null" || {
        cat "$dir/server.log" >&2
        echo "pg.sh: the server did not restart" >&2
        exit 1
    }
    ;;
url)
    url
    ;;
*)
    echo "usage: pg.sh start|stop|restart|url DIR" >&2
    exit 2
    ;;
esac
