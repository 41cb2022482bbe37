/*
 * storage/blob_store.h — content-addressed blobs: bytes stored once per SHA-256, compressed
 * with zstd, behind an interface so that a filesystem or S3-compatible store can follow.
 *
 * What: blob_put() hashes and compresses the bytes and hands the compressed form to the
 * backend, which keeps it under its hash unless it already has it; blob_get() fetches and
 * decompresses, checking the size recorded at put time and the hash of what comes out, so a
 * corrupted store is an error, never wrong bytes.
 *
 * blob_put_compressed() takes bytes that the caller hashed and compressed as it received them
 * (a streamed upload): one zstd frame, whose header may omit the content size when the size was
 * not known in advance; blob_get() then relies on the recorded size, and still checks the hash.
 *
 * Invariants: a blob's address is the SHA-256 of its uncompressed bytes; a stored blob never
 * changes; at most LODE_BLOB_BYTES_MAX uncompressed bytes per blob.
 *
 * Backends: blob_store_postgres() keeps blobs in the `blobs` table on the caller's connection
 * and inside the caller's transaction, so a blob commits or rolls back with the row that names
 * it. A backend outside PostgreSQL would write before the transaction commits (a put is
 * idempotent, and an unreferenced blob is harmless).
 *
 * Ownership: blob_get() allocates the bytes in the caller's arena. Threads: a store is
 * immutable and may be shared; each call runs on the caller's connection and thread.
 */
#ifndef LODE_STORAGE_BLOB_STORE_H
#define LODE_STORAGE_BLOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "storage/db.h"

#define BLOB_ZSTD_LEVEL 3 /* zstd's default: about 300 MB/s per core on text */

struct blob_store_ops {
    /* Keeps compressed bytes under sha256 unless already present; *created_out tells. */
    enum lode_code (*put)(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                          const uint8_t *zdata, size_t zlen, uint64_t raw_bytes, bool *created_out,
                          struct lode_error *err);
    /* The compressed bytes (in arena) and the uncompressed size, or LODE_ENOTFOUND. */
    enum lode_code (*get)(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                          struct arena *arena, uint8_t **zdata_out, size_t *zlen_out,
                          uint64_t *raw_bytes_out, struct lode_error *err);
    /* Whether a blob is stored under sha256. */
    enum lode_code (*exists)(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                             bool *exists_out, struct lode_error *err);
};

struct blob_store {
    const struct blob_store_ops *ops;
    void *impl;
};

/* The PostgreSQL backend (table `blobs`). A static instance; never NULL. */
const struct blob_store *blob_store_postgres(void);

/* Stores bytes (len <= LODE_BLOB_BYTES_MAX) and writes their SHA-256 to sha256_out;
 * *created_out (may be NULL) is false when the blob was already there.
 * Returns LODE_OK, LODE_ETOOBIG, LODE_ENOMEM, or the backend's error. */
enum lode_code blob_put(const struct blob_store *store, struct db_conn *conn, const void *bytes,
                        size_t len, uint8_t sha256_out[32], bool *created_out,
                        struct lode_error *err);

/* Stores one zstd frame (zlen bytes at zdata) holding raw_bytes (<= LODE_BLOB_BYTES_MAX)
 * uncompressed bytes whose SHA-256 the caller computed; the frame must be whole and its header,
 * when it records a content size, must agree with raw_bytes. The hash is trusted, not
 * recomputed (blob_get() checks it on every read). *created_out (may be NULL) as blob_put().
 * Returns LODE_OK, LODE_ETOOBIG, LODE_EINVAL (not one frame of that size), or the backend's
 * error. */
enum lode_code blob_put_compressed(const struct blob_store *store, struct db_conn *conn,
                                   const uint8_t sha256[32], const uint8_t *zdata, size_t zlen,
                                   uint64_t raw_bytes, bool *created_out, struct lode_error *err);

/* The uncompressed bytes of a blob, allocated in arena (plus a NUL after them, not counted).
 * Returns LODE_OK, LODE_ENOTFOUND, LODE_ENOMEM, LODE_EINTERNAL (stored data does not
 * decompress to the recorded size and hash), or the backend's error. */
enum lode_code blob_get(const struct blob_store *store, struct db_conn *conn,
                        const uint8_t sha256[32], struct arena *arena, uint8_t **bytes_out,
                        size_t *len_out, struct lode_error *err);

/* Whether a blob is stored. Returns LODE_OK or the backend's error. */
enum lode_code blob_exists(const struct blob_store *store, struct db_conn *conn,
                           const uint8_t sha256[32], bool *exists_out, struct lode_error *err);

#endif
