/*
 * ledger/merkle.h — the RFC 9162 Merkle tree engine: hashing, roots, proofs, appends. No I/O.
 *
 * What: leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right) (RFC 9162
 * section 2.1.1). The engine never holds the tree: it reads the hashes of complete subtrees
 * through a caller-supplied `struct merkle_reader` and computes the root at any size, inclusion
 * proofs and consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4) with O(log n) hashes read,
 * in one batched read per call. Appending a batch of leaf hashes returns every new complete
 * subtree hash, which is what a store must persist.
 *
 * Node names: `struct merkle_node {level, index}` is the complete subtree of 2^level leaves
 * covering leaves [index << level, (index + 1) << level). Level 0 nodes are leaf hashes. The
 * tlog "stored hash index" (merkle_stored_index) orders all nodes in the order appends create
 * them, so a flat array indexed by it is a complete in-memory store.
 *
 * Intended use by the sequencer (storage and HTTP live elsewhere):
 *   1. reader: ledger/tile.h's tile_hash_reader adapts "fetch hash tile <L>/<N>" (a PostgreSQL
 *      row, a file, an HTTP GET) into a merkle_reader; hashes at levels that are not multiples
 *      of 8 are recomputed from the tile below, as C2SP tlog-tiles intends.
 *   2. append: hash the batch's entries (merkle_hash_leaf), call merkle_append() with the tree
 *      size before the batch; it returns the new nodes in stored-index order. Write them into
 *      the tiles tile_list_changed() names (tile_data_build() assembles a tile's bytes from a
 *      reader that sees the new nodes), all in the batch's one transaction.
 *   3. sign: merkle_tree_root() at the new size, then ledger/note.h's checkpoint_format() and
 *      note_sign().
 *   4. proofs for the JSON endpoints: merkle_prove_inclusion / merkle_prove_consistency.
 *
 * Verification: merkle_verify_inclusion and merkle_verify_consistency follow RFC 9162 sections
 * 2.1.3.2 and 2.1.4.2 exactly. A consistency proof from size 0 is rejected there: RFC 9162
 * defines consistency proofs only for 0 < old size (the transparency-dev vectors agree).
 * merkle_verify_checkpoints_consistent() adds the protocol rule of C2SP witnesses on top: an
 * old checkpoint of size 0 is consistent with any later one when its root is the empty-tree
 * hash SHA-256("") and the proof is empty.
 *
 * Invariants: tree sizes are below 2^63 (MERKLE_TREE_SIZE_MAX); proofs hold at most
 * MERKLE_PROOF_HASHES_MAX hashes. Ownership: all buffers are the caller's. Threads: pure
 * functions; a reader is called only from the calling thread.
 */
#ifndef LODE_LEDGER_MERKLE_H
#define LODE_LEDGER_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MERKLE_HASH_BYTES 32
#define MERKLE_PROOF_HASHES_MAX 64
#define MERKLE_TREE_SIZE_MAX (UINT64_C(1) << 62)
/* most nodes one engine call reads: one partial subtree (<= 63 nodes) plus one per level */
#define MERKLE_READ_NODES_MAX 128

struct merkle_node {
    unsigned level;  /* 0 = leaf */
    uint64_t index;  /* position among the nodes of its level */
};

/* Reads hashes of complete subtrees. Every node asked for lies inside the tree size the
 * engine call was given. Fills hashes_out[i] for nodes[i], i < count, and returns LODE_OK,
 * or an error code (LODE_ENOTFOUND, LODE_EIO, ...) that the engine passes up unchanged. */
struct merkle_reader {
    enum lode_code (*read_hashes)(void *ctx, const struct merkle_node *nodes, size_t count,
                                  uint8_t (*hashes_out)[MERKLE_HASH_BYTES]);
    void *ctx;
};

/* RFC 9162 hashes. */
void merkle_hash_leaf(const uint8_t *entry, size_t entry_bytes, uint8_t out[MERKLE_HASH_BYTES]);
void merkle_hash_children(const uint8_t left[MERKLE_HASH_BYTES],
                          const uint8_t right[MERKLE_HASH_BYTES], uint8_t out[MERKLE_HASH_BYTES]);
/* The root of the empty tree, SHA-256 of nothing. */
void merkle_hash_empty(uint8_t out[MERKLE_HASH_BYTES]);

/* tlog stored hash index of a node: nodes in the order appends create them. */
uint64_t merkle_stored_index(unsigned level, uint64_t index);
/* Number of stored hashes (all complete subtrees) of a tree of `size` leaves: 2 size - popcount. */
uint64_t merkle_stored_count(uint64_t size);

/* The root hash of the tree of `size` leaves (the empty-tree hash for 0).
 * Returns LODE_OK, LODE_EINVAL (size too large), or the reader's error. */
