/*
 * migrate.h — revisions on disk and their graph.
 *
 * A revision is one file in the migrations folder, SQL with a small header
 * (as goose and Diesel do), readable and editable by a person:
 *
 *     -- corm revision: 20261124_070650_a1b2
 *     -- parent: base                  (or: -- parent: REV [REV] for a merge)
 *     -- message: create users
 *     -- +upgrade
 *     CREATE TABLE "user" (...);
 *     -- +downgrade
 *     DROP TABLE "user";
 *
 * Statements end with ';' at the end of a line (outside quotes). The graph
 * is the revisions linked by their parents; a head is a revision no other
 * names as a parent.
 */
#ifndef CORM_MIGRATE_H
#define CORM_MIGRATE_H

#include <stdio.h>

#include "schema/schema.h"

typedef struct mig_stmt {
    char *sql;
    int line;               /* of its first line in the file */
} mig_stmt;

typedef struct mig_rev {
    char *id, *message, *path;
    char *parents[2];       /* NULL, or base: both NULL */
    mig_stmt *up, *down;
    size_t nup, ndown;
} mig_rev;

typedef struct mig_graph {
    mig_rev *revs;
    size_t n;
} mig_graph;

/* One revision file's text (r->path set, for messages) into r: its header
 * and statements. CORM_ESQL naming the line for what is malformed; free r
 * with mig_rev_free either way. */
int mig_parse(mig_rev *r, const char *text, util_err *err);
void mig_rev_free(mig_rev *r);

/* Read every *.sql revision of dir. CORM_ENOTFOUND for a missing folder,
 * CORM_ESQL for a malformed file (file and line named), CORM_ESTATE for a
 * revision whose parent does not exist or an id used twice. */
int mig_load(const char *dir, mig_graph *g, util_err *err);
void mig_free(mig_graph *g);
const mig_rev *mig_find(const mig_graph *g, const char *id);
/* The heads, into out (at most max); returns how many there are. */
size_t mig_heads(const mig_graph *g, const mig_rev **out, size_t max);
/* Whether ancestor is rev or one of its ancestors. */
bool mig_is_ancestor(const mig_graph *g, const mig_rev *ancestor, const mig_rev *rev);

/* apply.c: the version table ("corm_version") and moving along the graph. */
int mig_ensure_table(sql_conn *c, util_err *err);
/* The revisions the database is at (0: base); CORM_ESTATE when it names one
 * the graph lacks (g may be NULL to skip that check). */
int mig_current(sql_conn *c, const mig_graph *g, const mig_rev **out, size_t max, size_t *n,
                const char *dir, util_err *err);
/* Apply the revisions between the current ones and target (n_steps < 0:
 * all), each in its own transaction with its version change; with sql the
 * statements are written there instead (offline mode). */
/* Where a migration says what it runs ("Running upgrade A -> B, message"),
 * a line per revision as it starts; fn NULL: nowhere. */
typedef struct mig_log {
    corm_warn_fn fn;
    void *ud;
    corm_progress_fn progress; /* rows a table rebuild copied, or NULL */
    void *progress_ud;
} mig_log;
int mig_upgrade(sql_conn *c, const mig_graph *g, const char *dir, const mig_rev *target,
                long n_steps, FILE *sql, const mig_log *log, util_err *err);
/* Undo the revisions above target (NULL: base), children first. */
int mig_downgrade(sql_conn *c, const mig_graph *g, const char *dir, const mig_rev *target,
                  long n_steps, FILE *sql, const mig_log *log, util_err *err);
int mig_stamp(sql_conn *c, const mig_rev *rev, util_err *err);

/* autogen.c: the statements that bring the reflected database to the
 * models (up) and back (down); warnings about lost data go to notes. */
int mig_autogenerate(const sch_meta *meta, const drv_driver *d, const drv_rschema *rs,
                     sch_diff *up, sch_diff *down, FILE *notes, util_err *err);

#endif
