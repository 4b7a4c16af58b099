#!/bin/sh
# webapp.sh WEBAPP SOURCE_DIR — examples/webapp end to end, over HTTP on
# loopback with curl: its schema by `webapp db upgrade` from the shipped
# migrations, then every route, every refusal (malformed JSON, unknown
# fields, wrong types, missing and over-long values, duplicates, bad pages,
# a body too large), pagination, cascades and concurrent requests; after
# each refusal, that nothing was written. On DATABASE_URL when set (the
# server backends' db scripts set it), else on a SQLite file of its own.
# The server is stopped with SIGTERM, also when a check fails, and must
# exit 0 (under ASan: with nothing leaked).
set -eu
app=$1
src=$2
tmp=$(mktemp -d /tmp/corm-webapp-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
: "${DATABASE_URL:=sqlite:///$tmp/webapp.db}"
export DATABASE_URL
cd "$src/examples/webapp"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# ---- the schema comes from the migrations ------------------------------
PORT=0 "$app" >"$tmp/early.out" 2>&1 && fail "served a database without its tables"
grep -q "db upgrade" "$tmp/early.out" || fail "no pointer to 'db upgrade': $(cat "$tmp/early.out")"
"$app" db upgrade >"$tmp/upgrade.out" 2>&1 || { cat "$tmp/upgrade.out"; exit 1; }
grep -q "Running upgrade <base> -> .*, users and their posts" "$tmp/upgrade.out" ||
    fail "upgrade said: $(cat "$tmp/upgrade.out")"
"$app" db check >"$tmp/check.out" 2>&1 || fail "the migrations do not make the models' schema: $(cat "$tmp/check.out")"

# ---- the server -----------------------------------------------------------
PORT=0 WEBAPP_THREADS=4 "$app" >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
until grep -q "listening on" "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 200 ] && { cat "$tmp/out" "$tmp/err"; echo "webapp did not start" >&2; exit 1; }
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/out" "$tmp/err"; echo "webapp exited" >&2; exit 1; }
    sleep 0.05
done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/out")
# a second server on the same port says it cannot listen, and exits 1
status=0
PORT=${base##*:} "$app" >"$tmp/second" 2>&1 || status=$?
[ $status = 1 ] && grep -q "cannot listen on 127.0.0.1:${base##*:}" "$tmp/second" ||
    fail "a second server on the port: exit $status, $(cat "$tmp/second")"

# req METHOD PATH BODY STATUS [TEXT...]: the status must be STATUS and the
# body hold each TEXT. The body is left in $tmp/body.
req() {
    method=$1 path=$2 body=$3 want=$4
    shift 4
    if [ -n "$body" ]; then
        got=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
            --data-binary "$body" "$base$path")
    else
        got=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$method" "$base$path")
    fi
    [ "$got" = "$want" ] || fail "$method $path $body: $got, not $want: $(cat "$tmp/body")"
    for text in "$@"; do
        grep -qF -- "$text" "$tmp/body" || fail "$method $path: no '$text' in $(cat "$tmp/body")"
    done
}
# The id in the last reply (a failed INSERT may use up a server's sequence
# value, so ids are read, not assumed).
id_of() {
    grep -o '"id":[0-9]*' "$tmp/body" | head -1 | cut -d: -f2
}
# total PATH N: the list at PATH says it holds N rows.
total() {
    req GET "$1" "" 200 "\"total\":$2,"
}
long=$(printf '%081d' 0)

# ---- create, read, refuse ---------------------------------------------------
req POST /users '{"username": "marshal", "email": "marshal@example.org"}' 201 \
    '"username":"marshal"' '"email":"marshal@example.org"' '"created_at":"'
m=$(id_of)
req GET /users/$m "" 200 '"username":"marshal"' "\"id\":$m,"

req POST /users '{"username": "marshal", "email": "other@example.org"}' 409 \
    "username 'marshal' is already taken" '"field":"username"'
req POST /users "{\"username\": \"$long\", \"email\": \"a@example.org\"}" 400 \
    'User.username' 'STRING(80)'
req POST /users "{\"username\": \"ann\", \"email\": \"$(printf '%0121d' 0)\"}" 400 'User.email'
req POST /users '{"username": "ann"}' 400 "'email' is required" '"field":"email"'
req POST /users '{"username": "ann", "email": ' 400 'malformed JSON'
req POST /users '' 400 'malformed JSON'
req POST /users '[{"username": "ann"}]' 400 'must be a JSON object'
req POST /users '{"username": "ann", "email": "a@example.org", "admin": true}' 400 \
    "unknown field 'admin'" '"field":"admin"'
req POST /users '{"username": 7, "email": "a@example.org"}' 400 "'username' must be a string"
req POST /users '{"username": null, "email": "a@example.org"}' 400 "'username' must be a string"
req POST /users '{"username": "", "email": "a@example.org"}' 400 "'username' must not be empty"
req POST /users '{"username": "a", "username": "b", "email": "a@example.org"}' 400 'duplicate'
head -c 70000 /dev/zero | tr '\0' 'x' >"$tmp/big"
req POST /users "{\"username\": \"$(cat "$tmp/big")\"}" 413 'larger than 64 KiB'
total /users 1 # nothing of the refused requests was written

# ---- update ------------------------------------------------------------------
req POST /users '{"username": "ann", "email": "ann@example.org"}' 201 '"username":"ann"'
a=$(id_of)
req PATCH /users/$a '{"email": "ann@example.net"}' 200 '"email":"ann@example.net"' '"username":"ann"'
req PATCH /users/$a '{"username": "marshal"}' 409 "username 'marshal' is already taken"
req PATCH /users/$a "{\"username\": \"$long\"}" 400 'User.username'
req GET /users/$a "" 200 '"username":"ann"' '"email":"ann@example.net"' # unchanged by the refusals
req PUT /users/$a '{"username": "anne"}' 400 "'email' is required"
req PUT /users/$a '{"username": "anne", "email": "anne@example.org"}' 200 '"username":"anne"'
req PATCH /users/99 '{"email": "x@example.org"}' 404 'no such row: 99'

# ---- posts ---------------------------------------------------------------------
req POST /users/$m/posts '{"title": "hello", "body": "first post"}' 201 "\"user_id\":$m" '"username":"marshal"'
p1=$(id_of)
req POST /users/$m/posts '{"title": "again", "body": "second post"}' 201 '"title":"again"'
req POST /users/$m/posts '{"title": "no body"}' 400 "'body' is required"
req POST /users/$m/posts "{\"title\": \"$(printf '%0121d' 0)\", \"body\": \"b\"}" 400 'Post.title'
req POST /users/$m/posts '{"title": "t", "body": "b", "user_id": 2}' 400 "unknown field 'user_id'"
req POST /users/99/posts '{"title": "t", "body": "b"}' 404
req POST /users/$a/posts '{"title": "anne writes", "body": "b"}' 201 "\"user_id\":$a"
p3=$(id_of)
total /users/$m/posts 2
req GET /users/$m/posts "" 200 '"title":"hello"' '"title":"again"'
req GET /users/99/posts "" 404 'no user 99'
req GET /posts/$p1 "" 200 '"title":"hello"' "\"user\":{\"id\":$m,\"username\":\"marshal\"}"

# ---- pagination ----------------------------------------------------------------
n=3
while [ $n -le 25 ]; do
    req POST /users "{\"username\": \"user$n\", \"email\": \"user$n@example.org\"}" 201
    n=$((n + 1))
done
req GET '/users?page=2&per_page=10' "" 200 '"page":2' '"per_page":10' '"total":25' '"pages":3' \
    '"username":"user11"' '"username":"user20"'
[ "$(grep -o '"username"' "$tmp/body" | wc -l)" = 10 ] || fail "page 2 does not hold 10 users"
req GET '/users?page=3&per_page=10' "" 200 '"username":"user25"'
[ "$(grep -o '"username"' "$tmp/body" | wc -l)" = 5 ] || fail "page 3 does not hold 5 users"
req GET '/users?page=9' "" 200 '"items":[]'
req GET '/users?page=0' "" 400 "'page' must be a positive integer" '"field":"page"'
req GET '/users?page=x' "" 400 "'page'"
req GET '/users?per_page=101' "" 400 "'per_page'"
req GET '/users?per_page=-1' "" 400 "'per_page'"

# ---- routes and methods -----------------------------------------------------------
req DELETE /users "" 405 'allowed: GET, POST'
curl -s -o /dev/null -D "$tmp/headers" -X DELETE "$base/users"
grep -qi '^Allow: GET, POST' "$tmp/headers" || fail "405 without its Allow header"
req GET /nothing "" 404 'no such resource'
req GET /users/abc "" 404
req GET /users/0 "" 404
req GET /users/$m/posts/1 "" 404

# ---- concurrent requests: 40 new users, and 10 of one name ------------------------
curls=
# post N BODY FILE: N requests at once (%d in BODY is each one's number),
# their statuses into FILE
post() {
    i=0
    while [ $i -lt "$1" ]; do
        curl -s -o /dev/null -w '%{http_code}\n' -X POST --data-binary "$(echo "$2" | sed "s/%d/$i/g")" \
            "$base/users" >>"$3" &
        curls="$curls $!"
        i=$((i + 1))
    done
}
post 40 '{"username": "c%d", "email": "c%d@example.org"}' "$tmp/many"
post 10 '{"username": "same", "email": "same@example.org"}' "$tmp/same"
for j in $curls; do wait "$j" || true; done
[ "$(grep -c '^201$' "$tmp/many")" = 40 ] || fail "40 concurrent creations: $(sort "$tmp/many" | uniq -c)"
[ "$(grep -c '^201$' "$tmp/same")" = 1 ] && [ "$(grep -c '^409$' "$tmp/same")" = 9 ] ||
    fail "10 concurrent creations of one name: $(sort "$tmp/same" | uniq -c)"
total /users 66

# ---- delete: a user's posts go with it ------------------------------------------------
req DELETE /users/$m "" 204
req GET /users/$m "" 404
req GET /posts/$p1 "" 404
req GET /posts/$p3 "" 200 "\"user_id\":$a"
req DELETE /users/$m "" 404
req DELETE /posts/$p3 "" 204
total /users/$a/posts 0
total /users 65

# ---- stop -------------------------------------------------------------------------------
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ $status = 0 ] || { fail "webapp exited $status on SIGTERM"; cat "$tmp/err" >&2; }
grep -q "stopped" "$tmp/out" || fail "webapp did not say it stopped"
if [ $failures -ne 0 ]; then
    echo "webapp: $failures check(s) failed; server log:" >&2
    tail -20 "$tmp/err" >&2
    exit 1
fi
echo "webapp: every check passed on ${DATABASE_URL%%:*}"
