/*
 * tests/fuzz/fuzz_api_items_upload.c — contribution bodies: one JSON record, NDJSON batches and
 * files. The first input byte picks the kind and which headers are present; the rest is the body.
 */
#include <stdint.h>
#include <string.h>

#include "api/items_upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upload_headers h = {0};
    struct item_upload up;
    struct lode_error err = {0};
    struct arena *a;
    bool ok;

    if (size < 1)
        return 0;
    enum upload_kind kind = (enum upload_kind)(data[0] % 3);
    if (data[0] & 0x04) {
        h.key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        h.signature = "ZGVhZGJlZWY=";
    }
    if (data[0] & 0x08)
        h.filename = "data.csv";
    if (data[0] & 0x10)
        h.media_type = (data[0] & 0x20) ? "text/csv" : "no-slash";
    a = arena_create(64u << 20);
    ok = items_upload_parse(a, kind, (const char *)data + 1, size - 1, &h, &up, &err);
    if (ok) {
        if (up.count == 0 || up.records == NULL)
            __builtin_trap();
        for (size_t i = 0; i < up.count; i++)
            if (up.records[i].text == NULL || (kind != UPLOAD_FILE && up.records[i].len == 0))
                __builtin_trap();
    } else if (err.code == LODE_OK || err.message[0] == '\0') {
        __builtin_trap();
    }
    json_decref(up.docs);
    arena_destroy(a);
    return 0;
}
