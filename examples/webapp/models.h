/*
 * models.h — the web application's tables: users and their posts.
 *
 * Declared once; webapp.c defines the descriptors (CORM_DEFINE_MODELS),
 * `./webapp db migrate` diffs them against the database, and the shipped
 * migrations/<backend>/ revisions were written that way.
 */
#ifndef WEBAPP_MODELS_H
#define WEBAPP_MODELS_H

#include <corm/corm.h>

#define USER_FIELDS(COLUMN, RELATION)                                               \
    COLUMN(id,         CORM_INTEGER,     CORM_PRIMARY_KEY)                          \
    COLUMN(username,   CORM_STRING(80),  CORM_UNIQUE | CORM_NOT_NULL)               \
    COLUMN(email,      CORM_STRING(120), CORM_NOT_NULL)                             \
    COLUMN(created_at, CORM_DATETIME,    CORM_NOT_NULL, CORM_DEFAULT_FN(corm_default_utcnow)) \
    RELATION(posts,    CORM_ONE_TO_MANY(Post, user), CORM_CASCADE(CORM_CASCADE_DELETE))
CORM_MODEL(User, "user", USER_FIELDS)

#define POST_FIELDS(COLUMN, RELATION)                                               \
    COLUMN(id,         CORM_INTEGER,     CORM_PRIMARY_KEY)                          \
    COLUMN(title,      CORM_STRING(120), CORM_NOT_NULL)                             \
    COLUMN(body,       CORM_TEXT,        CORM_NOT_NULL)                             \
    COLUMN(user_id,    CORM_INTEGER,     CORM_NOT_NULL | CORM_INDEX, CORM_FK(User, id)) \
    COLUMN(created_at, CORM_DATETIME,    CORM_NOT_NULL, CORM_DEFAULT_FN(corm_default_utcnow)) \
    RELATION(user,     CORM_MANY_TO_ONE(User, user_id, posts))
CORM_MODEL(Post, "post", POST_FIELDS)

#endif
