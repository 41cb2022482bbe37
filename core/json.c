/*
 * core/json.c — limited JSON parsing, typed field readers, canonical output.
 */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
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

/* Growable output of the canonical writer. */
struct canon_buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void canon_put(struct canon_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len <= n) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap - b->len <= n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* RFC 8785 section 3.2.2.2: escape '"', '\\' and controls; the short forms for \b \t \n \f
 * \r, \u00xx with lower-case hex for the other controls; every other character literal. */
static void canon_string(struct canon_buf *b, const char *s, size_t len)
{
    size_t run = 0;

    canon_put(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char seq[8];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\f': esc = "\\f"; break;
        case '\r': esc = "\\r"; break;
        default:
            snprintf(seq, sizeof seq, "\\u%04x", c);
            esc = seq;
        }
        canon_put(b, s + run, i - run);
        canon_put(b, esc, strlen(esc));
        run = i + 1;
    }
    canon_put(b, s + run, len - run);
    canon_put(b, "\"", 1);
}

/* Next UTF-16 code unit of a valid UTF-8 string (jansson validates strings and keys). */
static unsigned utf16_next(const unsigned char *s, size_t len, size_t *i, unsigned *pending)
{
    uint32_t cp;
    unsigned char c;

    if (*pending != 0) {
        unsigned u = *pending;
        *pending = 0;
        return u;
    }
    c = s[*i];
    if (c < 0x80) {
        cp = c;
        *i += 1;
    } else if (c < 0xe0 && *i + 1 < len) {
        cp = ((uint32_t)(c & 0x1f) << 6) | (s[*i + 1] & 0x3f);
        *i += 2;
    } else if (c < 0xf0 && *i + 2 < len) {
        cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[*i + 1] & 0x3f) << 6) |
             (s[*i + 2] & 0x3f);
        *i += 3;
    } else if (*i + 3 < len) {
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[*i + 1] & 0x3f) << 12) |
             ((uint32_t)(s[*i + 2] & 0x3f) << 6) | (s[*i + 3] & 0x3f);
        *i += 4;
    } else {
        cp = c; /* not reached for valid UTF-8 */
        *i += 1;
    }
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    *pending = 0xdc00 + (cp & 0x3ff);
    return 0xd800 + (cp >> 10);
}

struct canon_key {
    const char *key;
    size_t len;
    json_t *value;
};

/* RFC 8785 section 3.2.3: members sorted by their names as arrays of UTF-16 code units. */
static int canon_key_compare(const void *pa, const void *pb)
{
    const struct canon_key *a = pa, *b = pb;
    const unsigned char *sa = (const unsigned char *)a->key, *sb = (const unsigned char *)b->key;
    size_t ia = 0, ib = 0;
    unsigned pa16 = 0, pb16 = 0;

    while ((ia < a->len || pa16 != 0) && (ib < b->len || pb16 != 0)) {
        unsigned ua = utf16_next(sa, a->len, &ia, &pa16);
        unsigned ub = utf16_next(sb, b->len, &ib, &pb16);
        if (ua != ub)
            return ua < ub ? -1 : 1;
    }
    if (ia < a->len || pa16 != 0)
        return 1;
    if (ib < b->len || pb16 != 0)
        return -1;
    return 0;
}

static bool canon_value(struct canon_buf *b, const json_t *v, int depth)
{
    char num[32];
    size_t i;

    if (depth > 1000)
        return false;
    switch (json_typeof(v)) {
    case JSON_NULL: canon_put(b, "null", 4); return true;
    case JSON_TRUE: canon_put(b, "true", 4); return true;
    case JSON_FALSE: canon_put(b, "false", 5); return true;
    case JSON_REAL: return false;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        canon_put(b, num, strlen(num));
        return true;
    case JSON_STRING:
        canon_string(b, json_string_value(v), json_string_length(v));
        return true;
    case JSON_ARRAY: {
        json_t *child;
        canon_put(b, "[", 1);
        json_array_foreach(v, i, child) {
            if (i > 0)
                canon_put(b, ",", 1);
            if (!canon_value(b, child, depth + 1))
                return false;
        }
        canon_put(b, "]", 1);
        return true;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        struct canon_key *keys = calloc(n > 0 ? n : 1, sizeof *keys);
        const char *key;
        json_t *child;
        bool ok = true;
        if (keys == NULL)
            return false;
        json_object_foreach((json_t *)v, key, child) {
            keys[k].key = key;
            keys[k].len = strlen(key);
            keys[k].value = child;
            k++;
        }
        if (n > 1)
            qsort(keys, n, sizeof *keys, canon_key_compare);
        canon_put(b, "{", 1);
        for (i = 0; i < n && ok; i++) {
            if (i > 0)
                canon_put(b, ",", 1);
            canon_string(b, keys[i].key, keys[i].len);
            canon_put(b, ":", 1);
            ok = canon_value(b, keys[i].value, depth + 1);
        }
        canon_put(b, "}", 1);
        free(keys);
        return ok;
    }
    }
    return false;
}

char *json_canonical_dump(const json_t *value, size_t *len_out)
{
    struct canon_buf b = {0};

    if (value == NULL || !canon_value(&b, value, 0) || b.failed) {
        free(b.p);
        return NULL;
    }
    if (b.p == NULL)
        return NULL;
    if (len_out != NULL)
        *len_out = b.len;
    return b.p;
}
