/*
 * test_api.c — the public API is policed, as curl's test1139 and test1167
 * do: every function declared in corm.h carries a doc comment and the
 * corm_ prefix, and every symbol the library exports carries its layer's
 * prefix.
 */
#include "common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    return p;
}

/* A declaration "type name(args);" at the start of a line. */
static bool prototype_name(const char *line, char *name, size_t size)
{
    if (!isalpha((unsigned char)line[0]) || strncmp(line, "typedef", 7) == 0 ||
        strncmp(line, "extern", 6) == 0 || strncmp(line, "struct", 6) == 0 ||
        strncmp(line, "enum", 4) == 0)
        return false;
    const char *paren = strchr(line, '(');
    if (!paren)
        return false;
    const char *end = paren;
    while (end > line && (isalnum((unsigned char)end[-1]) || end[-1] == '_'))
        end--;
    size_t n = (size_t)(paren - end);
    if (n == 0 || n >= size)
        return false;
    memcpy(name, end, n);
    name[n] = '\0';
    return true;
}

static void every_public_function_is_documented_and_prefixed(void **state)
{
    (void)state;
    char *text = read_file(CORM_SOURCE_DIR "/include/corm/corm.h");
    bool documented = false, in_comment = false;
    int checked = 0;
    for (char *line = text, *next; line; line = next) {
        char name[128];
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        if (!*line) {
            documented = false; /* a blank line ends what a comment covers */
            continue;
        }
        if (strstr(line, "/*"))
            in_comment = true;
        if (in_comment && strstr(line, "*/")) {
            in_comment = false;
            documented = true;
            continue;
        }
        if (in_comment)
            continue;
        if (line[0] == '#' || line[0] == ' ' || line[0] == '}' || line[0] == '{')
            continue;
        if (prototype_name(line, name, sizeof name)) {
            if (strncmp(name, "corm_", 5) != 0)
                fail_msg("public function %s lacks the corm_ prefix", name);
            if (!documented)
                fail_msg("public function %s has no doc comment above it", name);
            checked++;
        }
    }
    free(text);
    assert_true(checked > 60);
}

static void exported_symbols_carry_layer_prefixes(void **state)
{
    (void)state;
    FILE *p = popen("nm -g --defined-only " CORM_BINARY_DIR "/libcorm.a 2>/dev/null", "r");
    assert_non_null(p);
    static const char *const prefixes[] = { "corm_", "util_", "drv_", "sql_", "sch_", "orm_", "mig_" };
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], kind[8], sym[256];
        if (sscanf(line, "%63s %7s %255s", addr, kind, sym) != 3)
            continue;
        bool ok = strncmp(sym, "__", 2) == 0; /* the compiler's own (sanitizers) */
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
            ok |= strncmp(sym, prefixes[i], strlen(prefixes[i])) == 0;
        if (!ok)
            fail_msg("libcorm exports %s without a layer prefix", sym);
        checked++;
    }
    assert_int_equal(pclose(p), 0);
    assert_true(checked > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_public_function_is_documented_and_prefixed),
        cmocka_unit_test(exported_symbols_carry_layer_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
