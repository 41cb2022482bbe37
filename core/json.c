/*
 * core/json.c — limited JSON parsing, typed field readers, canonical output.
 */
#include "core/json.h"

#include <string.h>

/* Scans raw bytes for the deepest nesting of [ and { outside strings. Stops early past limit. */
static int nesting_depth(const char *buf, size_t len, int limit)
{
    int depth = 0, deepest = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit)
                    return deepest;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return deepest;
}

json_t *json_body_parse(const char *buf, size_t len, size_t max_bytes, int max_depth,
                        struct lode_error *err)
{
    json_error_t jerr;
    json_t *value;

    if (len > max_bytes) {
        lode_error_set(err, LODE_ETOOBIG, "JSON body is %zu bytes, over the limit of %zu", len,
                       max_bytes);
        return NULL;
    }
    if (len == 0) {
        lode_error_set(err, LODE_EINVAL, "request body is empty where a JSON value is required");
        return NULL;
    }
    if (nesting_depth(buf, len, max_depth) > max_depth) {
        lode_error_set(err, LODE_EINVAL, "JSON nesting is deeper than the limit of %d", max_depth);
        return NULL;
    }
    value = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (value == NULL) {
        lode_error_set(err, LODE_EINVAL, "malformed JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
        return NULL;
    }
    return value;
}

enum lode_code json_object_check_fields(const json_t *obj, const char *const *allowed,
                                        struct lode_error *err)
{
    const char *key;
    json_t *value;

    if (!json_is_object(obj))
        return lode_error_set(err, LODE_EINVAL, "expected a JSON object");
    json_object_foreach((json_t *)obj, key, value) {
        bool known = false;
        (void)value;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(*a, key) == 0) {
                known = true;
                break;
            }
        if (!known) {
            lode_error_set(err, LODE_EINVAL, "unknown field \"%.100s\"", key);
            char ptr[LODE_ERROR_NAME_MAX];
            snprintf(ptr, sizeof ptr, "/%.60s", key);
            lode_error_pointer(err, ptr);
            return LODE_EINVAL;
        }
    }
    return LODE_OK;
}

static enum lode_code field_error(struct lode_error *err, const char *name, const char *what)
{
    char ptr[LODE_ERROR_NAME_MAX];

    lode_error_set(err, LODE_EINVAL, "field \"%.100s\" %s", name, what);
    snprintf(ptr, sizeof ptr, "/%.60s", name);
    lode_error_pointer(err, ptr);
    return LODE_EINVAL;
}

static const json_t *member(const json_t *obj, const char *name)
{
    return json_is_object(obj) ? json_object_get(obj, name) : NULL;
}

enum lode_code json_get_string(const json_t *obj, const char *name, bool required,
                               size_t max_bytes, const char **out, struct lode_error *err)
{
    const json_t *v = member(obj, name);

    if (v == NULL)
        return required ? field_error(err, name, "is required") : LODE_OK;
    if (!json_is_string(v))
        return field_error(err, name, "must be a string");
    if (json_string_length(v) > max_bytes) {
        char what[96];
        snprintf(what, sizeof what, "is longer than %zu bytes", max_bytes);
        return field_error(err, name, what);
    }
    if (strlen(json_string_value(v)) != json_string_length(v))
        return field_error(err, name, "must not contain NUL characters");
    *out = json_string_value(v);
    return LODE_OK;
}

enum lode_code json_get_int(const json_t *obj, const char *name, bool required, int64_t min,
                            int64_t max, int64_t *out, struct lode_error *err)
{
    const json_t *v = member(obj, name);

    if (v == NULL)
        return required ? field_error(err, name, "is required") : LODE_OK;
    if (!json_is_integer(v))
        return field_error(err, name, "must be an integer");
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        char what[128];
        snprintf(what, sizeof what, "must be between %lld and %lld", (long long)min,
                 (long long)max);
        return field_error(err, name, what);
    }
    *out = (int64_t)n;
    return LODE_OK;
}

enum lode_code json_get_bool(const json_t *obj, const char *name, bool required, bool *out,
                             struct lode_error *err)
{
    const json_t *v = member(obj, name);

    if (v == NULL)
        return required ? field_error(err, name, "is required") : LODE_OK;
    if (!json_is_boolean(v))
        return field_error(err, name, "must be true or false");
    *out = json_is_true(v);
    return LODE_OK;
}

static bool has_real(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_real(v))
        return true;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            (void)key;
            if (has_real(child))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (has_real(child))
                return true;
        }
    }
    return false;
}

char *json_canonical_dump(const json_t *value, size_t *len_out)
{
    char *s;

    if (has_real(value))
        return NULL;
    /* jansson sorts keys by strcmp, which for UTF-8 is code-point order */
    s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (s != NULL && len_out != NULL)
        *len_out = strlen(s);
    return s;
}
