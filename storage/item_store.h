/*
 * storage/item_store.h — contributed items: the contribution transaction (duplicate look-up,
 * policy, blob, item row, LSH bands, ledger entry), the persistent band index, and provenance
 * reads.
 *
 * What: item_contribute() takes items already analysed by the caller (SHA-256 of the bytes,
 * and for text the normalised text, its SHA-256 and its MinHash signature from dedupe/) and,
 * in the caller's transaction, for each item in order:
 *   1. looks for an exact duplicate (same normalised text, or same bytes for a file) and else
 *      for near-duplicate candidates in the band index (`item_bands`: one row per band key and
 *      item), in the dataset or in every dataset as the policy's scope says;
 *   2. verifies the best candidates (Jaccard estimated from the stored signatures, then exact
 *      Jaccard over the shingles of both normalised texts for the closest ITEM_VERIFY_EXACT_MAX)
 *      and applies the dataset's policy: reject ends the whole call with LODE_ECONFLICT naming
 *      the matched item; quarantine and accept store the item with its verdict;
 *   3. stores the blob (once per hash), the item row, its band keys, and queues one
 *      `item.contributed` ledger entry (hashes and references only, the contributor's signature
 *      inside when given) with ledger_enqueue(), so that item and entry commit together.
 * Items of one call see the items stored before them in the same call, so a batch is checked
 * against itself too.
 *
 * Synthetic text: an item the caller scored with the detector (detector/) carries its verdict;
 * after the duplicate policy, a `synthetic` verdict is decided by the dataset's synthetic
 * action: reject ends the call with LODE_ECONFLICT, quarantine stores it quarantined, accept
 * stores it with its status unchanged; both flag it and queue an `item.flagged` entry (score in
 * parts per million, verdict, model version) after its `item.contributed` entry. Other
 * verdicts are stored on the item and flag nothing. When the dataset sets
 * max_synthetic_fraction and the call flags at least one item, the call takes a
 * transaction-scoped lock on the dataset and, counting the whole call with the items already
 * stored (accepted or quarantined), refuses with LODE_ECONFLICT (*failed_out = count) when
 * flagged / stored would exceed the maximum. A call that flags nothing only lowers the fraction
 * and is never refused for it.
 *
 * Concurrency: before looking, the call takes transaction-scoped advisory locks on every
 * exact key and band key of its items (sorted, so two calls never deadlock). Two contributions
 * that could match each other share at least one such key, so one waits for the other's commit
 * and then sees it; unrelated contributions do not wait for each other.
 *
 * The band index: ITEM_INDEX_BANDS bands of ITEM_INDEX_ROWS rows of a 128-hash MinHash over
 * character 5-grams, chosen by dedupe_lsh_choose() for DATASET_NEAR_THRESHOLD_MIN, whatever the
 * dataset's own threshold (at least that floor): pairs at the floor become candidates with
 * probability >= 99%, and a dataset may change its threshold without re-indexing.
 *
 * Ownership: results are copied into caller structures; variable-size fields of provenance
 * records go to the caller's arena. Threads: the caller's connection and thread only.
 */
#ifndef LODE_STORAGE_ITEM_STORE_H
#define LODE_STORAGE_ITEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "dedupe/dedupe.h"
#include "storage/dataset_store.h"
#include "storage/db.h"

#define ITEM_SHINGLE_SCHEME "char:5"
#define ITEM_CANDIDATES_MAX 64  /* candidates read per item, most shared band keys first */
#define ITEM_VERIFY_EXACT_MAX 4 /* candidates per item verified by exact Jaccard */
#define ITEM_MEDIA_TYPE_BYTES 256
#define ITEM_FILENAME_BYTES 256
#define ITEM_MINHASH_BYTES (8 + 4 * DEDUPE_HASHES) /* scheme, shingles, minima; little-endian */
#define ITEM_RECORD_MEDIA_TYPE "text/plain; charset=utf-8"

enum item_status {
    ITEM_ACCEPTED = 1,
    ITEM_QUARANTINED = 2,
};

/* The detector's verdict on a text item (detector_verdict_name() spelling). */
struct item_synthetic {
    bool scored;               /* false: not scored (a file, or no model loaded) */
    const char *verdict;       /* "human", "synthetic", "uncertain" or "insufficient" */
    bool has_score;            /* false for insufficient and out-of-distribution uncertain */
    double score;              /* P(machine-generated) within [0, 1] when has_score */
    const char *model_version; /* detector_model_version() */
};

