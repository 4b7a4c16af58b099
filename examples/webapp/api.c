/*
 * api.c — the JSON API's handlers: what a Flask application's view
 * functions are, written against corm.
 *
 *   GET    /users?page=&per_page=     a page of users (Flask-SQLAlchemy's paginate)
 *   POST   /users                     {"username", "email"}: 201, 400, 409
 *   GET    /users/ID                  200, 404
 *   PUT    /users/ID                  every field; PATCH: some of them
 *   DELETE /users/ID                  204 (the user's posts go with it)
 *   GET    /users/ID/posts            a page of the user's posts
 *   POST   /users/ID/posts            {"title", "body"}: 201
 *   GET    /posts/ID                  a post with its author
 *   DELETE /posts/ID                  204
 *
 * Each request gets a session of its own (api_handle opens it and frees it);
 * every write is a unit of work run by corm_run_in_transaction, so a busy
 * database is retried and a refused write leaves nothing behind. The
 * request body is checked here for what only the API knows — JSON, the
 * object's shape, unknown fields, types, required fields — and by corm for
 * what the models say — NOT NULL, lengths, uniqueness — whose sentence,
 * naming the model, column and value, is the 400 or 409's message.
 */
#include "webapp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- replies -------------------------------------------------------- */

static void reply_json(reply *r, int status, json_t *body)
{
    r->status = status;
    r->body = body;
}

/* {"error": sentence[, "field": name]} with status. */
static void fail(reply *r, int status, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s}", "error", msg);
    if (j && field)
        json_object_set_new(j, "field", json_string(field));
    reply_json(r, status, j);
}

/* A corm error as HTTP: what the models refuse is the client's (400), a
 * busy database after the retries 503, anything else the server's (500,
 * the sentence logged, not sent). A duplicate is run_write's (409). */
static void fail_corm(reply *r, corm_session *s, int rc)
{
    switch (rc) {
    case CORM_ENOTNULL: case CORM_ETOOLONG: case CORM_ERANGE: case CORM_EDATE:
    case CORM_EJSON: case CORM_EENUM: case CORM_ETYPE: case CORM_ECHECK:
        fail(r, 400, NULL, "%s", corm_errmsg(s));
        return;
    case CORM_EBUSY: case CORM_ECONNECT: case CORM_ECONNLOST:
        fail(r, 503, NULL, "the database is busy; try again");
        return;
    default:
        fprintf(stderr, "webapp: %s (%s)\n", corm_errmsg(s), corm_err_name(rc));
        fail(r, 500, NULL, "internal error");
    }
}

/* ---- objects as JSON ------------------------------------------------ */

static json_t *datetime_json(corm_datetime dt)
{
    char buf[CORM_DATETIME_BUFSIZE];
    return json_string(corm_datetime_format(dt, buf));
}

static json_t *user_json(const User *u)
{
    return json_pack("{s:I,s:s,s:s,s:o}", "id", (json_int_t)u->id, "username", u->username,
                     "email", u->email, "created_at", datetime_json(u->created_at));
}

static json_t *post_json(const Post *p)
{
    json_t *j = json_pack("{s:I,s:s,s:s,s:I,s:o}", "id", (json_int_t)p->id, "title", p->title,
                          "body", p->body, "user_id", (json_int_t)p->user_id, "created_at",
                          datetime_json(p->created_at));
    if (j && p->user)
        json_object_set_new(j, "user", json_pack("{s:I,s:s}", "id", (json_int_t)p->user->id,
                                                 "username", p->user->username));
    return j;
}

/* {"items": [...], "page", "per_page", "total", "pages"} */
static json_t *page_json(const corm_page *pg, json_t *(*item)(const void *))
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < pg->n; i++)
        json_array_append_new(items, item(pg->items[i]));
    return json_pack("{s:o,s:I,s:I,s:I,s:I}", "items", items, "page", (json_int_t)pg->page,
                     "per_page", (json_int_t)pg->per_page, "total", (json_int_t)pg->total,
                     "pages", (json_int_t)pg->pages);
}

