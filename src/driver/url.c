/*
 * url.c — database URLs, parsed once into their parts.
 *
 * The forms are SQLAlchemy's: "sqlite:///relative.db" (three slashes, a path
 * relative to the working directory), "sqlite:////abs/path.db" (four, an
 * absolute path), "sqlite://" (in memory), and for servers
 * "postgresql://user:pass@host:port/dbname". Percent-escapes are decoded.
 */
#include "driver/driver.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode [s, s+n) into a new string; NULL with *bad set on a bad escape. */
static char *decode(const char *s, size_t n, int *bad)
{
    char *d = util_malloc(n + 1), *o = d;
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n + 1 && i + 1 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            util_free(d);
            *bad = 1;
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return d;
}

void drv_url_free(drv_url *u)
{
    util_free(u->scheme);
    util_free(u->user);
    util_free(u->password);
    util_free(u->host);
    util_free(u->port);
    util_free(u->database);
    util_free(u->redacted);
    for (size_t i = 0; i < u->nparams; i++) {
        util_free(u->params[i].key);
        util_free(u->params[i].value);
    }
    memset(u, 0, sizeof *u);
}

const char *drv_url_param(const drv_url *u, const char *key)
{
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->params[i].key, key) == 0)
            return u->params[i].value;
    return NULL;
}

#define PART(field, s, n)                                     \
    do {                                                      \
        int bad_ = 0;                                         \
        if (!((field) = decode((s), (n), &bad_))) {           \
            if (bad_)                                         \
                goto malformed_escape;                        \
            goto nomem;                                       \
        }                                                     \
    } while (0)

/* url as it may be shown: the password between "user:" and "@" and the
 * value of a password= parameter written as ***, whatever else is wrong
 * with the text (it is also what error messages about a malformed URL
 * show). out has room for size bytes. */
void drv_url_redact(const char *url, char *out, size_t size)
{
    if (!size)
        return;
    size_t o = 0;
#define OUT(c) do { if (o + 1 < size) out[o++] = (c); } while (0)
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen; c++)
        if (*c == '@')
            at = c;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    for (const char *c = url; *c; c++) {
        if (colon && c == colon + 1) { /* user:***@ */
            for (const char *m = "***@"; *m; m++)
                OUT(*m);
            c = at; /* (an empty password too: c was then at the '@') */
            continue;
        }
        OUT(*c);
        /* ?password=... or &password=...: the value hidden */
        if ((*c == '?' || *c == '&') && c > auth && strncasecmp(c + 1, "password=", 9) == 0) {
            for (const char *m = "password=***"; *m; m++)
                OUT(*m);
            c += 9;
            while (c[1] && c[1] != '&')
                c++;
        }
    }
    out[o] = '\0';
#undef OUT
}

int drv_url_parse(const char *url, drv_url *u, util_err *err)
{
    memset(u, 0, sizeof *u);
    if (!url)
        return util_err_set(err, CORM_EURL, "malformed database URL: (null)");
    char shown[512]; /* what an error may say of the URL */
    drv_url_redact(url, shown, sizeof shown);
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return util_err_set(err, CORM_EURL,
                            "malformed database URL '%s': expected scheme://..., "
                            "e.g. sqlite:///app.db", shown);
    for (const char *c = url; c < sep; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+'))
            return util_err_set(err, CORM_EURL,
                                "malformed database URL '%s': bad character in the scheme", shown);
    const char *rest = sep + 3;
    const char *q = strchr(rest, '?');
    const char *end = q ? q : rest + strlen(rest);
    const char *slash = memchr(rest, '/', (size_t)(end - rest));
    const char *auth_end = slash ? slash : end;
    if (!(u->scheme = util_strndup(url, (size_t)(sep - url))))
        goto nomem;

    /* authority: [user[:password]@]host[:port] */
    const char *at = NULL;
    for (const char *c = rest; c < auth_end; c++)
        if (*c == '@')
            at = c;
    const char *hp = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        PART(u->user, rest, (size_t)((colon ? colon : at) - rest));
        if (colon)
            PART(u->password, colon + 1, (size_t)(at - colon - 1));
        hp = at + 1;
    }
    const char *pc = memchr(hp, ':', (size_t)(auth_end - hp));
    PART(u->host, hp, (size_t)((pc ? pc : auth_end) - hp));
    if (pc) {
        PART(u->port, pc + 1, (size_t)(auth_end - pc - 1));
        if (!*u->port || strspn(u->port, "0123456789") != strlen(u->port))
            return drv_url_free(u), util_err_set(err, CORM_EURL,
                                                 "malformed database URL: port must be a number");
    }
    if (slash)
        PART(u->database, slash + 1, (size_t)(end - slash - 1));
    else
        PART(u->database, "", 0);

    if (q) {
        const char *p = q + 1;
        while (*p) {
            const char *amp = strchr(p, '&');
            const char *pe = amp ? amp : p + strlen(p);
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            if (!eq || eq == p) {
                drv_url_free(u);
                return util_err_set(err, CORM_EURL,
                                    "malformed database URL '%s': a parameter is not key=value",
                                    shown);
            }
            if (u->nparams == sizeof u->params / sizeof u->params[0]) {
                drv_url_free(u);
                return util_err_set(err, CORM_EURL, "malformed database URL: too many parameters");
            }
            size_t k = u->nparams;
            PART(u->params[k].key, p, (size_t)(eq - p));
            u->nparams++;
            PART(u->params[k].value, eq + 1, (size_t)(pe - eq - 1));
            p = amp ? amp + 1 : pe;
        }
    }

    /* the redacted form, for logs */
    size_t n = strlen(url) + 16;
    if (!(u->redacted = util_malloc(n)))
        goto nomem;
    drv_url_redact(url, u->redacted, n);
    return CORM_OK;

malformed_escape:
    drv_url_free(u);
    return util_err_set(err, CORM_EURL, "malformed database URL '%s': bad %%-escape", shown);
nomem:
    drv_url_free(u);
    return util_err_set(err, CORM_ENOMEM, "out of memory parsing the database URL");
}

const drv_driver *drv_find(const char *scheme)
{
    if (strcmp(scheme, "sqlite") == 0 || strcmp(scheme, "sqlite3") == 0)
        return &drv_sqlite;
    if (strcmp(scheme, "postgresql") == 0 || strcmp(scheme, "postgres") == 0)
        return &drv_postgres;
    if (strcmp(scheme, "mysql") == 0 || strcmp(scheme, "mariadb") == 0)
        return &drv_mysql;
    return NULL;
}
