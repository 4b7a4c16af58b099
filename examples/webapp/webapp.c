/*
 * webapp.c — a JSON API over HTTP on corm: the Flask application of the
 * reference text, in C. libmicrohttpd serves the requests on a pool of
 * threads; api.c answers each with a session of its own.
 *
 *     ./webapp db upgrade        the schema, from migrations/<backend>/
 *     ./webapp                   serve on http://127.0.0.1:$PORT/ (5000)
 *
 * DATABASE_URL names the database (sqlite:///webapp.db when unset), PORT
 * the port (0: any free one; the line "listening on ..." says which),
 * WEBAPP_THREADS the pool's size (4). SIGINT or SIGTERM stops it: requests
 * in flight finish, then the engine is closed.
 *
 * The `db` commands are corm's (corm_cli_main) with this program's models;
 * unless --dir is given they use migrations/<backend> under the working
 * directory, since a revision's SQL is written for one database.
 */
#define CORM_DEFINE_MODELS
#include "webapp.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const corm_model *const models[] = { User_model, Post_model, NULL };

#define MAX_BODY (64 * 1024)

/* A request being received: its body, as the server hands it over. */
typedef struct upload {
    char *data;
    size_t len, cap;
    bool too_big;
} upload;

static const char *query_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const reply *r)
{
    char *text = r->body ? json_dumps(r->body, JSON_COMPACT) : NULL;
    struct MHD_Response *resp = text
        ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
        : MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* libmicrohttpd calls this first with *state NULL (the headers), then once
 * per piece of the body, then with no data left: the time to answer. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *data_size, void **state)
{
    (void)version;
    upload *up = *state;
    if (!up) {
        if (!(up = calloc(1, sizeof *up)))
            return MHD_NO;
        *state = up;
        return MHD_YES;
    }
    if (*data_size) {
        size_t n = *data_size;
        *data_size = 0;
        if (up->too_big || up->len + n > MAX_BODY) {
            up->too_big = true;
            return MHD_YES;
        }
        if (up->len + n > up->cap) {
            size_t cap = up->cap ? up->cap * 2 : 1024;
            while (cap < up->len + n)
                cap *= 2;
            char *p = realloc(up->data, cap);
            if (!p)
                return MHD_NO;
            up->data = p, up->cap = cap;
        }
        memcpy(up->data + up->len, data, n);
        up->len += n;
        return MHD_YES;
    }
    reply r = { 0 };
    if (up->too_big) {
        r.status = MHD_HTTP_CONTENT_TOO_LARGE;
        r.body = json_pack("{s:s}", "error", "the body is larger than 64 KiB");
    } else {
        request req = { url, up->data, up->len, query_arg, c };
        api_handle(cls, method, &req, &r);
    }
    if (!r.status) { /* out of memory building the reply */
        json_decref(r.body);
        return MHD_NO;
    }
    fprintf(stderr, "%s %s %d\n", method, url, r.status);
    enum MHD_Result ok = send_reply(c, &r);
    json_decref(r.body);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    upload *up = *state;
    if (up) {
        free(up->data);
        free(up);
    }
    *state = NULL;
}

/* `./webapp db ...`: corm's commands, in migrations/<backend> unless --dir. */
static int db_command(int argc, char **argv)
{
    const char *url = getenv("DATABASE_URL");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0)
            return corm_cli_main(argc, argv, models);
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[i + 1];
    }
    const char *dir = "migrations/sqlite";
    if (url && (strncmp(url, "postgres", 8) == 0))
        dir = "migrations/postgresql";
    else if (url && (strncmp(url, "mysql", 5) == 0 || strncmp(url, "mariadb", 7) == 0))
        dir = "migrations/mysql";
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return 1;
    memcpy(args, argv, (size_t)argc * sizeof *args);
    args[argc] = "--dir";
    args[argc + 1] = (char *)dir;
    int status = corm_cli_main(argc + 2, args, models);
    free(args);
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "db") == 0)
        return db_command(argc, argv);
    if (argc > 1) {
        fprintf(stderr, "usage: %s [db COMMAND ...]\n"
                "  serves the API on 127.0.0.1:$PORT (default 5000) with the database\n"
                "  $DATABASE_URL (default sqlite:///webapp.db); %s db --help for the\n"
                "  migration commands\n", argv[0], argv[0]);
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    const char *url = getenv("DATABASE_URL"), *port_s = getenv("PORT");
    const char *threads_s = getenv("WEBAPP_THREADS");
    if (!url)
        url = "sqlite:///webapp.db";
    int port = port_s ? atoi(port_s) : 5000, threads = threads_s ? atoi(threads_s) : 4;
    if (port < 0 || port > 65535 || threads < 1 || threads > 256) {
        fprintf(stderr, "webapp: PORT must be 0-65535 and WEBAPP_THREADS 1-256\n");
        return 2;
    }

    corm_engine *db;
    if (corm_engine_open(&db, url, models) != CORM_OK) {
        fprintf(stderr, "webapp: %s\n", corm_engine_errmsg(db));
        corm_engine_close(db);
        return 1;
    }
    /* Serve only a database at the models' schema: one a migration is
     * missing from would fail request by request instead. */
    corm_schema_diff *diff = NULL;
    int rc = corm_check_schema(db, &diff);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "webapp: %s\n", corm_engine_errmsg(db));
        for (size_t i = 0; i < corm_schema_diff_count(diff); i++)
            fprintf(stderr, "webapp: %s\n", corm_schema_diff_line(diff, i));
        if (rc > 0)
            fprintf(stderr, "webapp: the database does not match the models: run '%s db "
                    "upgrade'\n", argv[0]);
        corm_schema_diff_free(diff);
        corm_engine_close(db);
        return 1;
    }
    corm_schema_diff_free(diff);

    /* The signals wait for the main thread: the server's threads, started
     * after this, inherit the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
        on_request, db, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "webapp: cannot listen on 127.0.0.1:%d\n", port);
        corm_engine_close(db);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("webapp: listening on http://127.0.0.1:%u/ (%d threads)\n",
           info ? info->port : (unsigned)port, threads);
    fflush(stdout);

    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    corm_engine_close(db);
    printf("webapp: stopped\n");
    return 0;
}
