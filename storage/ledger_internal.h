/*
 * storage/ledger_internal.h — what ledger_store.c and ledger_sequencer.c share: bytea fields,
 * tile rows, stored bundles and the process-wide cache of bundle dictionaries.
 *
 * Only storage/ includes this header. Dictionaries in the cache are immutable (content-
 * addressed) and live as long as the process; the cache is guarded by a mutex, so any thread
 * may call ledger_dict_get. The other functions run on the caller's connection and thread.
 */
#ifndef LODE_STORAGE_LEDGER_INTERNAL_H
#define LODE_STORAGE_LEDGER_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "ledger/bundle_codec.h"
#include "ledger/merkle.h"
#include "ledger/tile.h"
#include "storage/db.h"

/* Notification channels: enqueues wake the sequencer; integrations announce the new size. */
#define LEDGER_CHANNEL_QUEUE "lode_ledger_queue"
#define LEDGER_CHANNEL_SIZE "lode_ledger_size"

/* Decodes a bytea field of a text-format result ("\x" + hex) into out (cap bytes).
 * False when NULL, malformed or larger than cap. */
bool ledger_bytea_read(const PGresult *res, int row, int col, uint8_t *out, size_t cap,
                       size_t *len_out);
/* The decoded length of a bytea field of a text-format result (0 when NULL). */
size_t ledger_bytea_len(const PGresult *res, int row, int col);

/* The stored row of hash tile (level, index) if it holds at least min_width hashes: its data at
 * the stored width (cap >= TILE_DATA_BYTES_MAX). Returns LODE_OK, LODE_ENOTFOUND, or a
 * database error. */
enum lode_code ledger_tile_row_read(struct db_conn *conn, unsigned level, uint64_t index,
                                    unsigned min_width, uint8_t *data_out, size_t *len_out,
                                    struct lode_error *err);

/* The stored bundle `index` decompressed into a malloc'd buffer (*raw_out, free() it), with
 * its stored width. Returns LODE_OK, LODE_ENOTFOUND (no such bundle), LODE_EINTERNAL (a stored
 * bundle that does not decode) or a database error. */
enum lode_code ledger_bundle_row_read(struct db_conn *conn, uint64_t index, uint8_t **raw_out,
                                      size_t *raw_len_out, unsigned *width_out,
                                      struct lode_error *err);

/* The dictionary with this id, loaded once per process from ledger_dictionaries (prepared for
 * decompression; compression with it uses zstd level 1). Returns LODE_OK, LODE_ENOTFOUND or a
 * database error. */
enum lode_code ledger_dict_get(struct db_conn *conn, const uint8_t id[BUNDLE_DICT_ID_BYTES],
                               const struct bundle_dict **dict_out, struct lode_error *err);

#endif
