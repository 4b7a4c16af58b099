/*
 * main.c — a program built on the header `db inspect` wrote (tests/inspect.sh
 * compiles it with -Werror against the models of the blog example and of
 * the hand-written tables of <backend>.sql):
 *
 *     prog db check ...     corm's commands with the inspected models
 *     prog URL              every row of every model loaded, a line a table
 *     prog URL write        the hand-written tables used through the names
 *                           inspect gave them: insert, filter, relationships
 */
#define CORM_DEFINE_MODELS
#include "models.h"

#include <stdio.h>
#include <string.h>

static const corm_model *const models[] = { CORM_INSPECTED_MODELS, NULL };

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #c,      \
                    corm_errmsg(s));                                               \
            return 1;                                                              \
        }                                                                          \
    } while (0)

static int load_all(corm_session *s)
{
    for (const corm_model *const *m = models; *m; m++) {
        corm_query *q = corm_query_new_(s, *m);
        void **rows;
        size_t n;
        CHECK(q && corm_all(q, &rows, &n) == CORM_OK);
        printf("%s: %zu rows\n", (*m)->table, n);
    }
    return 0;
}

/* The hand-written tables through their generated names. */
static int write(corm_session *s)
{
    CustomerAccounts *a = corm_new(s, CustomerAccounts);
    CHECK(a);
    a->E_mail = "cy@example.org";
    a->select = "chosen";
    a->c_2fa = true;
    CHECK(corm_numeric_parse("7.25", &a->balance) == CORM_OK);
    CHECK(corm_add(s, a) == CORM_OK);
    Orders *o = corm_new(s, Orders);
    o->customer_accounts = a;
    CHECK(corm_add(s, o) == CORM_OK);
    CHECK(corm_commit(s) == CORM_OK);
    CHECK(a->Account_ID > 0 && o->account == a->Account_ID);
    CHECK(strcmp(o->status, "new") == 0); /* the server default, read back */

    corm_query *q = corm_query_new(s, CustomerAccounts);
    CustomerAccounts *ann;
    CHECK(corm_filter(q, corm_eq(CustomerAccounts_E_mail, "ann@example.org")) == CORM_OK);
    CHECK(corm_one(q, &ann) == CORM_OK);
    corm_numeric want;
    CHECK(corm_numeric_parse("12.50", &want) == CORM_OK && corm_numeric_cmp(&ann->balance, &want) == 0);
    CHECK(ann->opened.year == 2024 && ann->opened.month == 2 && ann->opened.day == 29);
    CHECK(corm_load(s, ann, CustomerAccounts_orders) == CORM_OK && ann->orders.n == 2);
    Orders *first = ann->orders.items[0]->id < ann->orders.items[1]->id ? ann->orders.items[0]
                                                                         : ann->orders.items[1];
    CHECK(corm_load(s, first, Orders_order_lines) == CORM_OK && first->order_lines.n == 2);
    CHECK(first->order_lines.items[0]->order == first);
    printf("wrote and read through the inspected names\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "db") == 0)
        return corm_cli_main(argc, argv, models);
    corm_engine *e;
    if (argc < 2 || corm_engine_open(&e, argv[1], models) != CORM_OK) {
        fprintf(stderr, "cannot open the database: %s\n", argc < 2 ? "no URL" : corm_engine_errmsg(e));
        return 1;
    }
    corm_session *s = corm_session_new(e);
    int status = argc > 2 && strcmp(argv[2], "write") == 0 ? write(s) : load_all(s);
    corm_session_free(s);
    corm_engine_close(e);
    return status;
}