static json_t *any_user_json(const void *u) { return user_json(u); }
static json_t *any_post_json(const void *p) { return post_json(p); }

/* ---- request bodies ------------------------------------------------- */

/* A writable field of a model: its JSON name and its column. */
typedef struct field {
    const char *name;
    const corm_column *col;
} field;

static const field user_fields[] = { { "username", User_username }, { "email", User_email }, { 0 } };
static const field post_fields[] = { { "title", Post_title }, { "body", Post_body }, { 0 } };

/* The body as a JSON object of the model's string fields: NULL (and r
 * filled) for malformed JSON, another shape, an unknown field, a value that
 * is not a string or is empty, or (all set) a field missing. */
static json_t *read_body(reply *r, const request *req, const field *fields, bool all)
{
    json_error_t err;
    json_t *j = json_loadb(req->body ? req->body : "", req->len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        fail(r, 400, NULL, "malformed JSON at line %d, column %d: %s", err.line, err.column,
             err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        fail(r, 400, NULL, "the body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        const field *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            fail(r, 400, key, "unknown field '%s'", key);
            json_decref(j);
            return NULL;
        }
        if (!json_is_string(v)) {
            fail(r, 400, key, "'%s' must be a string", key);
            json_decref(j);
            return NULL;
        }
        if (json_string_length(v) == 0) {
            fail(r, 400, key, "'%s' must not be empty", key);
            json_decref(j);
            return NULL;
        }
    }
    for (const field *f = fields; all && f->name; f++)
        if (!json_object_get(j, f->name)) {
            fail(r, 400, f->name, "'%s' is required", f->name);
            json_decref(j);
            return NULL;
        }
    return j;
}

/* Copy the body's fields into obj's string fields (copies the session owns). */
static int assign(corm_session *s, void *obj, const field *fields, json_t *body)
{
    for (const field *f = fields; f->name; f++) {
        json_t *v = json_object_get(body, f->name);
        if (!v)
            continue;
        char *copy = corm_strdup(s, json_string_value(v));
        if (!copy)
            return CORM_ENOMEM;
        *(const char **)((char *)obj + f->col->offset) = copy;
    }
    return CORM_OK;
}

/* ---- arguments ------------------------------------------------------- */

/* A positive integer from text: the whole text, nothing else. */
static bool positive(const char *text, int64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < 1)
        return false;
    *out = v;
    return true;
}

/* ?page= and ?per_page= (1 and 20 when absent; per_page at most 100). */
static bool page_args(reply *r, const request *req, int64_t *page, int64_t *per)
{
    const char *p = req->arg(req->ctx, "page"), *pp = req->arg(req->ctx, "per_page");
    *page = 1;
    *per = 20;
    if (p && !positive(p, page)) {
        fail(r, 400, "page", "'page' must be a positive integer, not '%s'", p);
        return false;
    }
    if (pp && (!positive(pp, per) || *per > 100)) {
        fail(r, 400, "per_page", "'per_page' must be an integer from 1 to 100, not '%s'", pp);
        return false;
    }
    return true;
}

/* ---- writes: units of work for corm_run_in_transaction ---------------- */

typedef struct unit {
    int64_t id;       /* the user or post the request names */
    json_t *body;     /* the validated request body */
    const field *fields; /* its fields */
    bool missing;     /* the named row does not exist */
    void *obj;        /* what was written, for the reply */
} unit;

static int create_user(corm_session *s, void *ud)
{
    unit *w = ud;
    User *u = corm_new(s, User);
    if (!u)
        return CORM_ENOMEM;
    w->obj = u;
    int rc = assign(s, u, w->fields, w->body);
    return rc ? rc : corm_add(s, u);
}

/* The row of model m the request names, into *out: CORM_ENOTFOUND (and
 * w->missing) when there is none. */
