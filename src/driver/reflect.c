/*
 * reflect.c — the driver-neutral half of reflection: freeing and looking up
 * what a driver's reflect() read.
 */
#include "driver/driver.h"
#include "util/alloc.h"

#include <string.h>
#include <strings.h>

/* v may be NULL with n set: the count was known, the array not made. */
static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        util_free(v[i]);
    util_free(v);
}

void drv_rschema_free(drv_rschema *rs)
{
    for (size_t t = 0; t < rs->ntables; t++) {
        drv_rtable *tb = &rs->tables[t];
        for (size_t i = 0; i < tb->ncolumns; i++) {
            util_free(tb->columns[i].name);
            util_free(tb->columns[i].type);
            util_free(tb->columns[i].dflt);
        }
        util_free(tb->columns);
        for (size_t i = 0; i < tb->nindexes; i++) {
            util_free(tb->indexes[i].name);
            util_free(tb->indexes[i].sql);
            free_names(tb->indexes[i].columns, tb->indexes[i].ncolumns);
        }
        util_free(tb->indexes);
        for (size_t i = 0; i < tb->nfks; i++) {
            free_names(tb->fks[i].columns, tb->fks[i].ncolumns);
            free_names(tb->fks[i].ref_columns, tb->fks[i].ncolumns);
            util_free(tb->fks[i].ref_table);
            util_free(tb->fks[i].name);
            util_free(tb->fks[i].on_delete);
            util_free(tb->fks[i].on_update);
        }
        util_free(tb->fks);
        util_free(tb->name);
        util_free(tb->sql);
    }
    util_free(rs->tables);
    memset(rs, 0, sizeof *rs);
}

const drv_rtable *drv_rschema_table(const drv_rschema *rs, const char *name)
{
    for (size_t t = 0; t < rs->ntables; t++)
        if (strcasecmp(rs->tables[t].name, name) == 0)
            return &rs->tables[t];
    return NULL;
}
