#!/bin/sh
# galera.sh start DIR | stop DIR | urls DIR — a throwaway three-node MariaDB
# Galera cluster (issue 10) on loopback, each node in DIR/n1, DIR/n2, DIR/n3:
#
#   start  mariadb-install-db for each node and a config file DIR/nI/my.cnf
#          (wsrep on, Debian's galera-4 provider, row-based binlog, SST by
#          rsync, Galera's group traffic, IST and SST on 127.0.0.1 ports of
#          their own); node 1 bootstraps the cluster (--wsrep-new-cluster),
#          the user corm and the database corm_test are made there, then
#          nodes 2 and 3 join it (each copied from a donor by rsync). Waits
#          until wsrep_cluster_size is 3 and every node is Synced, then
#          prints one URL a line (the nodes' unix sockets).
#   stop   kill the three (nothing in them is kept), whatever state they are in.
#   urls   print the URLs again.
#
# As root (CI) the servers run as the `mysql` user, which owns DIR. A node
# that does not start or join is an error (exit 1, with its log).
set -eu
cmd=${1:?usage: galera.sh start|stop|urls DIR}
dir=${2:?usage: galera.sh start|stop|urls DIR}
provider=$(ls /usr/lib/galera/libgalera_smm.so /usr/lib/*/galera*/libgalera_smm.so 2>/dev/null | head -1 || true)

user_opt() { [ "$(id -u)" = 0 ] && echo "--user=mysql" || true; }
sock() { echo "$dir/n$1/sock/mysqld.sock"; }
url() { echo "mysql://corm@localhost/corm_test?unix_socket=$(sock "$1")"; }
urls() { for i in 1 2 3; do url $i; done; }
status() { mariadb --no-defaults -S "$(sock "$1")" -uroot -N -B -e "SHOW STATUS LIKE '$2'" 2>/dev/null | cut -f2; }

fail() {
    for i in 1 2 3; do
        [ -f "$dir/n$i/server.log" ] && { echo "--- node $i" >&2; tail -40 "$dir/n$i/server.log" >&2; }
    done
    echo "galera.sh: $1" >&2
    exit 1
}

# Four ports a node (client, group, IST, SST) from a base no other run uses,
# below the kernel's ephemeral range: there, a port can be taken at any time
# as the source port of some outgoing connection (CI once saw node 3's IST
# listener fail with "Address already in use" on 33610, taken so, and the
# node abort). A base with one of its ports already listening is skipped.
ports() {
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    slots=$(((low - 20000) / 40))
    [ "$slots" -gt 0 ] || fail "no room for ports below the ephemeral range (it starts at $low)"
    listening=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    k=0
    while [ $k -lt "$slots" ]; do
        base=$((20000 + (($$ + k) % slots) * 40))
        p=$base taken=
        while [ $p -lt $((base + 12)) ]; do
            echo "$listening" | grep -qx "$p" && taken=1
            p=$((p + 1))
        done
        [ -z "$taken" ] && { echo $base > "$dir/base"; return; }
        k=$((k + 1))
    done
    fail "no free ports for the cluster below $low"
}
port() { echo $(($(cat "$dir/base") + ($1 - 1) * 4 + $2)); } # node, 0..3

config() {
    i=$1
    gcomm="gcomm://127.0.0.1:$(port 1 1),127.0.0.1:$(port 2 1),127.0.0.1:$(port 3 1)"
    cat > "$dir/n$i/my.cnf" <<EOF
[mysqld]
datadir=$dir/n$i/data
socket=$(sock "$i")
pid-file=$dir/n$i/mysqld.pid
log-error=$dir/n$i/server.log
port=$(port "$i" 0)
bind-address=127.0.0.1
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_flush_log_at_trx_commit=2
innodb_doublewrite=0
innodb_lock_wait_timeout=20
lock_wait_timeout=20
wsrep_on=ON
wsrep_provider=$provider
wsrep_cluster_name=corm_test
wsrep_node_name=n$i
wsrep_cluster_address=$gcomm
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(port "$i" 1);ist.recv_addr=127.0.0.1:$(port "$i" 2)"
wsrep_sst_receive_address=127.0.0.1:$(port "$i" 3)
wsrep_sst_method=rsync
EOF
}

launch() { # launch NODE [--wsrep-new-cluster]
    i=$1
    shift
    # shellcheck disable=SC2046
    mariadbd --defaults-file="$dir/n$i/my.cnf" $(user_opt) "$@" >/dev/null 2>&1 &
    n=0
    until [ "$(status "$i" wsrep_local_state_comment)" = Synced ]; do
        n=$((n + 1))
        [ $n -gt 600 ] && fail "node $i did not start or join the cluster within 60 s"
        sleep 0.1
    done
}

stop_all() {
    for i in 1 2 3; do
        pid=$dir/n$i/mysqld.pid
        [ -f "$pid" ] || continue
        p=$(cat "$pid")
        kill -9 "$p" 2>/dev/null || true
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do
            n=$((n + 1))
            sleep 0.05
        done
        rm -f "$pid"
    done
}

case $cmd in
start)
    [ -n "$provider" ] || fail "no libgalera_smm.so: apt-get install -y galera-4"
    command -v rsync >/dev/null || fail "no rsync (the SST method): apt-get install -y rsync"
    ports
    for i in 1 2 3; do
        mkdir -p "$dir/n$i/sock" "$dir/n$i/data"
        config "$i"
    done
    [ "$(id -u)" = 0 ] && chown -R mysql "$dir"
    chmod 755 "$dir" "$dir"/n? "$dir"/n?/sock
    for i in 1 2 3; do
        # mariadbd's bootstrap crashes once in a while (signal 11 in its Aria
        # temporary tables, seen once in CI): up to two more attempts, each
        # on a clean directory, before giving up
        for attempt in 1 2 3; do
            mariadb-install-db --no-defaults $(user_opt) --datadir="$dir/n$i/data" \
                --auth-root-authentication-method=normal >"$dir/n$i/install.log" 2>&1 && break
            cat "$dir/n$i/install.log" >&2
            [ "$attempt" = 3 ] && fail "mariadb-install-db failed for node $i (3 attempts)"
            echo "galera.sh: mariadb-install-db failed for node $i; again" >&2
            rm -rf "$dir/n$i/data" && mkdir -p "$dir/n$i/data"
            [ "$(id -u)" = 0 ] && chown mysql "$dir/n$i/data"
        done
    done
    launch 1 --wsrep-new-cluster
    mariadb --no-defaults -S "$(sock 1)" -uroot -e "CREATE USER corm@localhost; \
        GRANT ALL ON *.* TO corm@localhost WITH GRANT OPTION; CREATE DATABASE corm_test" ||
        fail "cannot create the user and database on node 1"
    launch 2
    launch 3
    for i in 1 2 3; do
        [ "$(status "$i" wsrep_cluster_size)" = 3 ] || fail "node $i does not see three nodes"
    done
    urls
    ;;
stop)
    stop_all
    ;;
urls)
    urls
    ;;
*)
    echo "usage: galera.sh start|stop|urls DIR" >&2
    exit 2
    ;;
esac