/* One item to contribute, analysed by the caller. */
struct item_input {
    const uint8_t *bytes; /* the content: a record's text, or a file's bytes */
    size_t len;
    /* a file streamed by the caller: one zstd frame of its len bytes (keys.bytes_sha256 is
     * their hash), stored as is with blob_put_compressed(); bytes is then NULL */
    const uint8_t *zbytes;
    size_t zlen;
    const char *media_type;  /* at most 255 bytes */
    const char *filename;    /* files only; NULL for records */
    const char *meta_json;   /* a record's meta object as compact JSON, or NULL */
    bool is_text;            /* keys.text_sha256, minhash and norm are set */
    struct dedupe_keys keys; /* bytes_sha256 always */
    struct dedupe_signature minhash;
    const char *norm; /* normalised text (caller memory, not the dedupe workspace) */
    size_t norm_len;
    bool has_signature; /* Ed25519 over bytes_sha256, already verified by the caller */
    uint8_t public_key[32];
    uint8_t signature[64];
    struct item_synthetic synthetic;
};

/* What happened to one item. For a rejected item only the verdict fields are set. */
struct item_outcome {
    int64_t item_id;
    int64_t queue_id; /* ledger_queue row of its item.contributed entry */
    int64_t created_at_ms;
    int64_t key_id; /* 0 = unsigned */
    enum item_status status;
    enum dedupe_verdict verdict;
    int64_t duplicate_of; /* 0 = none */
    int64_t duplicate_dataset;
    uint8_t duplicate_sha256[32];
    double similarity;       /* 1 for an exact duplicate */
    bool similarity_exact;   /* exact Jaccard, not an estimate */
    bool flagged;            /* synthetic: an item.flagged entry was queued */
    int64_t flag_queue_id;   /* ledger_queue row of that entry */
    bool synthetic_rejected; /* LODE_ECONFLICT came from the synthetic policy */
};

/* A stored item with its provenance. */
struct item_record {
    int64_t id;
    int64_t dataset_id;
    int64_t contributor_id;
    uint8_t sha256[32];
    bool has_text_sha256;
    uint8_t text_sha256[32];
    uint64_t bytes;
    char media_type[ITEM_MEDIA_TYPE_BYTES];
    char filename[ITEM_FILENAME_BYTES]; /* "" for records */
    const char *meta_json;              /* arena, or NULL */
    enum item_status status;
    enum dedupe_verdict verdict;
    int64_t duplicate_of;
    double similarity;
    bool similarity_exact;
    bool is_signed;
    uint8_t public_key[32];
    uint8_t signature[64];
    int64_t queue_id;
    bool integrated;
    uint64_t ledger_index;
    uint8_t leaf_hash[32];
    int64_t created_at_ms;
    /* the detector's verdict recorded at contribution ("" when the item was not scored) */
    char synthetic_verdict[16];
    bool has_synthetic_score;
    double synthetic_score;
    char detector_model[64];
    bool synthetic_flagged;
    bool flag_integrated; /* the item.flagged entry has a ledger index */
    uint64_t flag_ledger_index;
    uint8_t flag_leaf_hash[32];
};

/* The dedupe parameters of the band index (see above), with the given verification
 * threshold. */
void item_index_params(double threshold, struct dedupe_params *out);

const char *item_status_name(enum item_status status);
const char *item_verdict_name(enum dedupe_verdict verdict);

/* Contributes count items to ds for contributor_id in the caller's transaction (see above).
 * ds should have been read with lock_share. On failure *failed_out is the index of the item at
 * fault (and out[*failed_out] holds the match for LODE_ECONFLICT); the caller rolls back.
 * Returns LODE_OK, LODE_ECONFLICT (the policy rejects a duplicate or a synthetic item, or the
 * call would pass the dataset's maximum synthetic fraction), LODE_EUNPROCESSABLE
 * (unsigned item where signatures are required, or a key not registered), LODE_EFORBIDDEN
 * (a key registered to another account), LODE_EINVAL, LODE_ENOMEM, or the mapped error. */
enum lode_code item_contribute(struct db_conn *conn, const struct dataset *ds,
                               int64_t contributor_id, const struct item_input *items, size_t count,
                               struct item_outcome *out, size_t *failed_out,
                               struct lode_error *err);

/* Items whose bytes have this SHA-256, oldest first, at most `limit` (1 to 1000).
 * Returns LODE_OK (possibly with *count_out = 0) or the mapped error. */
enum lode_code item_list_by_hash(struct db_conn *conn, struct arena *arena,
                                 const uint8_t sha256[32], int limit, struct item_record *out,
                                 int *count_out, struct lode_error *err);

/* Items recorded as duplicates of item_id, oldest first, at most `limit` (1 to 1000). */
enum lode_code item_list_duplicates(struct db_conn *conn, struct arena *arena, int64_t item_id,
                                    int limit, struct item_record *out, int *count_out,
                                    struct lode_error *err);

/* Band keys stored for an item (at most DEDUPE_HASHES), ascending as signed 64-bit values. */
enum lode_code item_bands_read(struct db_conn *conn, int64_t item_id, int64_t *keys_out,
                               size_t *count_out, struct lode_error *err);

/* Deletes an item and its band keys, and its blob when no other item holds the same bytes.
 * Its ledger entry stays (the log is append-only). Returns LODE_OK, LODE_ENOTFOUND. */
enum lode_code item_delete(struct db_conn *conn, int64_t item_id, struct lode_error *err);

#endif
