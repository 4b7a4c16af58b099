/*
 * corm.c — the `corm` command without an application: every `db` command
 * that does not need the models (init, revision, upgrade, downgrade,
 * current, history, heads, show, stamp, merge). `migrate` and `check`
 * compare models with the database, so they run from the application,
 * which links corm_cli_main (see cli.c and docs/migrations.md).
 *
 *     corm db upgrade --url sqlite:///app.db --dir migrations
 */
#include <corm/corm.h>

int main(int argc, char **argv)
{
    return corm_cli_main(argc, argv, NULL);
}