static int named(corm_session *s, const corm_model *m, unit *w, void **out)
{
    int rc = corm_get_(s, m, corm_v_int(w->id), out);
    if (rc == CORM_OK && !*out)
        w->missing = true, rc = CORM_ENOTFOUND;
    return rc;
}

static int update_user(corm_session *s, void *ud)
{
    unit *w = ud;
    int rc = named(s, User_model, w, &w->obj);
    return rc ? rc : assign(s, w->obj, w->fields, w->body);
}

static int delete_user(corm_session *s, void *ud)
{
    void *u;
    int rc = named(s, User_model, ud, &u);
    return rc ? rc : corm_delete(s, u);
}

static int create_post(corm_session *s, void *ud)
{
    unit *w = ud;
    void *u;
    int rc = named(s, User_model, w, &u);
    if (rc)
        return rc;
    Post *p = corm_new(s, Post);
    if (!p)
        return CORM_ENOMEM;
    p->user = u; /* the key follows at flush */
    w->obj = p;
    rc = assign(s, p, w->fields, w->body);
    return rc ? rc : corm_add(s, p);
}

static int delete_post(corm_session *s, void *ud)
{
    void *p;
    int rc = named(s, Post_model, ud, &p);
    return rc ? rc : corm_delete(s, p);
}

/* Run a write: 404 when the named row is missing, the corm error as HTTP,
 * else status with the object written (made by json), or no body. */
static void run_write(reply *r, corm_session *s, corm_unit_fn fn, unit *w, int status,
                  json_t *(*json)(const void *))
{
    int rc = corm_run_in_transaction(s, fn, w, 5);
    if (w->missing) {
        fail(r, 404, NULL, "no such row: %lld", (long long)w->id);
    } else if (rc == CORM_EUNIQUE) {
        /* the body's value of a unique column is another row's */
        const field *f = w->fields;
        while (f && f->name && !((f->col->flags & CORM_UNIQUE) && json_object_get(w->body, f->name)))
            f++;
        fprintf(stderr, "webapp: %s\n", corm_errmsg(s));
        if (f && f->name)
            fail(r, 409, f->name, "%s '%s' is already taken", f->name,
                 json_string_value(json_object_get(w->body, f->name)));
        else
            fail(r, 409, NULL, "the request conflicts with an existing row");
    } else if (rc != CORM_OK) {
        fail_corm(r, s, rc);
    } else {
        reply_json(r, status, json ? json(w->obj) : NULL);
    }
}

/* ---- reads ------------------------------------------------------------- */

static void list(reply *r, corm_session *s, const request *req, corm_query *q,
                 json_t *(*item)(const void *))
{
    int64_t page, per;
    corm_page pg;
    int rc;
    if (!page_args(r, req, &page, &per))
        return;
    if (!q)
        rc = CORM_ENOMEM;
    else
        rc = corm_paginate(q, page, per, &pg);
    if (rc == CORM_OK)
        reply_json(r, 200, page_json(&pg, item));
    else
        fail_corm(r, s, rc);
}

static void get_user(reply *r, corm_session *s, int64_t id)
{
    User *u;
    int rc = corm_get(s, User, id, &u);
    if (rc != CORM_OK)
        fail_corm(r, s, rc);
    else if (!u)
        fail(r, 404, NULL, "no user %lld", (long long)id);
    else
        reply_json(r, 200, user_json(u));
}

static void get_post(reply *r, corm_session *s, int64_t id)
{
    Post *p;
    int rc = corm_get(s, Post, id, &p);
    if (rc == CORM_OK && p)
        rc = corm_load(s, p, Post_user);
    if (rc != CORM_OK)
        fail_corm(r, s, rc);
    else if (!p)
        fail(r, 404, NULL, "no post %lld", (long long)id);
    else
        reply_json(r, 200, post_json(p));
}

