/*
 * ledger/entry.c — entry types, canonical encoding and the canonical-form validator.
 */
#include "ledger/entry.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/limits.h"

const char *const ledger_entry_types[] = {
    "key.registered",  "item.contributed", "item.flagged",    "label.submitted",
    "label.consensus", "bond.posted",      "challenge.filed", "juror.drawn",
    "vote.committed",  "vote.revealed",    "bond.resolved",   "licence.granted",
    "payout.credited", "hash.attested",
    "deposit.credited", "withdrawal.requested", "withdrawal.settled",
    "round.decided", "appeal.filed", "juror.settled", "pool.renewed",
    "juror.staked", "juror.unstaked", "task.funded", "task.refunded", NULL,
};

static bool type_index(const char *type, size_t len, size_t *index_out)
{
    for (size_t i = 0; ledger_entry_types[i] != NULL; i++)
        if (strlen(ledger_entry_types[i]) == len && memcmp(ledger_entry_types[i], type, len) == 0) {
            *index_out = i;
            return true;
        }
    return false;
}

bool ledger_entry_type_is_known(const char *type, size_t len)
{
    size_t i;
    return type_index(type, len, &i);
}

/* Integers must be exact in IEEE doubles, as RFC 8785 numbers are. */
static bool integers_in_range(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_integer(v))
        return json_integer_value(v) >= -LEDGER_ENTRY_INT_MAX &&
               json_integer_value(v) <= LEDGER_ENTRY_INT_MAX;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            (void)key;
            if (!integers_in_range(child))
                return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (!integers_in_range(child))
                return false;
        }
    }
    return true;
}

static enum lode_code check_object(const json_t *entry, size_t *type_out, struct lode_error *err)
{
    const json_t *type;

    if (!json_is_object(entry))
        return lode_error_set(err, LODE_EINVAL, "ledger entry is not a JSON object");
    type = json_object_get(entry, "type");
    if (!json_is_string(type)) {
        lode_error_set(err, LODE_EINVAL, "ledger entry has no string member \"type\"");
        lode_error_pointer(err, "/type");
        return LODE_EINVAL;
    }
    if (!type_index(json_string_value(type), json_string_length(type), type_out)) {
        lode_error_set(err, LODE_EINVAL, "ledger entry type \"%.64s\" is not known",
                       json_string_value(type));
        lode_error_pointer(err, "/type");
        return LODE_EINVAL;
    }
    if (!integers_in_range(entry))
        return lode_error_set(err, LODE_EINVAL,
                              "ledger entry holds an integer beyond +-(2^53 - 1)");
    return LODE_OK;
}

enum lode_code ledger_entry_encode(const json_t *entry, char **bytes_out, size_t *len_out,
                                   struct lode_error *err)
{
    size_t type = 0, len = 0;
    char *bytes;
    enum lode_code rc = check_object(entry, &type, err);

    if (rc != LODE_OK)
        return rc;
    bytes = json_canonical_dump(entry, &len);
    if (bytes == NULL)
        return lode_error_set(err, LODE_EINVAL, "ledger entry holds a number that is not an "
                                                "integer");
    if (len > LODE_ENTRY_BYTES_MAX) {
        free(bytes);
        return lode_error_set(err, LODE_ETOOBIG, "ledger entry is %zu bytes, over the limit of %d",
                              len, LODE_ENTRY_BYTES_MAX);
    }
    *bytes_out = bytes;
    *len_out = len;
    return LODE_OK;
}

enum lode_code ledger_entry_validate(const char *bytes, size_t len, size_t *type_out,
                                     struct lode_error *err)
{
    json_t *entry;
    char *canonical = NULL;
    size_t canonical_len = 0, type = 0;
    enum lode_code rc;

    if (len > LODE_ENTRY_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "ledger entry is %zu bytes, over the limit of %d",
                              len, LODE_ENTRY_BYTES_MAX);
    entry = json_body_parse(bytes, len, LODE_ENTRY_BYTES_MAX, LODE_JSON_DEPTH_MAX, err);
    if (entry == NULL)
        return err != NULL && err->code == LODE_ETOOBIG ? LODE_ETOOBIG : LODE_EINVAL;
    rc = ledger_entry_encode(entry, &canonical, &canonical_len, err);
    if (rc == LODE_OK) {
        const json_t *t = json_object_get(entry, "type"); /* encode checked it is a string */
        if (t != NULL)
            type_index(json_string_value(t), json_string_length(t), &type);
        if (canonical == NULL || canonical_len != len || memcmp(canonical, bytes, len) != 0)
            rc = lode_error_set(err, LODE_EINVAL, "ledger entry is not in canonical JSON form");
    }
    free(canonical);
    json_decref(entry);
    if (rc == LODE_OK && type_out != NULL)
        *type_out = type;
    return rc;
}
