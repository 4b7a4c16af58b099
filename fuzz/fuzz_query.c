/*
 * fuzz_query.c — corm_filter_by names and values, and the expression
 * compiler fed expression trees built from the input (every comparison,
 * IN lists, LIKE, BETWEEN, NULL tests, AND/OR/NOT, EXISTS along a
 * relationship, nested), run against an in-memory SQLite database with
 * rows in it. Properties: every call returns CORM_OK or an error code
 * with a sentence; values are bound, never pasted (a value can never make
 * a statement fail to parse: CORM_ESQL would be a finding); the session
 * goes on afterwards.
 */
#include "fuzz.h"
#include <corm/corm.h>

#define CORM_DEFINE_MODELS

#define AUTHOR_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,    CORM_INTEGER,     CORM_PRIMARY_KEY)                           \
    COLUMN(name,  CORM_STRING(40),  CORM_NOT_NULL)                              \
    COLUMN(score, CORM_FLOAT,       0)                                          \
    COLUMN(born,  CORM_DATE,        0)                                          \
    COLUMN(paid,  CORM_NUMERIC(10, 2), 0)                                       \
    COLUMN(ok,    CORM_BOOLEAN,     0)                                          \
    RELATION(books, CORM_ONE_TO_MANY(Book, author))
CORM_MODEL(Author, "author", AUTHOR_FIELDS)

#define BOOK_FIELDS(COLUMN, RELATION)                                          \
    COLUMN(id,        CORM_INTEGER, CORM_PRIMARY_KEY)                           \
    COLUMN(title,     CORM_TEXT,    0)                                          \
    COLUMN(author_id, CORM_INTEGER, 0, CORM_FK(Author, id))                     \
    RELATION(author, CORM_MANY_TO_ONE(Author, author_id, books))
CORM_MODEL(Book, "book", BOOK_FIELDS)

static const corm_model *const models[] = { Author_model, Book_model, NULL };
static corm_engine *db;

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned byte(input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* A piece of the input as text (up to a 0 byte or 24 bytes), in buf. */
static const char *text(input *in, char *buf, size_t size)
{
    size_t k = 0;
    while (in->n && k + 1 < size && k < 24) {
        unsigned c = byte(in);
        if (!c)
            break;
        buf[k++] = (char)c;
    }
    buf[k] = '\0';
    return buf;
}

static const corm_column *column(input *in)
{
    const corm_column *cols[] = { Author_id, Author_name, Author_score, Author_born, Author_paid,
                                  Author_ok };
    return cols[byte(in) % 6];
}

static corm_value value(input *in, char *buf, size_t size)
{
    switch (byte(in) % 5) {
    case 0: return corm_v_int((int64_t)(int8_t)byte(in) * (int64_t)(byte(in) + 1));
    case 1: return corm_v_float((double)(int8_t)byte(in) / 4.0);
    case 2: return corm_v_text(text(in, buf, size));
    case 3: return corm_v_bool(byte(in) & 1);
    default: return corm_v_null(NULL);
    }
}

static corm_expr *tree(input *in, int depth)
{
    char a[32], b[32];
    unsigned op = byte(in) % (depth > 4 ? 9 : 13);
    const corm_column *c = column(in);
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 3: {
        corm_expr *lhs = CORM__E(c);
        if (byte(in) & 1) /* arithmetic on it, whatever the column's type */
            lhs = corm_arith_(lhs, (corm_arith)(1 + byte(in) % 4), value(in, b, sizeof b));
        return corm_cmp_(lhs, (corm_op)(1 + byte(in) % 6), value(in, a, sizeof a));
    }
    case 4: {
        corm_value v[4];
        char bufs[4][32];
        size_t n = byte(in) % 5;
        for (size_t i = 0; i < n; i++)
            v[i] = value(in, bufs[i], sizeof bufs[i]);
        return byte(in) & 1 ? corm_in_(CORM__E(c), v, n, false) : corm_in_(CORM__E(c), v, n, true);
    }
    case 5: return corm_like_(CORM__E(Author_name), text(in, a, sizeof a), byte(in) & 1);
    case 6: {
        corm_value lo = value(in, a, sizeof a), hi = value(in, b, sizeof b);
        return corm_between_(CORM__E(c), lo, hi);
    }
    case 7: return corm_null_test_(CORM__E(c), byte(in) & 1);
    case 8: return corm_any(Author_books, byte(in) & 1 ? NULL
                                          : corm_like_(CORM__E(Book_title), text(in, a, sizeof a), false));
    case 9: return corm_and(tree(in, depth + 1), tree(in, depth + 1));
    case 10: return corm_or(tree(in, depth + 1), tree(in, depth + 1));
    case 11: return corm_not(tree(in, depth + 1));
    default: return corm_and(tree(in, depth + 1), corm_or(tree(in, depth + 1), tree(in, depth + 1)));
    }
}

static void setup(void)
{
    if (db)
        return;
    if (corm_engine_open(&db, "sqlite://", models) != CORM_OK || corm_create_all(db) != CORM_OK)
        abort();
    corm_session *s = corm_session_new(db);
    const char *names[] = { "ann", "bob", "50%", "o'brien", "", "x_y" };
    for (int i = 0; i < 6; i++) {
        Author *a = corm_new(s, Author);
        a->name = (char *)names[i];
        a->score = i * 1.5;
        corm_add(s, a);
        Book *bk = corm_new(s, Book);
        bk->title = (char *)names[5 - i];
        corm_rel_add(s, a, Author_books, bk);
    }
    if (corm_commit(s) != CORM_OK)
        abort();
    corm_session_free(s);
}

/* An error must be one a query may give, with its sentence; never ESQL
 * (the SQL corm wrote did not parse). */
static void checked(corm_session *s, int rc)
{
    FUZZ_CHECK(rc <= 0);
    if (rc < 0) {
        FUZZ_CHECK(rc != CORM_ESQL);
        FUZZ_CHECK(*corm_errmsg(s));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    input in = { data, size };
    corm_session *s = corm_session_new(db);
    /* filter_by: a name and a value from the input */
    char name[32], v[32];
    corm_query *q = corm_query_new(s, Author);
    text(&in, name, sizeof name);
    corm_value val = value(&in, v, sizeof v);
    int rc = corm_filter_by_(q, name, val);
    Author **out;
    size_t n;
    if (rc == CORM_OK)
        checked(s, corm_all(q, &out, &n));
    else
        FUZZ_CHECK(rc == CORM_ENOCOLUMN || rc == CORM_EINVAL || rc == CORM_ETYPE);
    /* a tree */
    q = corm_query_new(s, Author);
    corm_filter(q, tree(&in, 0));
    if (byte(&in) & 1)
        corm_order_by(q, corm_desc(column(&in)));
    checked(s, corm_all(q, &out, &n));
    int64_t count;
    checked(s, corm_count(q, &count));
    if (corm_count(q, &count) == CORM_OK)
        FUZZ_CHECK(count >= 0 && count <= 6);
    /* and the session goes on */
    Author *a;
    FUZZ_CHECK(corm_get(s, Author, 1, &a) == CORM_OK && a);
    corm_session_free(s);
    return 0;
}
