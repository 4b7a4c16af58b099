/*
 * fuzz_url.c — the database URL parser and its redaction. Properties: the
 * redacted form never holds the password (when the password is not also
 * found elsewhere in the URL), and parsing never reads or writes outside
 * the text.
 */
#include "fuzz.h"
#include "driver/driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_string(data, size);
    drv_url u;
    util_err err = { 0 };
    char shown[256];
    drv_url_redact(url, shown, sizeof shown);
    FUZZ_CHECK(strlen(shown) < sizeof shown);
    if (drv_url_parse(url, &u, &err) == CORM_OK) {
        FUZZ_CHECK(u.scheme && u.redacted);
        if (u.password) {
            /* the password as written (between the user's ':' and the last
             * '@' of the authority), where it occurs only there, is not in
             * the redacted form; unless it has a '*' of the mask that
             * stands for it ("u:***@h" shows "u:***@h") */
            const char *auth = strstr(url, "://") + 3;
            size_t alen = strcspn(auth, "/?");
            const char *at = NULL, *colon = NULL;
            for (const char *c = auth; c < auth + alen; c++)
                if (*c == '@')
                    at = c;
            for (const char *c = auth; at && c < at && !colon; c++)
                if (*c == ':')
                    colon = c;
            if (colon && at - colon - 1 >= 3) {
                char raw[256];
                snprintf(raw, sizeof raw, "%.*s", (int)(at - colon - 1), colon + 1);
                const char *first = strstr(url, raw);
                if (strlen(raw) == (size_t)(at - colon - 1) && first == colon + 1 &&
                    !strstr(first + 1, raw) && !strchr(raw, '*'))
                    FUZZ_CHECK(!strstr(u.redacted, raw));
            }
        }
        for (size_t i = 0; i < u.nparams; i++)
            FUZZ_CHECK(drv_url_param(&u, u.params[i].key) != NULL);
        drv_url_free(&u);
    } else {
        FUZZ_CHECK(err.code == CORM_EURL || err.code == CORM_ENOMEM);
    }
    free(url);
    return 0;
}
