/*
 * ledger/bundle_codec.h — entry bundles at rest: zstd with a dictionary trained on entries.
 *
 * What: entry bundles (ledger/tile.h format) are stored compressed. A dictionary is trained
 * (ZDICT) on sample entries; it is content-addressed by the SHA-256 of its bytes and carries a
 * version number (1, 2, ... as the operator retrains), so old bundles stay readable after a
 * new dictionary arrives. A stored bundle is
 *     "LB" | 0x01 (format) | dictionary id (32 bytes; all zero = no dictionary) | zstd frame
 * and decompression refuses frames that would exceed the caller's size cap.
 *
 * Invariants: dictionaries are at most LODE_ZSTD_DICT_BYTES_MAX bytes; decompressed bundles at
 * most the caller's cap (TILE_BUNDLE_BYTES_MAX for whole bundles). Ownership: a struct
 * bundle_dict owns its zstd objects (bundle_dict_fini frees them). Threads: a dictionary is
 * read-only after bundle_dict_init and may be shared; each call uses its own zstd context.
 */
#ifndef LODE_LEDGER_BUNDLE_CODEC_H
#define LODE_LEDGER_BUNDLE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BUNDLE_DICT_ID_BYTES 32
#define BUNDLE_HEADER_BYTES (3 + BUNDLE_DICT_ID_BYTES)
#define BUNDLE_LEVEL_DEFAULT 19 /* bundles are written once and read often */

struct bundle_dict {
    uint8_t id[BUNDLE_DICT_ID_BYTES]; /* SHA-256 of bytes */
    uint32_t version;
    uint8_t *bytes;
    size_t len;
    void *cdict; /* ZSTD_CDict */
    void *ddict; /* ZSTD_DDict */
};

/* Trains a dictionary of at most dict_bytes_max bytes on `count` sample entries (more samples
 * than a few hundred and a dictionary of 16-64 KiB work well). Returns the raw dictionary in
 * a malloc'd buffer. Returns LODE_OK, LODE_EINVAL (too few or too small samples for zstd to
 * train on) or LODE_ENOMEM. */
enum lode_code bundle_dict_train(const uint8_t *const *samples, const size_t *sample_lens,
                                 size_t count, size_t dict_bytes_max, uint8_t **dict_out,
                                 size_t *dict_len_out, struct lode_error *err);

/* Loads raw dictionary bytes (copied) under `version`, computes its id, and prepares zstd
 * dictionaries for compression at `level`. Returns LODE_OK, LODE_EINVAL, LODE_ETOOBIG or
 * LODE_ENOMEM. */
enum lode_code bundle_dict_init(struct bundle_dict *dict, const uint8_t *bytes, size_t len,
                                uint32_t version, int level, struct lode_error *err);
void bundle_dict_fini(struct bundle_dict *dict);

/* Upper bound of bundle_codec_compress output for `len` input bytes. */
size_t bundle_codec_bound(size_t len);

/* Compresses bundle bytes with dict (NULL = no dictionary) at `level`. Returns LODE_OK,
 * LODE_EINVAL (out too small) or LODE_ENOMEM. */
enum lode_code bundle_codec_compress(const struct bundle_dict *dict, int level, const uint8_t *in,
                                     size_t len, uint8_t *out, size_t cap, size_t *len_out);

/* The dictionary id a stored bundle needs (all zero = none). Returns LODE_OK or LODE_EINVAL. */
enum lode_code bundle_codec_dict_id(const uint8_t *in, size_t len,
                                    uint8_t id_out[BUNDLE_DICT_ID_BYTES]);

/* Decompresses a stored bundle into out (cap bytes, the size cap). dicts are the known
 * dictionaries; the one whose id the bundle names is used.
 * Returns LODE_OK, LODE_EINVAL (malformed, corrupt), LODE_ENOTFOUND (unknown dictionary) or
 * LODE_ETOOBIG (larger than cap). */
enum lode_code bundle_codec_decompress(const struct bundle_dict *const *dicts, size_t dict_count,
                                       const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                       size_t *len_out, struct lode_error *err);

#endif
