/*
 * api/items_upload.c — parsing of contribution bodies: one JSON record, NDJSON records, or a
 * file with its headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/items_upload.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/limits.h"

#define HEADER_VALUE_BYTES 256

static bool decode_fixed(const char *text, uint8_t *out, size_t want)
{
    size_t n = 0;
    return text != NULL && base64_decode(text, strlen(text), out, want, &n) && n == want;
}

/* A key and a signature, both or neither (from headers or fields). */
static bool signature_parse(const char *key, const char *sig, const char *where,
                            struct record_in *r, struct lode_error *err)
{
    if (key == NULL && sig == NULL)
        return true;
    if ((key == NULL) != (sig == NULL)) {
        lode_error_set(err, LODE_EINVAL, "%s: a key and a signature go together", where);
        return false;
    }
    if (!decode_fixed(key, r->public_key, 32)) {
        lode_error_set(err, LODE_EINVAL,
                       "%s: the key must be the base64 of a 32-byte Ed25519 "
                       "public key",
                       where);
        return false;
    }
    if (!decode_fixed(sig, r->signature, 64)) {
        lode_error_set(err, LODE_EINVAL,
                       "%s: the signature must be the base64 of a 64-byte "
                       "Ed25519 signature",
                       where);
        return false;
    }
    r->has_signature = true;
    return true;
}

/* One record object; with_signature lets it carry "key" and "signature". */
static bool record_parse(struct arena *arena, json_t *obj, bool with_signature, struct record_in *r,
                         struct lode_error *err)
{
    static const char *const plain[] = {"text", "meta", NULL};
    static const char *const signed_fields[] = {"text", "meta", "key", "signature", NULL};
    json_t *text, *meta;
    const char *key = NULL, *sig = NULL;

    if (!json_is_object(obj)) {
        lode_error_set(err, LODE_EINVAL, "a record must be a JSON object");
        return false;
    }
    if (json_object_check_fields(obj, with_signature ? signed_fields : plain, err) != LODE_OK)
        return false;
    text = json_object_get(obj, "text");
    if (!json_is_string(text)) {
        lode_error_set(err, LODE_EINVAL, "field \"text\" is required and must be a string");
        lode_error_pointer(err, "/text");
        return false;
    }
    r->text = json_string_value(text);
    r->len = json_string_length(text);
    if (r->len == 0) {
        lode_error_set(err, LODE_EINVAL, "field \"text\" must not be empty");
        lode_error_pointer(err, "/text");
        return false;
    }
    if (r->len > LODE_DEDUPE_TEXT_BYTES_MAX) {
        lode_error_set(err, LODE_ETOOBIG, "field \"text\" holds %zu bytes; the limit is %u", r->len,
                       LODE_DEDUPE_TEXT_BYTES_MAX);
        lode_error_pointer(err, "/text");
        return false;
    }
    if (memchr(r->text, '\0', r->len) != NULL) {
        lode_error_set(err, LODE_EINVAL, "field \"text\" must not contain U+0000");
        lode_error_pointer(err, "/text");
        return false;
    }
    meta = json_object_get(obj, "meta");
    if (meta != NULL) {
        char *dump;
        if (!json_is_object(meta)) {
            lode_error_set(err, LODE_EINVAL, "field \"meta\" must be an object");
            lode_error_pointer(err, "/meta");
            return false;
        }
        dump = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
        if (dump == NULL || strlen(dump) > LODE_ITEM_META_BYTES_MAX ||
            strstr(dump, "\\u0000") != NULL) {
            bool big = dump != NULL && strlen(dump) > LODE_ITEM_META_BYTES_MAX;
            free(dump);
            lode_error_set(err, big ? LODE_ETOOBIG : LODE_EINVAL,
                           big ? "field \"meta\" is over %d bytes as compact JSON"
                               : "field \"meta\" cannot be stored (it holds U+0000)",
                           LODE_ITEM_META_BYTES_MAX);
            lode_error_pointer(err, "/meta");
            return false;
        }
        r->meta_json = arena_strndup(arena, dump, strlen(dump));
        free(dump);
    }
    if (with_signature && (json_get_string(obj, "key", false, 64, &key, err) != LODE_OK ||
                           json_get_string(obj, "signature", false, 128, &sig, err) != LODE_OK ||
                           !signature_parse(key, sig, "fields \"key\" and \"signature\"", r, err)))
        return false;
    return true;
}

/* Prefixes err's message with "line N: " and points at the line. */
static void at_line(size_t n, struct lode_error *err)
{
    char pos[32], msg[LODE_ERROR_MESSAGE_MAX];
    int k = snprintf(msg, sizeof msg, "line %zu: ", n + 1);

    if (k > 0 && (size_t)k < sizeof msg)
        snprintf(msg + k, sizeof msg - (size_t)k, "%.*s", (int)(sizeof msg - (size_t)k - 1),
                 err->message);
    memcpy(err->message, msg, sizeof err->message);
    snprintf(pos, sizeof pos, "/line/%zu", n + 1);
    lode_error_pointer(err, pos);
}

static bool own(struct item_upload *out, json_t *obj, struct lode_error *err)
{
    if (json_array_append_new(out->docs, obj) == 0)
        return true;
    lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
    return false;
}

static bool parse_record(struct arena *arena, const char *body, size_t len,
                         const struct upload_headers *h, struct item_upload *out,
                         struct lode_error *err)
{
    json_t *obj;

