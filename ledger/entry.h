/*
 * ledger/entry.h — ledger entries: canonical JSON objects naming one event each.
 *
 * What: an entry is the RFC 8785 canonical JSON (core/json.h's json_canonical_dump) of an
 * object with a string member `type` among the event types below and the event's own fields:
 * hashes, identifiers and references, never the content itself. Where an actor signed the
 * event, the actor's Ed25519 signature is a member of the entry. The leaf hash of an entry is
 * merkle_hash_leaf() over exactly these bytes, so a validator must refuse any other spelling
 * of the same object.
 *
 * Invariants: at most LODE_ENTRY_BYTES_MAX bytes, nesting at most LODE_JSON_DEPTH_MAX, no
 * floats, integers within +-(2^53 - 1) (exact in every JSON implementation).
 * Ownership: ledger_entry_encode returns malloc'd bytes. Threads: pure functions.
 */
#ifndef LODE_LEDGER_ENTRY_H
#define LODE_LEDGER_ENTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define LEDGER_ENTRY_INT_MAX ((INT64_C(1) << 53) - 1)

/* The event types, in the order the docs list them; NULL-terminated. */
extern const char *const ledger_entry_types[];

/* Is `type` one of ledger_entry_types? */
bool ledger_entry_type_is_known(const char *type, size_t len);

/* Canonical bytes of `entry` (an object whose `type` is known), malloc'd into *bytes_out.
 * Returns LODE_OK, LODE_EINVAL (not an entry, floats, integers out of range) or LODE_ETOOBIG. */
enum lode_code ledger_entry_encode(const json_t *entry, char **bytes_out, size_t *len_out,
                                   struct lode_error *err);

/* Checks that bytes are a valid entry in canonical form; on LODE_OK and when type_out is not
 * NULL, writes the index of its type in ledger_entry_types.
 * Returns LODE_OK, LODE_EINVAL (malformed, unknown type, not canonical) or LODE_ETOOBIG. */
enum lode_code ledger_entry_validate(const char *bytes, size_t len, size_t *type_out,
                                     struct lode_error *err);

#endif
