/*
 * sql_exec.c — run the statements of an SQL file on a database, each in
 * turn (a statement ends with ';' at the end of a line), in one unit of
 * work: what tests/inspect.sh makes its hand-written tables with.
 *
 *     sql_exec URL FILE
 */
#include <corm/corm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static const corm_model *const none[] = { NULL };
    corm_engine *e;
    if (corm_engine_open(&e, argv[1], none) != CORM_OK) {
        fprintf(stderr, "%s\n", corm_engine_errmsg(e));
        corm_engine_close(e);
        fclose(f);
        return 1;
    }
    corm_session *s = corm_session_new(e);
    char line[4096], stmt[65536] = "";
    int status = 0;
    while (status == 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, "--", 2) == 0)
            continue;
        if (strlen(stmt) + strlen(line) + 1 >= sizeof stmt) {
            fprintf(stderr, "%s: statement too long\n", argv[2]);
            status = 1;
            break;
        }
        strcat(stmt, line);
        size_t n = strlen(stmt);
        while (n && (stmt[n - 1] == '\n' || stmt[n - 1] == ' '))
            n--;
        if (n && stmt[n - 1] == ';') {
            stmt[n - 1] = '\0';
            if (corm_execute(s, stmt, NULL, 0, NULL) != CORM_OK) {
                fprintf(stderr, "%s: %s\n", stmt, corm_errmsg(s));
                status = 1;
            }
            stmt[0] = '\0';
        }
    }
    if (status == 0 && corm_commit(s) != CORM_OK) {
        fprintf(stderr, "commit: %s\n", corm_errmsg(s));
        status = 1;
    }
    corm_session_free(s);
    corm_engine_close(e);
    fclose(f);
    return status;
}
