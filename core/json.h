/*
 * core/json.h — JSON bodies in and canonical JSON out, on top of jansson.
 *
 * json_body_parse() is the one door for untrusted JSON: a size limit, a nesting limit checked
 * before jansson builds anything, strict UTF-8 (jansson's), no duplicate keys, exactly one
 * value. The field readers check types and report the offending field as a JSON pointer, and
 * json_object_check_fields() rejects members the schema does not know.
 *
 * json_canonical_dump() writes the canonical form used for ledger entries and signatures
 * (RFC 8785 for everything but floats): members sorted by their names as UTF-16 code units,
 * no insignificant whitespace, strings as UTF-8 with only '"', '\\' and control characters
 * escaped (\b \t \n \f \r, else \u00xx in lower-case hex). Numbers must be integers
 * (RFC 8785's rules for floats are not implemented, so floats are refused); integers beyond
 * +-2^53 are written exactly, which RFC 8785 cannot express (callers that need strict
 * interoperability refuse them, as ledger entries do).
 * Pure functions; any thread.
 */
#ifndef LODE_CORE_JSON_H
#define LODE_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Parses one JSON value of at most max_bytes bytes and max_depth nesting.
 * On failure returns NULL and fills err (LODE_EINVAL, or LODE_ETOOBIG). Caller json_decref()s. */
json_t *json_body_parse(const char *buf, size_t len, size_t max_bytes, int max_depth,
                        struct lode_error *err);

/* Fails with LODE_EINVAL naming the first member of obj not in the NULL-terminated list. */
enum lode_code json_object_check_fields(const json_t *obj, const char *const *allowed,
                                        struct lode_error *err);

/* Typed readers. `required` = false lets a missing member leave *out untouched and succeed.
 * A present member of the wrong type, a string over max_bytes or with a NUL, or an integer
 * outside [min, max] is LODE_EINVAL with the pointer set to "/name". */
enum lode_code json_get_string(const json_t *obj, const char *name, bool required,
                               size_t max_bytes, const char **out, struct lode_error *err);
enum lode_code json_get_int(const json_t *obj, const char *name, bool required, int64_t min,
                            int64_t max, int64_t *out, struct lode_error *err);
enum lode_code json_get_bool(const json_t *obj, const char *name, bool required, bool *out,
                             struct lode_error *err);

/* Canonical serialisation (see above). Returns a malloc'd NUL-terminated string and its length,
 * or NULL if the value holds a real number or cannot be encoded. */
char *json_canonical_dump(const json_t *value, size_t *len_out);

#endif
