// example: relationships_blog (examples/blog.c)
#define CORM_DEFINE_MODELS
#include <corm/corm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,       CORM_INTEGER,    CORM_PRIMARY_KEY)                      \
    COLUMN(username, CORM_STRING(80), CORM_UNIQUE | CORM_NOT_NULL)           \
    RELATION(posts,  CORM_ONE_TO_MANY(Post, user), CORM_CASCADE(CORM_CASCADE_DELETE))
CORM_MODEL(User, "user", USER_FIELDS)

#define POST_FIELDS(COLUMN, RELATION)                                       \
    COLUMN(id,       CORM_INTEGER, CORM_PRIMARY_KEY)                         \
    COLUMN(content,  CORM_TEXT,    0)                                        \
    COLUMN(user_id,  CORM_INTEGER, CORM_NOT_NULL, CORM_FK(User, id))         \
    RELATION(user,     CORM_MANY_TO_ONE(User, user_id, posts))               \
    RELATION(comments, CORM_ONE_TO_MANY(Comment, post), CORM_CASCADE(CORM_CASCADE_DELETE)) \
    RELATION(tags,     CORM_MANY_TO_MANY(Tag, PostTag, posts))
CORM_MODEL(Post, "post", POST_FIELDS)

#define COMMENT_FIELDS(COLUMN, RELATION)                                    \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                          \
    COLUMN(body,    CORM_TEXT,    CORM_NOT_NULL)                             \
    COLUMN(post_id, CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Post, id))          \
    RELATION(post,  CORM_MANY_TO_ONE(Post, post_id, comments))
CORM_MODEL(Comment, "comment", COMMENT_FIELDS)

#define TAG_FIELDS(COLUMN, RELATION)                                        \
    COLUMN(id,   CORM_INTEGER,    CORM_PRIMARY_KEY)                          \
    COLUMN(name, CORM_STRING(30), CORM_UNIQUE | CORM_NOT_NULL)               \
    RELATION(posts, CORM_MANY_TO_MANY(Post, PostTag, tags))
CORM_MODEL(Tag, "tag", TAG_FIELDS)

#define POST_TAG_FIELDS(COLUMN, RELATION)                                   \
    COLUMN(id,      CORM_INTEGER, CORM_PRIMARY_KEY)                          \
    COLUMN(post_id, CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Post, id))          \
    COLUMN(tag_id,  CORM_INTEGER, CORM_NOT_NULL, CORM_FK(Tag, id))
CORM_MODEL(PostTag, "post_tag", POST_TAG_FIELDS)

static const corm_model *const models[] = {
    User_model, Post_model, Comment_model, Tag_model, PostTag_model, NULL
};

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "failed: %s (%s)\n", #c, corm_errmsg(s)); return 1; } } while (0)

int main(void)
{
    const char *url = getenv("DATABASE_URL"); /* as a Flask app reads it */
    corm_engine *db;
    if (corm_engine_open(&db, url ? url : "sqlite://", models) != CORM_OK)
        return 1;
    corm_create_all(db);
    corm_session *s = corm_session_new(db);

    /* a user, two posts, a comment and tags, written in one commit */
    User *u = corm_new(s, User);
    u->username = "marshal";
    corm_add(s, u);
    Tag *c = corm_new(s, Tag), *orm = corm_new(s, Tag);
    c->name = "c";
    orm->name = "orm";
    for (int i = 0; i < 2; i++) {
        Post *p = corm_new(s, Post);
        p->content = i ? "second post" : "hello, corm";
        CHECK(corm_rel_add(s, u, User_posts, p) == CORM_OK);   /* p->user = u, p added */
        CHECK(corm_rel_add(s, p, Post_tags, i ? orm : c) == CORM_OK);
    }
    Comment *k = corm_new(s, Comment);
    k->body = "nice";
    k->post = u->posts.items[0];                               /* the key follows */
    corm_add(s, k);
    CHECK(corm_commit(s) == CORM_OK);

    /* eager: users, their posts, the posts' comments and tags: 4 SELECTs */
    corm_session *r = corm_session_new(db);
    corm_query *q = corm_query_new(r, User);
    corm_selectin(q, User_posts, Post_comments);
    corm_selectin(q, User_posts, Post_tags);
    User **users;
    size_t n;
    CHECK(corm_all(q, &users, &n) == CORM_OK && n == 1);
    for (size_t i = 0; i < users[0]->posts.n; i++) {
        Post *p = users[0]->posts.items[i];
        printf("%s wrote '%s' [%s], %zu comment(s)\n", p->user->username, p->content,
               p->tags.n ? p->tags.items[0]->name : "-", p->comments.n);
    }
    CHECK(users[0]->posts.n == 2 && users[0]->posts.items[0]->comments.n == 1);

    /* across relationships: users with a post tagged "orm" */
    q = corm_query_new(r, User);
    corm_filter(q, corm_any(User_posts, corm_any(Post_tags, corm_eq(Tag_name, "orm"))));
    int64_t count;
    CHECK(corm_count(q, &count) == CORM_OK && count == 1);

    /* deleting the user deletes its posts and their comments and tag links */
    CHECK(corm_delete(r, users[0]) == CORM_OK && corm_commit(r) == CORM_OK);
    corm_result *res;
    CHECK(corm_execute(r, "SELECT (SELECT COUNT(*) FROM post) + (SELECT COUNT(*) FROM comment) "
                          "+ (SELECT COUNT(*) FROM post_tag)", NULL, 0, &res) == CORM_OK);
    CHECK(corm_result_int(res, 0, 0) == 0);

    corm_session_free(r);
    corm_session_free(s);
    corm_engine_close(db);
    return 0;
}
