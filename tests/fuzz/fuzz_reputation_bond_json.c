/*
 * tests/fuzz/fuzz_reputation_bond_json.c — the stored bond reader: any input is either refused
 * with a code and a message, or yields a bond whose JSON form reads back to the same bond and
 * whose next deadline can be asked for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct reputation_bond bond, again;
    struct lode_error err = {0};
    json_t *obj;
    char *text;

    memset(&bond, 0, sizeof bond);
    if (reputation_bond_parse((const char *)data, size, &bond, &err) != LODE_OK) {
        if (err.code == LODE_OK || err.message[0] == '\0')
            abort();
        return 0;
    }
    (void)reputation_bond_next_deadline(&bond);
    obj = reputation_bond_json(&bond);
    if (obj == NULL)
        abort();
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        abort();
    memset(&again, 0, sizeof again);
    if (reputation_bond_parse(text, strlen(text), &again, &err) != LODE_OK ||
        memcmp(&bond, &again, sizeof bond) != 0)
        abort();
    free(text);
    return 0;
}