    if (len > LODE_ITEM_RECORD_BYTES_MAX) {
        lode_error_set(err, LODE_ETOOBIG, "a JSON record is at most %u bytes",
                       LODE_ITEM_RECORD_BYTES_MAX);
        return false;
    }
    obj = json_body_parse(body, len, LODE_ITEM_RECORD_BYTES_MAX, LODE_JSON_DEPTH_MAX, err);
    if (obj == NULL || !own(out, obj, err))
        return false;
    out->records = arena_calloc(arena, 1, sizeof *out->records);
    if (out->records == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
        return false;
    }
    out->count = 1;
    return record_parse(arena, obj, false, &out->records[0], err) &&
           signature_parse(h->key, h->signature, "headers Lode-Key and Lode-Signature",
                           &out->records[0], err);
}

static bool parse_batch(struct arena *arena, const char *body, size_t len, struct item_upload *out,
                        struct lode_error *err)
{
    const char *p = body, *end = body + len;
    size_t lines = 0;

    if (len > LODE_ITEM_BATCH_BYTES_MAX) {
        lode_error_set(err, LODE_ETOOBIG, "an NDJSON batch is at most %u bytes",
                       LODE_ITEM_BATCH_BYTES_MAX);
        return false;
    }
    for (const char *q = p; q < end; q++)
        lines += *q == '\n';
    lines += end[-1] != '\n';
    if (lines > LODE_ITEM_BATCH_RECORDS_MAX) {
        lode_error_set(err, LODE_ETOOBIG, "an NDJSON batch holds at most %d records, not %zu",
                       LODE_ITEM_BATCH_RECORDS_MAX, lines);
        return false;
    }
    out->records = arena_calloc(arena, lines, sizeof *out->records);
    if (out->records == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the batch");
        return false;
    }
    for (size_t n = 0; p < end; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line_len = (size_t)((nl != NULL ? nl : end) - p);
        json_t *obj;

        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0) {
            lode_error_set(err, LODE_EINVAL, "the line is empty: every line is one record");
            at_line(n, err);
            return false;
        }
        obj = json_body_parse(p, line_len, LODE_ITEM_RECORD_BYTES_MAX, LODE_JSON_DEPTH_MAX, err);
        if (obj == NULL || !own(out, obj, err) ||
            !record_parse(arena, obj, true, &out->records[n], err)) {
            at_line(n, err);
            return false;
        }
        p = nl != NULL ? nl + 1 : end;
        out->count = n + 1;
    }
    return true;
}

/* Printable ASCII without the characters given; 1 to 255 bytes. */
static bool header_value_ok(const char *v, const char *forbidden)
{
    size_t n = v != NULL ? strlen(v) : 0;

    if (n == 0 || n >= HEADER_VALUE_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e || strchr(forbidden, v[i]))
            return false;
    return true;
}

static bool parse_file(struct arena *arena, const char *body, size_t len,
                       const struct upload_headers *h, struct item_upload *out,
                       struct lode_error *err)
{
    const char *type = h->media_type != NULL ? h->media_type : "application/octet-stream";

    if (!header_value_ok(h->filename, "/\\\"") || strcmp(h->filename, ".") == 0 ||
        strcmp(h->filename, "..") == 0) {
        lode_error_set(err, LODE_EINVAL,
                       "a file upload needs a Lode-Filename header: 1 to 255 "
                       "printable ASCII characters without / \\ or \"");
        lode_error_pointer(err, "Lode-Filename");
        return false;
    }
    if (!header_value_ok(type, "") || strchr(type, '/') == NULL) {
        lode_error_set(err, LODE_EINVAL,
                       "Lode-Media-Type must be a media type such as "
                       "text/csv (printable ASCII, at most 255 bytes)");
        lode_error_pointer(err, "Lode-Media-Type");
        return false;
    }
    if (len > LODE_ITEM_FILE_BYTES_MAX) {
        lode_error_set(err, LODE_ETOOBIG, "a file is at most %u bytes", LODE_ITEM_FILE_BYTES_MAX);
        return false;
    }
    out->filename = h->filename;
    out->media_type = type;
    out->records = arena_calloc(arena, 1, sizeof *out->records);
    if (out->records == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
        return false;
    }
    out->count = 1;
    out->records[0].text = body;
    out->records[0].len = len;
    return signature_parse(h->key, h->signature, "headers Lode-Key and Lode-Signature",
                           &out->records[0], err);
}

bool items_upload_file(struct arena *arena, size_t len, const struct upload_headers *headers,
                       struct item_upload *out, struct lode_error *err)
{
    memset(out, 0, sizeof *out);
    out->kind = UPLOAD_FILE;
    out->docs = json_array();
    if (out->docs == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
        return false;
    }
    if (len == 0) {
        lode_error_set(err, LODE_EINVAL, "the body is empty: send a record, records or a file");
        return false;
    }
    return parse_file(arena, NULL, len, headers, out, err);
}

bool items_upload_parse(struct arena *arena, enum upload_kind kind, const char *body, size_t len,
                        const struct upload_headers *headers, struct item_upload *out,
                        struct lode_error *err)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->docs = json_array();
    if (out->docs == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
        return false;
    }
    if (body == NULL || len == 0) {
        lode_error_set(err, LODE_EINVAL, "the body is empty: send a record, records or a file");
        return false;
    }
    switch (kind) {
    case UPLOAD_RECORD:
        return parse_record(arena, body, len, headers, out, err);
    case UPLOAD_BATCH:
        return parse_batch(arena, body, len, out, err);
    case UPLOAD_FILE:
        return parse_file(arena, body, len, headers, out, err);
    }
    lode_error_set(err, LODE_EINVAL, "unknown upload kind");
    return false;
}
