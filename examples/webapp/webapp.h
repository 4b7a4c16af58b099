/*
 * webapp.h — between the HTTP server (webapp.c, libmicrohttpd) and the
 * API's handlers (api.c, corm and jansson): a request in, a reply out.
 */
#ifndef WEBAPP_H
#define WEBAPP_H

#include "models.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What a handler sees of a request. */
typedef struct request {
    const char *path;         /* "/users/7", without the query string */
    const char *body;         /* the request body, len bytes (NULL when none) */
    size_t len;
    const char *(*arg)(void *ctx, const char *name); /* a ?name= argument, or NULL */
    void *ctx;
} request;

/* What it answers: a status, a JSON body (NULL for none; the server frees
 * it) and, for 405, the methods allowed. */
typedef struct reply {
    int status;
    json_t *body;
    const char *allow;
} reply;

/* Answer one request with a session of its own on e. */
void api_handle(corm_engine *e, const char *method, const request *req, reply *r);

#endif
