/*
 * quickstart.c — the seed's scenario in corm: a User model, create_all,
 * add "marshal", commit, filter_by username, print it.
 *
 *     make demo            (or: ./build/quickstart [database-url])
 */
#define CORM_DEFINE_MODELS
#include <corm/corm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_FIELDS(COLUMN, RELATION)                                 \
    COLUMN(id,       CORM_INTEGER,     CORM_PRIMARY_KEY)              \
    COLUMN(username, CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)   \
    COLUMN(email,    CORM_STRING(120), CORM_UNIQUE | CORM_NOT_NULL)
CORM_MODEL(User, "user", USER_FIELDS)

static const corm_model *const models[] = { User_model, NULL };

static void echo(void *ud, const char *sql)
{
    (void)ud;
    printf("  SQL> %s\n", sql);
}

int main(int argc, char **argv)
{
    /* `./quickstart db migrate -m "..."`: the migration commands, with these models */
    if (argc > 1 && strcmp(argv[1], "db") == 0)
        return corm_cli_main(argc, argv, models);
    const char *url = argc > 1 ? argv[1] : getenv("DATABASE_URL");
    if (!url)
        url = "sqlite:///users.db";

    corm_engine *db;
    if (corm_engine_open(&db, url, models) != CORM_OK) {
        fprintf(stderr, "cannot open %s: %s\n", url, corm_engine_errmsg(db));
        corm_engine_close(db);
        return 1;
    }
    corm_engine_set_echo(db, echo, NULL);
    printf("db.create_all()\n");
    if (corm_create_all(db) != CORM_OK) {
        fprintf(stderr, "create_all: %s\n", corm_engine_errmsg(db));
        corm_engine_close(db);
        return 1;
    }

    corm_session *s = corm_session_new(db);
    int rc = CORM_OK;

    /* new_user = User(username="marshal", email="marshal@example.com") */
    User *found = NULL;
    corm_query *q = corm_query_new(s, User);
    corm_filter_by(q, "username", "marshal");
    rc = corm_first(q, &found);
    if (rc == CORM_OK && !found) {
        printf("db.session.add(User(username='marshal')); db.session.commit()\n");
        User *u = corm_new(s, User);
        u->username = "marshal";
        u->email = "marshal@example.com";
        corm_add(s, u);
        rc = corm_commit(s);
        if (rc == CORM_OK)
            printf("committed: marshal got id %lld\n", (long long)u->id);
    } else if (rc == CORM_OK) {
        printf("marshal is already in %s (id %lld)\n", url, (long long)found->id);
    }

    /* users = User.query.filter_by(username="marshal").all() */
    if (rc == CORM_OK) {
        printf("User.query.filter_by(username='marshal').all()\n");
        User **users;
        size_t n;
        q = corm_query_new(s, User);
        corm_filter_by(q, "username", "marshal");
        rc = corm_all(q, &users, &n);
        for (size_t i = 0; rc == CORM_OK && i < n; i++) {
            char buf[256];
            printf("  %s\n", corm_repr(users[i], buf, sizeof buf));
        }
    }
    if (rc != CORM_OK)
        fprintf(stderr, "error %s: %s\n", corm_err_name(rc), corm_errmsg(s));
    corm_session_free(s);
    corm_engine_close(db);
    return rc == CORM_OK ? 0 : 1;
}