static void user_posts(reply *r, corm_session *s, const request *req, int64_t id)
{
    User *u;
    int rc = corm_get(s, User, id, &u);
    if (rc != CORM_OK) {
        fail_corm(r, s, rc);
        return;
    }
    if (!u) {
        fail(r, 404, NULL, "no user %lld", (long long)id);
        return;
    }
    corm_query *q = corm_query_new(s, Post);
    if (q && (corm_filter(q, corm_eq(Post_user_id, id)) || corm_order_by(q, Post_id)))
        fail_corm(r, s, corm_errcode(s));
    else
        list(r, s, req, q, any_post_json);
}

/* ---- routing ----------------------------------------------------------- */

/* The methods a path allows, for 405's Allow header. */
static void not_allowed(reply *r, const char *allow)
{
    r->allow = allow;
    fail(r, 405, NULL, "method not allowed; allowed: %s", allow);
}

static bool is(const char *method, const char *m) { return strcmp(method, m) == 0; }

/* The path's segments: "/users/7/posts" is users, 7, posts. */
static int split(const char *path, char seg[3][32])
{
    int n = 0;
    while (*path == '/')
        path++;
    while (*path) {
        size_t len = strcspn(path, "/");
        if (n == 3 || len >= sizeof seg[0])
            return -1;
        memcpy(seg[n], path, len);
        seg[n++][len] = '\0';
        path += len;
        while (*path == '/')
            path++;
    }
    return n;
}

static void route(reply *r, corm_session *s, const char *method, const request *req)
{
    char seg[3][32];
    int n = split(req->path, seg);
    int64_t id = 0;
    bool users = n >= 1 && strcmp(seg[0], "users") == 0;
    bool posts = n >= 1 && strcmp(seg[0], "posts") == 0;
    if (n >= 2 && !positive(seg[1], &id))
        n = -1;
    unit w = { .id = id, .fields = n == 3 ? post_fields : user_fields };

    if (users && n == 1) {
        if (is(method, "GET")) {
            corm_query *q = corm_query_new(s, User);
            if (q && corm_order_by(q, User_id))
                fail_corm(r, s, corm_errcode(s));
            else
                list(r, s, req, q, any_user_json);
        } else if (is(method, "POST")) {
            if ((w.body = read_body(r, req, w.fields, true)))
                run_write(r, s, create_user, &w, 201, any_user_json);
        } else {
            not_allowed(r, "GET, POST");
        }
    } else if (users && n == 2) {
        if (is(method, "GET")) {
            get_user(r, s, id);
        } else if (is(method, "PUT") || is(method, "PATCH")) {
            if ((w.body = read_body(r, req, w.fields, is(method, "PUT"))))
                run_write(r, s, update_user, &w, 200, any_user_json);
        } else if (is(method, "DELETE")) {
            run_write(r, s, delete_user, &w, 204, NULL);
        } else {
            not_allowed(r, "GET, PUT, PATCH, DELETE");
        }
    } else if (users && n == 3 && strcmp(seg[2], "posts") == 0) {
        if (is(method, "GET")) {
            user_posts(r, s, req, id);
        } else if (is(method, "POST")) {
            if ((w.body = read_body(r, req, w.fields, true)))
                run_write(r, s, create_post, &w, 201, any_post_json);
        } else {
            not_allowed(r, "GET, POST");
        }
    } else if (posts && n == 2) {
        if (is(method, "GET"))
            get_post(r, s, id);
        else if (is(method, "DELETE"))
            run_write(r, s, delete_post, &w, 204, NULL);
        else
            not_allowed(r, "GET, DELETE");
    } else {
        fail(r, 404, NULL, "no such resource: %s", req->path);
    }
    json_decref(w.body);
}

void api_handle(corm_engine *e, const char *method, const request *req, reply *r)
{
    corm_session *s = corm_session_new(e);
    if (!s) {
        fail(r, 500, NULL, "out of memory");
        return;
    }
    route(r, s, method, req);
    corm_session_free(s); /* rolls back whatever a refused request began */
}
