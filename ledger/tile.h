/*
 * ledger/tile.h — C2SP tlog-tiles: tile names and paths, hash tile data, entry bundles.
 *
 * What: a hash tile <L>/<N> holds the hashes of Merkle level 8L, indices 256N .. 256N+W-1, as
 * W concatenated 32-byte hashes (W = 256 for a full tile, 1..255 for a partial tile
 * `.p/<W>`). An entry bundle `entries/<N>` holds entries 256N .. 256N+W-1, each prefixed by
 * its length as 2 bytes big-endian. Paths are relative to the log prefix (the server mounts
 * them under /ledger/): `tile/0/x001/x234/067.p/8`, `tile/entries/005`.
 *
 * tile_hash_reader turns a "fetch this tile" callback into a merkle_reader: a node at level
 * 8L+k is the root of 2^k hashes inside one tile of level L, so any node is one tile read
 * (the reader keeps the last tile it fetched). It serves the sequencer (tiles in PostgreSQL)
 * and the monitor (tiles over HTTP or from files) alike.
 *
 * Invariants: parsers are strict (the only accepted spelling of a tile is the one
 * tile_path_format writes) and bounded (TILE_PATH_BYTES_MAX). Ownership: caller buffers;
 * decoded bundle entries point into the caller's bundle bytes. Threads: pure functions; one
 * tile_hash_reader per thread.
 */
#ifndef LODE_LEDGER_TILE_H
#define LODE_LEDGER_TILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "ledger/merkle.h"

#define TILE_HEIGHT 8
#define TILE_WIDTH 256
#define TILE_LEVEL_MAX 7 /* 8 levels of height 8 cover 64-bit tree sizes */
#define TILE_DATA_BYTES_MAX (TILE_WIDTH * MERKLE_HASH_BYTES)
#define TILE_PATH_BYTES_MAX 64
/* largest entry bundle: 256 entries of 65,535 bytes with their 2-byte lengths */
#define TILE_BUNDLE_BYTES_MAX (TILE_WIDTH * (2 + 65535))

struct tile_id {
    bool entries;    /* an entry bundle rather than a hash tile */
    unsigned level;  /* hash tile level L (0 for bundles) */
    uint64_t index;  /* N */
    unsigned width;  /* 1..256; 256 = full tile */
};

/* Writes "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]" and a NUL into out (cap bytes).
 * Returns LODE_OK or LODE_EINVAL (bad id, buffer too small). */
enum lode_code tile_path_format(const struct tile_id *tile, char *out, size_t cap);

/* Parses a tile path as written by tile_path_format, nothing else (no leading slash, no
 * non-canonical groups or widths). Returns LODE_OK, LODE_EINVAL or LODE_EURITOOLONG. */
enum lode_code tile_path_parse(const char *path, size_t path_len, struct tile_id *tile_out);

/* Number of hashes at Merkle level 8*level in a tree of tree_size leaves. */
uint64_t tile_level_hashes(unsigned level, uint64_t tree_size);

/* The tile (with its width at tree_size) whose hashes determine `node`.
 * Returns LODE_OK or LODE_EINVAL when the node is not complete inside tree_size. */
enum lode_code tile_for_node(const struct merkle_node *node, uint64_t tree_size,
                             struct tile_id *tile_out);

/* The distinct tiles that the nodes need at tree_size (for prefetching a proof's tiles);
 * tiles_out holds `cap`. Returns LODE_OK or LODE_EINVAL. */
enum lode_code tile_list_for_nodes(const struct merkle_node *nodes, size_t count,
                                   uint64_t tree_size, struct tile_id *tiles_out, size_t cap,
                                   size_t *count_out);

/* The tiles whose contents change when the tree grows from old_size to new_size: every new or
 * grown hash tile at every level and, when with_entries, the matching entry bundles.
 * tiles_out holds `cap` ids. Returns LODE_OK or LODE_EINVAL (old > new, cap too small). */
enum lode_code tile_list_changed(uint64_t old_size, uint64_t new_size, bool with_entries,
                                 struct tile_id *tiles_out, size_t cap, size_t *count_out);

/* Assembles the bytes of hash tile `tile` (width * 32 bytes) from a reader that holds every
 * hash at level 8L the tile covers. Returns LODE_OK, LODE_EINVAL, or the reader's error. */
enum lode_code tile_data_build(const struct merkle_reader *reader, const struct tile_id *tile,
                               uint8_t *out, size_t cap, size_t *len_out);

/* The hash of `node` from the data of the tile tile_for_node() names (data_len may exceed the
 * width the node needs: a full tile serves for a partial one). Returns LODE_OK or
 * LODE_EINVAL when the data is too short or not a multiple of 32 bytes. */
enum lode_code tile_node_hash(const struct tile_id *tile, const uint8_t *data, size_t data_len,
                              const struct merkle_node *node, uint8_t out[MERKLE_HASH_BYTES]);

/* Fetches tile `tile` into data_out (cap = TILE_DATA_BYTES_MAX). May return a wider tile of the
 * same level and index (the full tile for a partial one). Returns LODE_OK or an error. */
typedef enum lode_code (*tile_fetch_fn)(void *ctx, const struct tile_id *tile, uint8_t *data_out,
                                        size_t cap, size_t *len_out);

struct tile_hash_reader {
    tile_fetch_fn fetch;
    void *ctx;
    uint64_t tree_size;
    bool cached;
    struct tile_id cached_id;
    size_t cached_len;
    uint8_t cached_data[TILE_DATA_BYTES_MAX];
};

/* Initialises thr over the tiles of the tree at tree_size and points reader_out at it.
 * thr must outlive reader_out. */
void tile_hash_reader_init(struct tile_hash_reader *thr, uint64_t tree_size, tile_fetch_fn fetch,
                           void *ctx, struct merkle_reader *reader_out);

/* One entry of a bundle: a view into the bundle bytes. */
struct tile_bundle_entry {
    const uint8_t *data;
    size_t len;
};

/* Encodes entries into the bundle format. Returns LODE_OK, LODE_ETOOBIG (an entry over
 * 65,535 bytes, more than 256 entries) or LODE_EINVAL (buffer too small). */
enum lode_code tile_bundle_encode(const struct tile_bundle_entry *entries, size_t count,
                                  uint8_t *out, size_t cap, size_t *len_out);

/* Strict decode: every byte belongs to an entry, no truncated length or entry, at most `cap`
 * (<= 256) entries, and exactly `expected` entries unless expected is 0.
 * Returns LODE_OK, LODE_EINVAL or LODE_ETOOBIG. */
enum lode_code tile_bundle_decode(const uint8_t *data, size_t len, size_t expected,
                                  struct tile_bundle_entry *entries_out, size_t cap,
                                  size_t *count_out);

#endif
