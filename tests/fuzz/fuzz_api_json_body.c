/*
 * tests/fuzz/fuzz_api_json_body.c — request bodies through the JSON door and the typed readers.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"
#include "core/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fields[] = {"name", "roles", "public_key", "label", NULL};
    struct lode_error err;
    const char *s = NULL;
    int64_t n = 0;
    bool b = false;
    json_t *v = json_body_parse((const char *)data, size, 16384, LODE_JSON_DEPTH_MAX, &err);

    if (v == NULL)
        return 0;
    json_object_check_fields(v, fields, &err);
    json_get_string(v, "name", true, 200, &s, &err);
    json_get_int(v, "limit", false, 1, 200, &n, &err);
    json_get_bool(v, "flag", false, &b, &err);
    char *canon = json_canonical_dump(v, NULL);
    free(canon);
    json_decref(v);
    return 0;
}
