/*
 * api/items_upload.h — the body of POST /v1/datasets/{id}/items, parsed (pure; no I/O).
 *
 * A record is {"text": string, "meta"?: object}; in an NDJSON batch (one record per line, "\n"
 * or "\r\n", the last newline optional) a line may also carry "key" and "signature" (base64
 * Ed25519 public key and signature); a single record or a file takes them from the Lode-Key
 * and Lode-Signature headers. A file needs a Lode-Filename and may give a Lode-Media-Type.
 * Limits: LODE_ITEM_RECORD_BYTES_MAX per record, LODE_DEDUPE_TEXT_BYTES_MAX per text,
 * LODE_ITEM_META_BYTES_MAX per meta, LODE_ITEM_BATCH_RECORDS_MAX and LODE_ITEM_BATCH_BYTES_MAX
 * per batch. Signatures are decoded, not verified.
 *
 * Ownership: records point into the body and into out->docs (the parsed JSON, which the caller
 * json_decref()s, also on failure); arrays and meta copies are in the arena. Threads: any.
 */
#ifndef LODE_API_ITEMS_UPLOAD_H
#define LODE_API_ITEMS_UPLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"

enum upload_kind { UPLOAD_RECORD, UPLOAD_BATCH, UPLOAD_FILE };

struct record_in {
    const char *text; /* a record's text, or a file's bytes */
    size_t len;
    const char *meta_json; /* compact JSON with sorted keys, or NULL */
    bool has_signature;
    uint8_t public_key[32];
    uint8_t signature[64];
};

/* Header values of the request (NULL when absent). */
struct upload_headers {
    const char *key;
    const char *signature;
    const char *filename;
    const char *media_type;
};

struct item_upload {
    enum upload_kind kind;
    size_t count;
    struct record_in *records;
    const char *filename;   /* files */
    const char *media_type; /* files */
    json_t *docs;           /* owns the parsed records */
};

/* Parses a non-empty body. On failure err says what and where: for a batch the message starts
 * with "line N: " and the pointer is "/line/N". Returns true, or false with LODE_EINVAL,
 * LODE_ETOOBIG or LODE_ENOMEM in err. */
bool items_upload_parse(struct arena *arena, enum upload_kind kind, const char *body, size_t len,
                        const struct upload_headers *headers, struct item_upload *out,
                        struct lode_error *err);

/* The same for a file whose len bytes were streamed elsewhere (not kept): checks the headers
 * and the size; records[0].text is NULL. Returns as items_upload_parse(). */
bool items_upload_file(struct arena *arena, size_t len, const struct upload_headers *headers,
                       struct item_upload *out, struct lode_error *err);

#endif