enum lode_code merkle_tree_root(const struct merkle_reader *reader, uint64_t size,
                                uint8_t root_out[MERKLE_HASH_BYTES]);

/* The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1), bottom
 * up; proof_out must hold MERKLE_PROOF_HASHES_MAX hashes.
 * Returns LODE_OK, LODE_EINVAL (index >= size, size too large), or the reader's error. */
enum lode_code merkle_prove_inclusion(const struct merkle_reader *reader, uint64_t index,
                                      uint64_t size, uint8_t (*proof_out)[MERKLE_HASH_BYTES],
                                      size_t *count_out);

/* The consistency proof between sizes old_size and new_size (RFC 9162 2.1.4.1); empty when the
 * sizes are equal or old_size is 0. proof_out must hold MERKLE_PROOF_HASHES_MAX hashes.
 * Returns LODE_OK, LODE_EINVAL (old_size > new_size, too large), or the reader's error. */
enum lode_code merkle_prove_consistency(const struct merkle_reader *reader, uint64_t old_size,
                                        uint64_t new_size, uint8_t (*proof_out)[MERKLE_HASH_BYTES],
                                        size_t *count_out);

/* Number of nodes merkle_append() creates when `count` leaves join a tree of `size` leaves. */
uint64_t merkle_append_count(uint64_t size, uint64_t count);

/* Appends `count` leaf hashes to the tree of `size` leaves. Writes every node the append
 * completes (the leaves themselves and their new ancestors), in stored-index order, to
 * nodes_out/hashes_out, which hold `cap` entries (merkle_append_count() is exact).
 * Returns LODE_OK, LODE_EINVAL (tree would exceed MERKLE_TREE_SIZE_MAX, cap too small), or the
 * reader's error. */
enum lode_code merkle_append(const struct merkle_reader *reader, uint64_t size,
                             const uint8_t (*leaves)[MERKLE_HASH_BYTES], size_t count,
                             struct merkle_node *nodes_out,
                             uint8_t (*hashes_out)[MERKLE_HASH_BYTES], size_t cap,
                             size_t *count_out);

/* The nodes a proof or root computation reads, for prefetching (which tiles to fetch):
 * writes at most MERKLE_READ_NODES_MAX nodes. `kind` chooses root (a = size), inclusion
 * (a = index, b = size) or consistency (a = old size, b = new size).
 * Returns LODE_OK or LODE_EINVAL for arguments the matching prove function would refuse. */
enum merkle_plan_kind { MERKLE_PLAN_ROOT, MERKLE_PLAN_INCLUSION, MERKLE_PLAN_CONSISTENCY };
enum lode_code merkle_plan_reads(enum merkle_plan_kind kind, uint64_t a, uint64_t b,
                                 struct merkle_node *nodes_out, size_t *count_out);

/* RFC 9162 2.1.3.2: does `proof` show leaf_hash at `index` in the tree of `size` with `root`? */
bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index,
                             uint64_t size, const uint8_t (*proof)[MERKLE_HASH_BYTES],
                             size_t count, const uint8_t root[MERKLE_HASH_BYTES]);

/* RFC 9162 2.1.4.2: is the tree (new_size, new_root) an extension of (old_size, old_root)?
 * Equal sizes need an empty proof and equal roots; old_size 0 is always rejected. */
bool merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                               const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t count,
                               const uint8_t old_root[MERKLE_HASH_BYTES],
                               const uint8_t new_root[MERKLE_HASH_BYTES]);

/* merkle_verify_consistency plus the checkpoint rule for old size 0: accepted when old_root is
 * the empty-tree hash, the proof is empty and (for new size 0) new_root is the empty-tree hash. */
bool merkle_verify_checkpoints_consistent(uint64_t old_size, uint64_t new_size,
                                          const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t count,
                                          const uint8_t old_root[MERKLE_HASH_BYTES],
                                          const uint8_t new_root[MERKLE_HASH_BYTES]);

/* An in-memory store of every node in stored-index order: the reference store for tests,
 * benchmarks and offline tools (32 bytes per node, about 64 bytes per leaf). */
struct merkle_mem {
    uint8_t (*hashes)[MERKLE_HASH_BYTES];
    uint64_t count, cap; /* stored hashes held and allocated */
    uint64_t size;       /* leaves */
};

void merkle_mem_init(struct merkle_mem *m);
void merkle_mem_fini(struct merkle_mem *m);
/* A reader over the store (valid while m lives and is not appended to concurrently). */
void merkle_mem_reader(struct merkle_mem *m, struct merkle_reader *reader_out);
/* Appends leaf hashes through merkle_append. Returns LODE_OK, LODE_EINVAL or LODE_ENOMEM. */
enum lode_code merkle_mem_append(struct merkle_mem *m, const uint8_t (*leaves)[MERKLE_HASH_BYTES],
                                 size_t count);

#endif
