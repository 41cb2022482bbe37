/*
 * storage/ledger_store.h — the provenance ledger in PostgreSQL: the durable append queue, hash
 * tiles, compressed entry bundles, checkpoints, and the proofs computed from them.
 *
 * Appends: ledger_enqueue() inserts an entry into `ledger_queue` inside the caller's
 * transaction (so a domain write and its ledger entry commit together) and notifies the
 * sequencer; once that transaction commits the entry is durable. The sequencer
 * (storage/ledger_sequencer.h) later assigns it an index; ledger_queue_lookup() tells whether
 * that happened yet.
 *
 * Reads: hash tiles are stored raw, one row per tile at its widest width (a partial tile is
 * served as a prefix of the stored one); entry bundles are stored zstd-compressed with a
 * content-addressed dictionary (ledger/bundle_codec.h) and returned decompressed. Proofs are
 * computed by ledger/merkle.h over a tile reader on the caller's connection.
 *
 * All functions run on the caller's connection and thread. Buffers that can be large are
 * allocated from the caller's arena.
 */
#ifndef LODE_STORAGE_LEDGER_STORE_H
#define LODE_STORAGE_LEDGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/error.h"
#include "ledger/merkle.h"
#include "ledger/tile.h"
#include "storage/db.h"

#define LEDGER_NOTE_BYTES_MAX 4096

struct ledger_checkpoint {
    uint64_t size;
    uint8_t root[MERKLE_HASH_BYTES];
    char note[LEDGER_NOTE_BYTES_MAX]; /* the signed note, exactly as served */
    size_t note_len;
    int64_t created_at_ms;
};

/* Queues a canonical entry (validated with ledger/entry.h) in the caller's transaction.
 * Returns LODE_OK, LODE_EINVAL (not a valid entry), LODE_ETOOBIG (over 65,535 bytes), or a
 * database error. */
enum lode_code ledger_enqueue(struct db_conn *conn, const uint8_t *entry, size_t len,
                              int64_t *queue_id_out, struct lode_error *err);

/* The same for an entry given as a JSON object (stolen; NULL, from a failed json_pack, is
 * LODE_ENOMEM), encoded canonically first (ledger_entry_encode). */
enum lode_code ledger_enqueue_json(struct db_conn *conn, json_t *entry, int64_t *queue_id_out,
                                   struct lode_error *err);

/* Whether a queued entry has been integrated, and if so its index and leaf hash.
 * Returns LODE_OK or LODE_ENOTFOUND (no such queue id). */
enum lode_code ledger_queue_lookup(struct db_conn *conn, int64_t queue_id, bool *integrated_out,
                                   uint64_t *index_out, uint8_t leaf_hash_out[MERKLE_HASH_BYTES],
                                   struct lode_error *err);

/* The latest checkpoint. Returns LODE_OK or LODE_ENOTFOUND (the log has no checkpoint yet). */
enum lode_code ledger_checkpoint_latest(struct db_conn *conn, struct ledger_checkpoint *out,
                                        struct lode_error *err);

/* The first checkpoint whose size is at least min_size (the one that first covered an entry
 * at index min_size - 1). Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code ledger_checkpoint_at_least(struct db_conn *conn, uint64_t min_size,
                                          struct ledger_checkpoint *out, struct lode_error *err);

/* A hash tile's bytes (width * 32) at the width asked for. Returns LODE_OK, or LODE_ENOTFOUND
 * when the log has not (yet) grown to that tile and width. data_out holds TILE_DATA_BYTES_MAX. */
enum lode_code ledger_tile_read(struct db_conn *conn, const struct tile_id *tile,
                                uint8_t *data_out, size_t *len_out, struct lode_error *err);

/* An entry bundle, decompressed, at the width asked for (in tile-bundle format). Returns LODE_OK
 * or LODE_ENOTFOUND. */
enum lode_code ledger_bundle_read(struct db_conn *conn, const struct tile_id *tile,
                                  struct arena *arena, uint8_t **data_out, size_t *len_out,
                                  struct lode_error *err);

/* One entry by index, with its leaf hash. Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code ledger_entry_read(struct db_conn *conn, uint64_t index, struct arena *arena,
                                 uint8_t **entry_out, size_t *len_out,
                                 uint8_t leaf_hash_out[MERKLE_HASH_BYTES], struct lode_error *err);

/* The lowest index whose leaf hash is `leaf_hash`. Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code ledger_index_by_leaf(struct db_conn *conn, const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                                    uint64_t *index_out, struct lode_error *err);

/* Inclusion proof of `index` in the tree of `tree_size` leaves (tree_size must be a size some
 * checkpoint has; else LODE_ENOTFOUND). proof_out holds MERKLE_PROOF_HASHES_MAX hashes.
 * Returns LODE_OK, LODE_EINVAL (index >= tree_size), LODE_ENOTFOUND. */
enum lode_code ledger_prove_inclusion(struct db_conn *conn, uint64_t index, uint64_t tree_size,
                                      uint8_t (*proof_out)[MERKLE_HASH_BYTES], size_t *count_out,
                                      struct lode_error *err);

/* Consistency proof between two checkpointed sizes. Returns LODE_OK, LODE_EINVAL
 * (from > to), LODE_ENOTFOUND (a size no checkpoint has). */
enum lode_code ledger_prove_consistency(struct db_conn *conn, uint64_t from, uint64_t to,
                                        uint8_t (*proof_out)[MERKLE_HASH_BYTES],
                                        size_t *count_out, struct lode_error *err);

/* Bytes at rest, for reports: entries integrated, compressed bundle bytes, the raw bytes of the
 * same entries (canonical JSON), hash tile bytes. */
struct ledger_storage_stats {
    uint64_t entries;
    uint64_t bundle_bytes;
    uint64_t raw_entry_bytes;
    uint64_t tile_bytes;
    int dictionary_version; /* 0 = none yet */
};
enum lode_code ledger_storage_stats(struct db_conn *conn, struct ledger_storage_stats *out,
                                    struct lode_error *err);

#endif
