#!/bin/sh
# inspect.sh CC SQL_EXEC CORM BLOG LIBCORM SOURCE_DIR [CFLAGS] — `db inspect`
# round trip on DATABASE_URL (the server backends' db scripts set it; else a
# SQLite file of its own): a database holding the blog example's tables
# (made by corm) and tables written by hand in SQL (tests/inspect/<backend>.sql:
# odd names, types corm does not write, defaults, checks, keys); `corm db
# inspect` writes a header; a program
# (tests/inspect/main.c) compiles with it under -Wall -Wextra -Werror, `db
# check` through it reports no difference, every row loads, and the
# hand-written tables are written and read through the generated names.
# Then keyless.sql: a table with a composite key, which becomes a model,
# and one without a key, which inspect leaves out, saying so, and check
# then names alone.
set -eu
cc=$1 sql_exec=$2 tool=$3 blog=$4 lib=$5 src=$6 cflags=${7:-}
tmp=$(mktemp -d /tmp/corm-inspect-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
: "${DATABASE_URL:=sqlite:///$tmp/db.sqlite}"
export DATABASE_URL
case "$DATABASE_URL" in
    postgres*) backend=postgresql ;;
    mysql* | mariadb*) backend=mysql ;;
    *) backend=sqlite ;;
esac
fail() { echo "FAIL: $*" >&2; exit 1; }

"$blog" >/dev/null || fail "the blog example did not run"
"$sql_exec" "$DATABASE_URL" "$src/tests/inspect/$backend.sql" || fail "the hand-written tables"

"$tool" db inspect -o "$tmp/models.h" 2>"$tmp/notes" || { cat "$tmp/notes"; fail "db inspect"; }
grep -q "left out" "$tmp/notes" && fail "tables left out: $(cat "$tmp/notes")"
grep -qx "wrote 8 models to $tmp/models.h" "$tmp/notes" || fail "inspect said: $(cat "$tmp/notes")"
for decl in 'RELATION(tags, CORM_MANY_TO_MANY(Tag, PostTag, posts))' \
            'RELATION(posts, CORM_ONE_TO_MANY(Post, user))' \
            'CORM_NAME("E-mail")' 'CORM_NAME("2fa")' 'CORM_MODEL(CustomerAccounts, "Customer Accounts"' \
            'CORM_MODEL(OrderLine, "order line"' 'CORM_UNIQUE_TOGETHER("account", "placed_at")' \
            'CORM_ON_DELETE(CORM_FK_CASCADE)' \
            'RELATION(orders, CORM_ONE_TO_MANY(Orders, customer_accounts))' \
            'RELATION(order_lines, CORM_ONE_TO_MANY(OrderLine, order))'; do
    grep -qF "$decl" "$tmp/models.h" || { cat "$tmp/models.h"; fail "no '$decl' in the header"; }
done

libs=$(pkg-config --libs sqlite3 libpq libmariadb)
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $cflags -I"$tmp" -I"$src/include" "$src/tests/inspect/main.c" \
    "$lib" $libs -lpthread -lm -o "$tmp/prog" 2>"$tmp/cc.log" || { cat "$tmp/cc.log" "$tmp/models.h"; fail "the header does not compile"; }

"$tmp/prog" db check >"$tmp/check" 2>&1 || { cat "$tmp/check" "$tmp/models.h"; fail "db check found differences"; }
grep -q "the models match the database" "$tmp/check" || fail "db check said: $(cat "$tmp/check")"

"$tmp/prog" "$DATABASE_URL" >"$tmp/rows" 2>&1 || { cat "$tmp/rows"; fail "loading every row"; }
for line in "Customer Accounts: 2 rows" "orders: 3 rows" "order line: 2 rows" "tag: 2 rows"; do
    grep -qxF "$line" "$tmp/rows" || fail "no '$line' in: $(cat "$tmp/rows")"
done
"$tmp/prog" "$DATABASE_URL" write || fail "writing through the inspected models"
"$tmp/prog" db check >/dev/null 2>&1 || fail "db check after the writes"
# a table with a composite key (a model now), and one without a key (none)
"$sql_exec" "$DATABASE_URL" "$src/tests/inspect/keyless.sql" || fail "the tables without a key"
"$tool" db inspect -o "$tmp/models.h" 2>"$tmp/notes" || fail "db inspect (again)"
line='table "audit_log" is left out: it has no primary key'
grep -qF "$line" "$tmp/notes" || fail "no note '$line' in: $(cat "$tmp/notes")"
grep -qF 'Table "audit_log" is left out' "$tmp/models.h" || fail "no comment on audit_log in the header"
grep -q 'account_link' "$tmp/notes" && fail "account_link (a composite key) left out: $(cat "$tmp/notes")"
for decl in 'CORM_MODEL(AccountLink, "account_link"' 'COLUMN(a, CORM_INTEGER, CORM_PRIMARY_KEY' \
            'COLUMN(b, CORM_INTEGER, CORM_PRIMARY_KEY'; do
    grep -qF "$decl" "$tmp/models.h" || { cat "$tmp/models.h"; fail "no '$decl' in the header"; }
done
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $cflags -I"$tmp" -I"$src/include" "$src/tests/inspect/main.c" \
    "$lib" $libs -lpthread -lm -o "$tmp/prog" 2>"$tmp/cc.log" || { cat "$tmp/cc.log"; fail "the header does not compile (again)"; }
"$tmp/prog" "$DATABASE_URL" >"$tmp/rows" 2>&1 || { cat "$tmp/rows"; fail "loading every row (again)"; }
grep -qxF "account_link: 0 rows" "$tmp/rows" || fail "no account_link rows line in: $(cat "$tmp/rows")"
status=0
"$tmp/prog" db check >"$tmp/check" 2>&1 || status=$?
[ $status = 1 ] || fail "db check exited $status with a table outside the models"
[ "$(grep -c 'in the database, not in the model' "$tmp/check")" = 1 ] &&
    grep -q '^table audit_log: in the database, not in the model$' "$tmp/check" ||
    fail "db check said: $(cat "$tmp/check")"
echo "inspect: round trip on $backend ($(grep -c '^CORM_MODEL' "$tmp/models.h") models)"
