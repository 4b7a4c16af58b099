#!/bin/sh
# mariadb.sh start DIR | stop DIR | restart DIR | url DIR — a throwaway
# MariaDB server for the tests and benchmarks, in directory DIR (made by
# the caller, e.g. mktemp -d).
#
#   start    mariadb-install-db into DIR/data, start mariadbd on a unix
#            socket in DIR/sock (no TCP), create the user corm (all
#            privileges, from the socket) and the database corm_test, and
#            print its URL (mysql://corm@localhost/corm_test?unix_socket=...).
#   stop     stop it (a kill: nothing in it is kept), whatever state it is in.
#   restart  kill it and start it again (as a crash would), on the same socket.
#   url      print the URL again.
#
# CORM_MY_OPTS adds server options; the tests leave it unset and get
# no fsync (what they commit survives the server process dying, as the
# restart test needs, not the machine crashing), the benchmarks
# set it empty to run the server with its default settings.
#
# As root (CI) the server runs as the `mysql` user, which owns DIR;
# otherwise as the caller. A server that does not start is an error (exit 1,
# with its log), never a skip.
set -eu
cmd=${1:?usage: mariadb.sh start|stop|restart|url DIR}
dir=${2:?usage: mariadb.sh start|stop|restart|url DIR}
sock=$dir/sock/mysqld.sock
pid=$dir/mysqld.pid

url() { echo "mysql://corm@localhost/corm_test?unix_socket=$sock"; }

user_opt() { [ "$(id -u)" = 0 ] && echo "--user=mysql" || true; }

launch() {
    # shellcheck disable=SC2086
    mariadbd --no-defaults $(user_opt) --datadir="$dir/data" --socket="$sock" \
        --skip-networking --pid-file="$pid" --log-error="$dir/server.log" \
        --lock-wait-timeout=20 --innodb-lock-wait-timeout=20 \
        ${CORM_MY_OPTS---innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --sync-binlog=0} \
        >/dev/null 2>&1 &
    i=0
    until mariadb-admin --no-defaults -S "$sock" -uroot ping >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            cat "$dir/server.log" >&2 || true
            echo "mariadb.sh: the server did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
}

stop_server() {
    [ -f "$pid" ] || return 0
    p=$(cat "$pid")
    kill -9 "$p" 2>/dev/null || true
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    rm -f "$pid" "$sock"
}

case $cmd in
start)
    mkdir -p "$dir/sock" "$dir/data"
    [ "$(id -u)" = 0 ] && chown -R mysql "$dir"
    chmod 755 "$dir" "$dir/sock"
    # the bootstrap crashes once in a while (signal 11 in mariadbd's Aria
    # temporary tables): up to two more attempts on a clean directory
    for attempt in 1 2 3; do
        mariadb-install-db --no-defaults $(user_opt) --datadir="$dir/data" \
            --auth-root-authentication-method=normal >"$dir/install.log" 2>&1 && break
        cat "$dir/install.log" >&2
        if [ "$attempt" = 3 ]; then
            echo "mariadb.sh: mariadb-install-db failed (3 attempts)" >&2
            exit 1
        fi
        echo "mariadb.sh: mariadb-install-db failed; again" >&2
        rm -rf "$dir/data" && mkdir -p "$dir/data"
        [ "$(id -u)" = 0 ] && chown mysql "$dir/data"
    done
    launch
    mariadb --no-defaults -S "$sock" -uroot -e "CREATE USER corm@localhost; \
        GRANT ALL ON *.* TO corm@localhost WITH GRANT OPTION; CREATE DATABASE corm_test" || {
        cat "$dir/server.log" >&2
        exit 1
    }
    url
    ;;
stop)
    stop_server
    ;;
restart)
    stop_server
    launch
    ;;
url)
    url
    ;;
*)
    echo "usage: mariadb.sh start|stop|restart|url DIR" >&2
    exit 2
    ;;
esac
