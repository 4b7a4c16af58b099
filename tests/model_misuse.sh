#!/bin/sh
# model_misuse.sh CC INCLUDE_DIR — a model block written wrong fails to
# compile with one error, the sentence of model.h's _Static_assert that
# names the model, the field and the fix, not a screen of macro-expansion
# errors; and a model written right (flags in parentheses, options after
# them, every relationship kind) compiles without a warning.
set -eu
cc=$1 inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# compile NAME FIELDS...: a file defining model U (with the model P that its
# relationships point at) from the COLUMN/RELATION entries given
compile() {
    name=$1
    shift
    cat > "$tmp/$name.c" <<EOF
#include <corm/corm.h>
#define CORM_DEFINE_MODELS
#define PF(COLUMN, RELATION) COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY) \\
    COLUMN(u_id, CORM_INTEGER, 0)
CORM_MODEL(P, "p", PF)
#define UF(COLUMN, RELATION) COLUMN(id, CORM_INTEGER, CORM_PRIMARY_KEY) $*
CORM_MODEL(U, "u", UF)
EOF
    "$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" -c "$tmp/$name.c" -o "$tmp/$name.o" \
        > "$tmp/$name.log" 2>&1
}

# wrong NAME SENTENCE FIELDS...: compiling fails with exactly one error, the
# assertion whose sentence contains SENTENCE
wrong() {
    name=$1 sentence=$2
    shift 2
    if compile "$name" "$@"; then
        echo "FAIL $name: compiled"
        fails=$((fails + 1))
        return
    fi
    errors=$(grep -c 'error:' "$tmp/$name.log" || true)
    # gcc: static assertion failed: "..."; clang: static_assert failed "..."
    if ! grep 'assert.* failed' "$tmp/$name.log" | grep -qF "\"corm: model U, $sentence"; then
        echo "FAIL $name: no sentence 'corm: model U, $sentence'"
        head -5 "$tmp/$name.log"
        fails=$((fails + 1))
    elif [ "$errors" -ne 1 ]; then
        echo "FAIL $name: $errors errors, not one"
        grep error "$tmp/$name.log" | head -5
        fails=$((fails + 1))
    else
        echo "ok   $name: $(grep -o 'corm: model U[^"]*' "$tmp/$name.log" | cut -c1-90)..."
    fi
}

wrong type_without_prefix "column age: INTEGER is not a column type" \
    'COLUMN(age, INTEGER, 0)'
wrong type_misspelled "column age: CORM_INTEGR is not a column type" \
    'COLUMN(age, CORM_INTEGR, 0)'
wrong type_without_length "column name: CORM_STRING is not a column type" \
    'COLUMN(name, CORM_STRING, CORM_NOT_NULL)'
wrong flags_missing "column age: FLAGS are missing" \
    'COLUMN(age, CORM_INTEGER)'
wrong flags_unknown_bit "column age: FLAGS 1 << 9 has a bit that is not a column flag" \
    'COLUMN(age, CORM_INTEGER, 1 << 9)'
wrong relation_kind_without_prefix "relation ps: ONE_TO_MANY(P, u) is not a relationship kind" \
    'RELATION(ps, ONE_TO_MANY(P, u))'
wrong relation_kind_misspelled "relation ps: CORM_ONE_TO_MANNY(P, u) is not a relationship kind" \
    'RELATION(ps, CORM_ONE_TO_MANNY(P, u))'

# the same checks do not get in the way of a model written right
if compile right 'COLUMN(age, CORM_INTEGER, (CORM_NOT_NULL | CORM_INDEX), CORM_DEFAULT("18"))' \
        'COLUMN(name, CORM_STRING(40), CORM_UNIQUE | CORM_NOT_NULL)' \
        'COLUMN(v, CORM_INTEGER, CORM_VERSION)' \
        'COLUMN(p_id, CORM_INTEGER, 0, CORM_FK(P, id))' \
        'RELATION(p, CORM_MANY_TO_ONE(P, p_id, ))'; then
    echo "ok   right: compiles with -Wall -Wextra -Werror"
else
    echo "FAIL right: a correct model did not compile"
    head -20 "$tmp/right.log"
    fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
