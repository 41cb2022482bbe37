/*
 * tests/unit/ledger/test_ledger.c — Merkle engine, tiles, signed notes, entries, bundle codec.
 *
 * The property tests build random trees with the engine and check every proof against an
 * independent recursive implementation of RFC 9162's MTH, PATH and PROOF, then tamper with
 * every hash and index of the proof and check that verification fails.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "core/json.h"
#include "core/limits.h"
#include "ledger/bundle_codec.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/tile.h"
#include "test_main.h"

typedef uint8_t hash_t[MERKLE_HASH_BYTES];

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void leaf_for(uint64_t i, uint8_t out[MERKLE_HASH_BYTES])
{
    char entry[64];
    int n = snprintf(entry, sizeof entry, "{\"i\":%llu}", (unsigned long long)i);
    merkle_hash_leaf((const uint8_t *)entry, (size_t)n, out);
}

/* RFC 9162 2.1.1 MTH over leaf hashes, written from the definition. */
static void ref_mth(const hash_t *leaves, uint64_t n, uint8_t out[MERKLE_HASH_BYTES])
{
    uint64_t k = 1;
    uint8_t l[MERKLE_HASH_BYTES], r[MERKLE_HASH_BYTES];

    if (n == 0) {
        merkle_hash_empty(out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], MERKLE_HASH_BYTES);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    ref_mth(leaves, k, l);
    ref_mth(leaves + k, n - k, r);
    merkle_hash_children(l, r, out);
}

/* RFC 9162 2.1.3.1 PATH(m, D[n]). */
static size_t ref_path(uint64_t m, const hash_t *leaves, uint64_t n, hash_t *out)
{
    uint64_t k = 1;
    size_t c;

    if (n <= 1)
        return 0;
    while (k * 2 < n)
        k *= 2;
    if (m < k) {
        c = ref_path(m, leaves, k, out);
        ref_mth(leaves + k, n - k, out[c]);
    } else {
        c = ref_path(m - k, leaves + k, n - k, out);
        ref_mth(leaves, k, out[c]);
    }
    return c + 1;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b). */
static size_t ref_subproof(uint64_t m, const hash_t *leaves, uint64_t n, bool b, hash_t *out)
{
    uint64_t k = 1;
    size_t c;

    if (m == n) {
        if (b)
            return 0;
        ref_mth(leaves, m, out[0]);
        return 1;
    }
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        c = ref_subproof(m, leaves, k, b, out);
        ref_mth(leaves + k, n - k, out[c]);
    } else {
        c = ref_subproof(m - k, leaves + k, n - k, false, out);
        ref_mth(leaves, k, out[c]);
    }
    return c + 1;
}

/* ---- Merkle engine ---------------------------------------------------------------------- */

static void hex_to(const char *hex, uint8_t *out)
{
    size_t n = 0;
    CU_ASSERT_TRUE(hex_decode(hex, strlen(hex), out, MERKLE_HASH_BYTES, &n));
}

static void test_known_answers(void)
{
    /* RFC 6962's reference tree: 8 entries whose root is published in many test suites */
    static const struct {
        const char *data;
        size_t len;
    } entries[] = {
        {"", 0}, {"\x00", 1}, {"\x10", 1}, {"\x20\x21", 2}, {"\x30\x31", 2},
        {"\x40\x41\x42\x43", 4}, {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
        {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
    };
    uint8_t expect[MERKLE_HASH_BYTES], got[MERKLE_HASH_BYTES];
    hash_t leaves[8];
    struct merkle_mem mem;
    struct merkle_reader reader;

    merkle_hash_empty(got);
    hex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", expect);
    CU_ASSERT_EQUAL(memcmp(got, expect, 32), 0);
    merkle_hash_leaf((const uint8_t *)"", 0, got);
    hex_to("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", expect);
    CU_ASSERT_EQUAL(memcmp(got, expect, 32), 0);

    for (int i = 0; i < 8; i++)
        merkle_hash_leaf((const uint8_t *)entries[i].data, entries[i].len, leaves[i]);
    merkle_mem_init(&mem);
    CU_ASSERT_EQUAL(merkle_mem_append(&mem, (const hash_t *)leaves, 8), LODE_OK);
    merkle_mem_reader(&mem, &reader);
    CU_ASSERT_EQUAL(merkle_tree_root(&reader, 8, got), LODE_OK);
    hex_to("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", expect);
    CU_ASSERT_EQUAL(memcmp(got, expect, 32), 0);
    CU_ASSERT_EQUAL(merkle_tree_root(&reader, 0, got), LODE_OK);
    merkle_hash_empty(expect);
    CU_ASSERT_EQUAL(memcmp(got, expect, 32), 0);
    CU_ASSERT_EQUAL(mem.count, merkle_stored_count(8));
    merkle_mem_fini(&mem);
}

static void test_stored_index(void)
{
    /* tlog order: leaves 0,1 then their parent, leaf 2, leaf 3, parent(2,3), parent level 2 */
    CU_ASSERT_EQUAL(merkle_stored_index(0, 0), 0);
    CU_ASSERT_EQUAL(merkle_stored_index(0, 1), 1);
    CU_ASSERT_EQUAL(merkle_stored_index(1, 0), 2);
    CU_ASSERT_EQUAL(merkle_stored_index(0, 2), 3);
    CU_ASSERT_EQUAL(merkle_stored_index(0, 3), 4);
    CU_ASSERT_EQUAL(merkle_stored_index(1, 1), 5);
    CU_ASSERT_EQUAL(merkle_stored_index(2, 0), 6);
    CU_ASSERT_EQUAL(merkle_stored_index(0, 4), 7);
    CU_ASSERT_EQUAL(merkle_stored_count(0), 0);
    CU_ASSERT_EQUAL(merkle_stored_count(5), 8);
    CU_ASSERT_EQUAL(merkle_append_count(3, 1), 3);
}

static bool inclusion_ok(const hash_t *leaves, uint64_t i, uint64_t n, const hash_t *proof,
                         size_t count, const uint8_t *root)
{
    return merkle_verify_inclusion(leaves[i], i, n, proof, count, root);
}

/* Every inclusion proof in a tree of n leaves matches the reference and verifies; tampering
 * with any element, the index or the size breaks it. */
static void check_inclusion_all(struct merkle_reader *reader, const hash_t *leaves, uint64_t n,
                                bool tamper)
{
    uint8_t root[MERKLE_HASH_BYTES];
    hash_t proof[MERKLE_PROOF_HASHES_MAX], ref[MERKLE_PROOF_HASHES_MAX];
    size_t count = 0;

    CU_ASSERT_EQUAL_FATAL(merkle_tree_root(reader, n, root), LODE_OK);
    for (uint64_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL_FATAL(merkle_prove_inclusion(reader, i, n, proof, &count), LODE_OK);
        size_t rc = ref_path(i, leaves, n, ref);
        CU_ASSERT_EQUAL_FATAL(count, rc);
        CU_ASSERT_EQUAL(memcmp(proof, ref, count * MERKLE_HASH_BYTES), 0);
        CU_ASSERT_TRUE_FATAL(inclusion_ok(leaves, i, n, (const hash_t *)proof, count, root));
        if (!tamper)
            continue;
        for (size_t j = 0; j < count; j++) {
            unsigned bit = (unsigned)(rng() % 256);
            proof[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            CU_ASSERT_FALSE(inclusion_ok(leaves, i, n, (const hash_t *)proof, count, root));
            proof[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        if (i + 1 < n)
            CU_ASSERT_FALSE(merkle_verify_inclusion(leaves[i], i + 1, n, (const hash_t *)proof,
                                                    count, root));
        if (i > 0)
            CU_ASSERT_FALSE(merkle_verify_inclusion(leaves[i], i - 1, n, (const hash_t *)proof,
                                                    count, root));
        /* (the tree size is not bound by the proof's hashes, which are the same for many
         * sizes: it is bound by the signed checkpoint that carries the root) */
        CU_ASSERT_FALSE(merkle_verify_inclusion(leaves[i], i ^ 1, n, (const hash_t *)proof,
                                                count, root) && (i ^ 1) != i);
        if (count > 0) {
            CU_ASSERT_FALSE(inclusion_ok(leaves, i, n, (const hash_t *)proof, count - 1, root));
            memcpy(proof[count], proof[0], MERKLE_HASH_BYTES);
            CU_ASSERT_FALSE(inclusion_ok(leaves, i, n, (const hash_t *)proof, count + 1, root));
        }
    }
}

static void check_consistency(struct merkle_reader *reader, const hash_t *leaves, uint64_t m,
                              uint64_t n, bool tamper)
{
    uint8_t r1[MERKLE_HASH_BYTES], r2[MERKLE_HASH_BYTES];
    hash_t proof[MERKLE_PROOF_HASHES_MAX + 1], ref[MERKLE_PROOF_HASHES_MAX];
    size_t count = 0;

    CU_ASSERT_EQUAL_FATAL(merkle_tree_root(reader, m, r1), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(merkle_tree_root(reader, n, r2), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(merkle_prove_consistency(reader, m, n, proof, &count), LODE_OK);
    if (m == 0) {
        CU_ASSERT_EQUAL(count, 0);
        CU_ASSERT_FALSE(merkle_verify_consistency(m, n, (const hash_t *)proof, count, r1, r2));
        CU_ASSERT_TRUE(merkle_verify_checkpoints_consistent(m, n, (const hash_t *)proof, count,
                                                            r1, r2));
        return;
    }
    size_t rc = ref_subproof(m, leaves, n, true, ref);
    CU_ASSERT_EQUAL_FATAL(count, rc);
    CU_ASSERT_EQUAL(memcmp(proof, ref, count * MERKLE_HASH_BYTES), 0);
    CU_ASSERT_TRUE_FATAL(merkle_verify_consistency(m, n, (const hash_t *)proof, count, r1, r2));
    CU_ASSERT_TRUE(merkle_verify_checkpoints_consistent(m, n, (const hash_t *)proof, count, r1,
                                                        r2));
    if (!tamper)
        return;
    for (size_t j = 0; j < count; j++) {
        unsigned bit = (unsigned)(rng() % 256);
        proof[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CU_ASSERT_FALSE(merkle_verify_consistency(m, n, (const hash_t *)proof, count, r1, r2));
        proof[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CU_ASSERT_FALSE(merkle_verify_consistency(m + 1, n, (const hash_t *)proof, count, r1, r2) &&
                    m + 1 != n);
    CU_ASSERT_FALSE(merkle_verify_consistency(m - 1, n, (const hash_t *)proof, count, r1, r2));
    if (count > 0) {
        CU_ASSERT_FALSE(merkle_verify_consistency(m, n, (const hash_t *)proof, count - 1, r1,
                                                  r2));
        memcpy(proof[count], proof[0], MERKLE_HASH_BYTES);
        CU_ASSERT_FALSE(merkle_verify_consistency(m, n, (const hash_t *)proof, count + 1, r1,
                                                  r2));
    }
    /* swapped roots */
    if (memcmp(r1, r2, MERKLE_HASH_BYTES) != 0)
        CU_ASSERT_FALSE(merkle_verify_consistency(m, n, (const hash_t *)proof, count, r2, r1));
}

static void test_small_trees_exhaustive(void)
{
    hash_t leaves[70];
    struct merkle_mem mem;
    struct merkle_reader reader;

    for (uint64_t i = 0; i < 70; i++)
        leaf_for(i, leaves[i]);
    merkle_mem_init(&mem);
    merkle_mem_reader(&mem, &reader);
    for (uint64_t n = 1; n <= 70; n++) {
        CU_ASSERT_EQUAL_FATAL(merkle_mem_append(&mem, (const hash_t *)&leaves[n - 1], 1), LODE_OK);
        uint8_t root[MERKLE_HASH_BYTES], ref[MERKLE_HASH_BYTES];
        CU_ASSERT_EQUAL(merkle_tree_root(&reader, n, root), LODE_OK);
        ref_mth((const hash_t *)leaves, n, ref);
        CU_ASSERT_EQUAL(memcmp(root, ref, 32), 0);
        check_inclusion_all(&reader, (const hash_t *)leaves, n, true);
        for (uint64_t m = 0; m <= n; m++)
            check_consistency(&reader, (const hash_t *)leaves, m, n, true);
    }
    merkle_mem_fini(&mem);
}

static void test_random_trees(void)
{
    const uint64_t max = 3000;
    hash_t *leaves = malloc(max * sizeof *leaves);
    struct merkle_mem mem;
    struct merkle_reader reader;

    for (uint64_t i = 0; i < max; i++)
        leaf_for(i, leaves[i]);
    for (int round = 0; round < 4; round++) {
        uint64_t n = 100 + rng() % (max - 100), size = 0;
        merkle_mem_init(&mem);
        merkle_mem_reader(&mem, &reader);
        /* random batch sizes, as a sequencer would append them */
        while (size < n) {
            uint64_t batch = 1 + rng() % 300;
            if (batch > n - size)
                batch = n - size;
            CU_ASSERT_EQUAL_FATAL(merkle_mem_append(&mem, (const hash_t *)leaves + size, batch),
                                  LODE_OK);
            size += batch;
        }
        CU_ASSERT_EQUAL(mem.count, merkle_stored_count(n));
        check_inclusion_all(&reader, (const hash_t *)leaves, n, round < 2);
        for (int k = 0; k < 300; k++) {
            uint64_t b = 1 + rng() % n, a = rng() % (b + 1);
            check_consistency(&reader, (const hash_t *)leaves, a, b, true);
        }
        merkle_mem_fini(&mem);
    }
    free(leaves);
}

static void test_bad_arguments(void)
{
    struct merkle_mem mem;
    struct merkle_reader reader;
    hash_t leaves[4], proof[MERKLE_PROOF_HASHES_MAX];
    uint8_t empty[32], root[32];
    size_t count;

    for (int i = 0; i < 4; i++)
        leaf_for((uint64_t)i, leaves[i]);
    merkle_mem_init(&mem);
    merkle_mem_reader(&mem, &reader);
    CU_ASSERT_EQUAL(merkle_mem_append(&mem, (const hash_t *)leaves, 4), LODE_OK);
    CU_ASSERT_EQUAL(merkle_prove_inclusion(&reader, 4, 4, proof, &count), LODE_EINVAL);
    CU_ASSERT_EQUAL(merkle_prove_consistency(&reader, 5, 4, proof, &count), LODE_EINVAL);
    /* a size the store does not have is the reader's error, passed up */
    CU_ASSERT_EQUAL(merkle_tree_root(&reader, 5, root), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(merkle_tree_root(&reader, MERKLE_TREE_SIZE_MAX + 1, root), LODE_EINVAL);
    CU_ASSERT_FALSE(merkle_verify_inclusion(leaves[0], 0, 0, (const hash_t *)proof, 0, root));
    CU_ASSERT_FALSE(merkle_verify_inclusion(leaves[0], 0, 1, (const hash_t *)proof,
                                            MERKLE_PROOF_HASHES_MAX + 1, leaves[0]));
    CU_ASSERT_TRUE(merkle_verify_inclusion(leaves[0], 0, 1, (const hash_t *)proof, 0, leaves[0]));
    /* old size 0: rejected by the RFC verifier, accepted with the empty root at protocol level */
    merkle_hash_empty(empty);
    CU_ASSERT_EQUAL(merkle_tree_root(&reader, 4, root), LODE_OK);
    CU_ASSERT_FALSE(merkle_verify_consistency(0, 4, (const hash_t *)proof, 0, empty, root));
    CU_ASSERT_FALSE(merkle_verify_consistency(0, 0, (const hash_t *)proof, 0, empty, empty));
    CU_ASSERT_TRUE(merkle_verify_checkpoints_consistent(0, 4, (const hash_t *)proof, 0, empty,
                                                        root));
    CU_ASSERT_TRUE(merkle_verify_checkpoints_consistent(0, 0, (const hash_t *)proof, 0, empty,
                                                        empty));
    CU_ASSERT_FALSE(merkle_verify_checkpoints_consistent(0, 0, (const hash_t *)proof, 0, empty,
                                                         root));
    CU_ASSERT_FALSE(merkle_verify_checkpoints_consistent(0, 4, (const hash_t *)proof, 0, root,
                                                         root));
    memcpy(proof[0], empty, 32);
    CU_ASSERT_FALSE(merkle_verify_checkpoints_consistent(0, 4, (const hash_t *)proof, 1, empty,
                                                         root));
    merkle_mem_fini(&mem);
}

/* ---- tiles ------------------------------------------------------------------------------ */

static void test_tile_paths(void)
{
    static const struct {
        struct tile_id id;
        const char *path;
    } good[] = {
        {{false, 0, 0, 256}, "tile/0/000"},
        {{false, 0, 1234067, 256}, "tile/0/x001/x234/067"},
        {{false, 1, 5, 8}, "tile/1/005.p/8"},
        {{false, 7, 1000, 255}, "tile/7/x001/000.p/255"},
        {{true, 0, 5, 256}, "tile/entries/005"},
        {{true, 0, 1234067, 3}, "tile/entries/x001/x234/067.p/3"},
    };
    static const char *const bad[] = {
        "", "tile", "tile/", "/tile/0/000", "tile/0/0", "tile/0/0000", "tile/0/x000/001",
        "tile/0/x1/001", "tile/0/001/", "tile/8/000", "tile/01/000", "tile/a/000",
        "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/08", "tile/0/000.p/", "tile/0/000.p",
        "tile/0/000.x/8", "tile/entries/", "tile/entries/000.p/1000", "tile/0/00a",
        "tile/0/x001/x002/x003/x004/x005/x006/x007/008", "tile/1/entries/000",
        "tile/0/X001/000", "tile/0/x001//000", "tile/0/x001x234/067",
    };
    char buf[TILE_PATH_BYTES_MAX];
    struct tile_id t;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CU_ASSERT_EQUAL(tile_path_format(&good[i].id, buf, sizeof buf), LODE_OK);
        CU_ASSERT_STRING_EQUAL(buf, good[i].path);
        CU_ASSERT_EQUAL_FATAL(tile_path_parse(good[i].path, strlen(good[i].path), &t), LODE_OK);
        CU_ASSERT_EQUAL(t.entries, good[i].id.entries);
        CU_ASSERT_EQUAL(t.level, good[i].id.level);
        CU_ASSERT_EQUAL(t.index, good[i].id.index);
        CU_ASSERT_EQUAL(t.width, good[i].id.width);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_NOT_EQUAL(tile_path_parse(bad[i], strlen(bad[i]), &t), LODE_OK);
    memset(buf, '0', sizeof buf);
    CU_ASSERT_EQUAL(tile_path_parse(buf, sizeof buf, &t), LODE_EURITOOLONG);
    t = (struct tile_id){false, 0, 0, 0};
    CU_ASSERT_EQUAL(tile_path_format(&t, buf, sizeof buf), LODE_EINVAL);
    t = (struct tile_id){false, 0, 1234067, 256};
    CU_ASSERT_EQUAL(tile_path_format(&t, buf, 12), LODE_EINVAL);
}

static void test_tile_changed(void)
{
    struct tile_id t[64];
    size_t n = 0;

    /* 0 -> 70000: level 0 tiles 0..273 (273 partial with 112), level 1 tiles 0 (width 17) */
    CU_ASSERT_EQUAL(tile_list_changed(0, 70000, false, t, 64, &n), LODE_EINVAL);
    CU_ASSERT_EQUAL(tile_list_changed(300, 600, true, t, 64, &n), LODE_OK);
    /* level 0: tile 1 grows to full, tile 2 new partial (88); level 1: tile 0 grows 1 -> 2 */
    CU_ASSERT_EQUAL_FATAL(n, 5);
    CU_ASSERT_TRUE(!t[0].entries && t[0].level == 0 && t[0].index == 1 && t[0].width == 256);
    CU_ASSERT_TRUE(t[1].entries && t[1].index == 1 && t[1].width == 256);
    CU_ASSERT_TRUE(!t[2].entries && t[2].level == 0 && t[2].index == 2 && t[2].width == 88);
    CU_ASSERT_TRUE(t[3].entries && t[3].index == 2 && t[3].width == 88);
    CU_ASSERT_TRUE(!t[4].entries && t[4].level == 1 && t[4].index == 0 && t[4].width == 2);
    CU_ASSERT_EQUAL(tile_list_changed(600, 600, true, t, 64, &n), LODE_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(tile_list_changed(601, 600, true, t, 64, &n), LODE_EINVAL);
    CU_ASSERT_EQUAL(tile_list_changed(255, 256, false, t, 64, &n), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_TRUE(t[0].level == 0 && t[0].index == 0 && t[0].width == 256);
    CU_ASSERT_TRUE(t[1].level == 1 && t[1].index == 0 && t[1].width == 1);
}

/* A tile store built from the in-memory tree: tiles as the sequencer would write them. */
struct tile_store {
    struct merkle_mem *mem;
    uint64_t size;
    int fetches;
    bool full_only; /* serve only full tiles (as if partial tiles were pruned) */
};

static enum lode_code store_fetch(void *ctx, const struct tile_id *tile, uint8_t *out, size_t cap,
                                  size_t *len_out)
{
    struct tile_store *s = ctx;
    struct merkle_reader reader;
    struct tile_id t = *tile;

    s->fetches++;
    if (s->full_only) {
        /* the widest tile the store has: a pruned log serves it in place of a partial one */
        uint64_t have = tile_level_hashes(t.level, s->mem->size) - t.index * TILE_WIDTH;
        t.width = have >= TILE_WIDTH ? TILE_WIDTH : (unsigned)have;
    }
    merkle_mem_reader(s->mem, &reader);
    return tile_data_build(&reader, &t, out, cap, len_out);
}

static void test_tile_reader(void)
{
    const uint64_t n = 70000;
    hash_t *leaves = malloc(n * sizeof *leaves);
    struct merkle_mem mem;
    struct merkle_reader direct, tiled;
    struct tile_hash_reader *thr = malloc(sizeof *thr);
    struct tile_store store = {&mem, 0, 0, false};

    for (uint64_t i = 0; i < n; i++)
        leaf_for(i, leaves[i]);
    merkle_mem_init(&mem);
    merkle_mem_reader(&mem, &direct);
    CU_ASSERT_EQUAL_FATAL(merkle_mem_append(&mem, (const hash_t *)leaves, n), LODE_OK);
    for (int k = 0; k < 200; k++) {
        uint64_t size = 1 + rng() % n, idx = rng() % size, old = rng() % (size + 1);
        uint8_t a[32], b[32];
        hash_t p1[MERKLE_PROOF_HASHES_MAX], p2[MERKLE_PROOF_HASHES_MAX];
        size_t c1 = 0, c2 = 0;
        struct merkle_node nodes[MERKLE_READ_NODES_MAX];
        struct tile_id tiles[MERKLE_READ_NODES_MAX];
        size_t nn = 0, nt = 0;

        store.full_only = (k % 2) == 1 && size > 65536;
        tile_hash_reader_init(thr, size, store_fetch, &store, &tiled);
        store.fetches = 0;
        CU_ASSERT_EQUAL(merkle_tree_root(&direct, size, a), LODE_OK);
        CU_ASSERT_EQUAL(merkle_tree_root(&tiled, size, b), LODE_OK);
        CU_ASSERT_EQUAL(memcmp(a, b, 32), 0);
        CU_ASSERT_EQUAL(merkle_prove_inclusion(&direct, idx, size, p1, &c1), LODE_OK);
        CU_ASSERT_EQUAL(merkle_prove_inclusion(&tiled, idx, size, p2, &c2), LODE_OK);
        CU_ASSERT_EQUAL(c1, c2);
        CU_ASSERT_EQUAL(memcmp(p1, p2, c1 * 32), 0);
        CU_ASSERT_EQUAL(merkle_prove_consistency(&direct, old, size, p1, &c1), LODE_OK);
        CU_ASSERT_EQUAL(merkle_prove_consistency(&tiled, old, size, p2, &c2), LODE_OK);
        CU_ASSERT_EQUAL(c1, c2);
        CU_ASSERT_EQUAL(memcmp(p1, p2, c1 * 32), 0);
        /* which tiles a proof needs: few, and they name the widths at that size */
        CU_ASSERT_EQUAL(merkle_plan_reads(MERKLE_PLAN_INCLUSION, idx, size, nodes, &nn), LODE_OK);
        CU_ASSERT_EQUAL(tile_list_for_nodes(nodes, nn, size, tiles, MERKLE_READ_NODES_MAX, &nt),
                        LODE_OK);
        CU_ASSERT_TRUE(nt >= 1 && nt <= 2 * 3);
    }
    /* a tile that is too short is an error, not a crash */
    {
        struct tile_id t = {false, 0, 0, 4};
        struct merkle_node node = {2, 1};
        uint8_t data[4 * 32] = {0}, out[32];
        CU_ASSERT_EQUAL(tile_node_hash(&t, data, sizeof data, &node, out), LODE_EINVAL);
        node.index = 0;
        CU_ASSERT_EQUAL(tile_node_hash(&t, data, sizeof data, &node, out), LODE_OK);
        CU_ASSERT_EQUAL(tile_node_hash(&t, data, 31, &node, out), LODE_EINVAL);
    }
    merkle_mem_fini(&mem);
    free(thr);
    free(leaves);
}

static void test_bundles(void)
{
    struct tile_bundle_entry in[3] = {{(const uint8_t *)"{\"a\":1}", 7},
                                      {(const uint8_t *)"", 0},
                                      {(const uint8_t *)"xyz", 3}};
    struct tile_bundle_entry out[TILE_WIDTH];
    uint8_t buf[64];
    size_t len = 0, n = 0;
    static uint8_t big[70000];

    CU_ASSERT_EQUAL(tile_bundle_encode(in, 3, buf, sizeof buf, &len), LODE_OK);
    CU_ASSERT_EQUAL(len, 2 + 7 + 2 + 2 + 3);
    CU_ASSERT_EQUAL(buf[0], 0);
    CU_ASSERT_EQUAL(buf[1], 7);
    CU_ASSERT_EQUAL(tile_bundle_decode(buf, len, 3, out, TILE_WIDTH, &n), LODE_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(memcmp(out[2].data, "xyz", 3), 0);
    CU_ASSERT_EQUAL(tile_bundle_decode(buf, len, 2, out, TILE_WIDTH, &n), LODE_EINVAL);
    CU_ASSERT_EQUAL(tile_bundle_decode(buf, len - 1, 0, out, TILE_WIDTH, &n), LODE_EINVAL);
    CU_ASSERT_EQUAL(tile_bundle_decode(buf, 1, 0, out, TILE_WIDTH, &n), LODE_EINVAL);
    CU_ASSERT_EQUAL(tile_bundle_decode(buf, len, 0, out, 2, &n), LODE_ETOOBIG);
    CU_ASSERT_EQUAL(tile_bundle_encode(in, 3, buf, 10, &len), LODE_EINVAL);
    in[0].data = big;
    in[0].len = 65536;
    CU_ASSERT_EQUAL(tile_bundle_encode(in, 1, big, sizeof big, &len), LODE_ETOOBIG);
}

/* ---- signed notes ----------------------------------------------------------------------- */

static void test_note_keys(void)
{
    uint8_t seed[32];
    struct note_signer s, s2;
    struct note_verifier v, v2;
    char text[NOTE_KEY_TEXT_BYTES_MAX];
    struct lode_error err;

    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    CU_ASSERT_EQUAL_FATAL(note_signer_create("example.org/log", seed, &s), LODE_OK);
    CU_ASSERT_EQUAL(note_signer_format(&s, text, sizeof text), LODE_OK);
    CU_ASSERT_EQUAL(strncmp(text, "PRIVATE+KEY+example.org/log+", 28), 0);
    CU_ASSERT_EQUAL(note_signer_parse(text, strlen(text), &s2, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(s.secret_key, s2.secret_key, 64), 0);
    note_signer_verifier(&s, &v);
    CU_ASSERT_EQUAL(note_verifier_format(&v, text, sizeof text), LODE_OK);
    CU_ASSERT_EQUAL(note_verifier_parse(text, strlen(text), &v2, &err), LODE_OK);
    CU_ASSERT_EQUAL(v2.key_id, v.key_id);
    CU_ASSERT_EQUAL(memcmp(v2.public_key, v.public_key, 32), 0);
    /* a key id that does not match the key */
    char *plus = strchr(text, '+');
    plus[1] = plus[1] == '0' ? '1' : '0';
    CU_ASSERT_EQUAL(note_verifier_parse(text, strlen(text), &v2, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(note_verifier_parse("name", 4, &v2, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(note_verifier_parse("a b+00000000+AA==", 17, &v2, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(note_verifier_parse("ab+0000000+AA==", 15, &v2, &err), LODE_EINVAL);
    CU_ASSERT_NOT_EQUAL(note_signer_create("a+b", seed, &s2), LODE_OK);
    CU_ASSERT_NOT_EQUAL(note_signer_create("a\xc2\xa0" "b", seed, &s2), LODE_OK); /* NBSP */
    CU_ASSERT_NOT_EQUAL(note_signer_create("", seed, &s2), LODE_OK);
    CU_ASSERT_TRUE(note_name_is_valid("go.sum database tree", 2));
    CU_ASSERT_FALSE(note_name_is_valid("a\xff", 2));
    note_signer_wipe(&s);
    note_signer_wipe(&s2);
}

static void test_note_sign_open(void)
{
    uint8_t seed[32] = {1}, seed2[32] = {2};
    struct note_signer signers[2];
    struct note_verifier v[2];
    struct checkpoint cp, back;
    char text[512], note[LODE_NOTE_BYTES_MAX + 64];
    size_t text_len = 0, note_len = 0, got_len = 0;
    bool verified[2];
    struct lode_error err;

    CU_ASSERT_EQUAL_FATAL(note_signer_create("lode.example/log", seed, &signers[0]), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(note_signer_create("witness", seed2, &signers[1]), LODE_OK);
    note_signer_verifier(&signers[0], &v[0]);
    note_signer_verifier(&signers[1], &v[1]);
    memset(&cp, 0, sizeof cp);
    strcpy(cp.origin, "lode.example/log");
    cp.size = 12345;
    for (int i = 0; i < 32; i++)
        cp.root[i] = (uint8_t)(i * 7);
    strcpy(cp.extensions, "ext one\n");
    cp.extensions_len = 8;
    CU_ASSERT_EQUAL_FATAL(checkpoint_format(&cp, text, sizeof text, &text_len), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(note_sign(text, text_len, signers, 2, note, sizeof note, &note_len),
                          LODE_OK);
    /* both keys known */
    CU_ASSERT_EQUAL(note_open(note, note_len, v, 2, &got_len, verified, &err), LODE_OK);
    CU_ASSERT_EQUAL(got_len, text_len);
    CU_ASSERT_TRUE(verified[0] && verified[1]);
    /* cosignature of an unknown key is ignored */
    CU_ASSERT_EQUAL(checkpoint_open(note, note_len, &v[0], &back, &err), LODE_OK);
    CU_ASSERT_EQUAL(back.size, 12345);
    CU_ASSERT_EQUAL(memcmp(back.root, cp.root, 32), 0);
    CU_ASSERT_STRING_EQUAL(back.origin, "lode.example/log");
    CU_ASSERT_EQUAL(back.extensions_len, 8);
    /* no known key: fails */
    CU_ASSERT_EQUAL(note_open(note, note_len, v, 0, &got_len, NULL, &err), LODE_EVERIFY);
    /* tampered text */
    note[20] ^= 1;
    CU_ASSERT_EQUAL(checkpoint_open(note, note_len, &v[0], &back, &err), LODE_EVERIFY);
    note[20] ^= 1;
    /* tampered signature of the unknown key: still fine for v[0] alone */
    note[note_len - 5] = note[note_len - 5] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(checkpoint_open(note, note_len, &v[0], &back, &err), LODE_OK);
    CU_ASSERT_EQUAL(note_open(note, note_len, v, 2, &got_len, verified, &err), LODE_EVERIFY);
    /* duplicate line, missing blank line, control character, oversize */
    {
        char dup[2048];
        const char *line = strstr(note, "\n\n") + 2;
        size_t first = (size_t)(strchr(line, '\n') + 1 - note);
        memcpy(dup, note, first);
        memcpy(dup + first, line, first - (size_t)(line - note));
        size_t dup_len = first + first - (size_t)(line - note);
        CU_ASSERT_EQUAL(note_open(dup, dup_len, v, 1, &got_len, NULL, &err), LODE_EINVAL);
    }
    CU_ASSERT_EQUAL(note_open("abc\n", 4, v, 1, &got_len, NULL, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(note_open("abc\n\n", 5, v, 1, &got_len, NULL, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(note_open("a\tc\n\n\xe2\x80\x94 x AAAAAAAA\n", 21, v, 1, &got_len, NULL, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(note_open(note, LODE_NOTE_BYTES_MAX + 1, v, 1, &got_len, NULL, &err),
                    LODE_ETOOBIG);
    CU_ASSERT_EQUAL(note_sign("no newline", 10, signers, 1, note, sizeof note, &note_len),
                    LODE_EINVAL);
    /* checkpoint bodies */
#define CP_PARSE(s) checkpoint_parse(s, strlen(s), &back, &err)
    CU_ASSERT_EQUAL(CP_PARSE("o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), LODE_EINVAL);
    CU_ASSERT_EQUAL(CP_PARSE("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), LODE_OK);
    CU_ASSERT_EQUAL(CP_PARSE("o\n1\nAAAA\n"), LODE_EINVAL);
    /* a root with bytes outside the base64 alphabet (found by fuzzing) */
    CU_ASSERT_EQUAL(CP_PARSE("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAA\xe2\x80\x94" "AAAAAAAAAAAAAAA=\n"),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(CP_PARSE("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n"), LODE_EINVAL);
    CU_ASSERT_EQUAL(CP_PARSE("\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), LODE_EINVAL);
    CU_ASSERT_EQUAL(CP_PARSE("o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), LODE_EINVAL);
    CU_ASSERT_EQUAL(CP_PARSE("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), LODE_EINVAL);
    note_signer_wipe(&signers[0]);
    note_signer_wipe(&signers[1]);
}

/* ---- entries and canonical JSON --------------------------------------------------------- */

static void test_entries(void)
{
    static const char *const good =
        "{\"dataset\":7,\"item\":\"sha256:ab\",\"meta\":{\"e\":{},\"l\":[]},"
        "\"sig\":\"x\\u001fy\\n\",\"type\":\"item.contributed\"}";
    static const char *const bad[] = {
        "{\"type\":\"item.contributed\", \"a\":1}",  /* whitespace */
        "{\"type\":\"item.contributed\",\"a\":1}",   /* key order */
        "{\"a\":\"\\u001F\",\"type\":\"item.contributed\"}", /* upper-case escape */
        "{\"a\":\"\\/\",\"type\":\"item.contributed\"}",     /* needless escape */
        "{\"a\":1.5,\"type\":\"item.contributed\"}",
        "{\"a\":9007199254740992,\"type\":\"item.contributed\"}",
        "{\"type\":\"item.unknown\"}",
        "{\"type\":1}",
        "[\"type\"]",
        "{\"type\":\"bond.posted\"}{}",
        "{\"type\":\"bond.posted\",\"type\":\"bond.posted\"}",
        "",
    };
    struct lode_error err;
    size_t type = 99;
    char *big;

    CU_ASSERT_EQUAL(ledger_entry_validate(good, strlen(good), &type, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(ledger_entry_types[type], "item.contributed");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_NOT_EQUAL(ledger_entry_validate(bad[i], strlen(bad[i]), NULL, &err), LODE_OK);
    for (size_t i = 0; ledger_entry_types[i] != NULL; i++) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "{\"type\":\"%s\"}", ledger_entry_types[i]);
        CU_ASSERT_EQUAL(ledger_entry_validate(buf, (size_t)n, &type, &err), LODE_OK);
        CU_ASSERT_EQUAL(type, i);
    }
    /* RFC 8785 3.2.3: sorting by UTF-16 code units puts U+1F600 (D83D) before U+FB01 */
    {
        json_t *v = json_pack("{s:s, s:i, s:i}", "type", "bond.posted", "\xef\xac\x81", 1,
                              "\xf0\x9f\x98\x80", 2);
        char *bytes = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(ledger_entry_encode(v, &bytes, &len, &err), LODE_OK);
        CU_ASSERT_STRING_EQUAL(bytes, "{\"type\":\"bond.posted\",\"\xf0\x9f\x98\x80\":2,"
                                      "\"\xef\xac\x81\":1}");
        CU_ASSERT_EQUAL(ledger_entry_validate(bytes, len, NULL, &err), LODE_OK);
        free(bytes);
        json_decref(v);
    }
    /* the size limit */
    big = malloc(LODE_ENTRY_BYTES_MAX + 2);
    {
        json_t *v = json_object();
        memset(big, 'a', LODE_ENTRY_BYTES_MAX);
        big[LODE_ENTRY_BYTES_MAX - 40] = '\0';
        json_object_set_new(v, "type", json_string("bond.posted"));
        json_object_set_new(v, "pad", json_string(big));
        char *bytes = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL(ledger_entry_encode(v, &bytes, &len, &err), LODE_OK);
        CU_ASSERT_TRUE(len <= LODE_ENTRY_BYTES_MAX);
        free(bytes);
        json_object_set_new(v, "pad2", json_string("0123456789012345678901234567890123456789"));
        CU_ASSERT_EQUAL(ledger_entry_encode(v, &bytes, &len, &err), LODE_ETOOBIG);
        json_decref(v);
    }
    memset(big, ' ', LODE_ENTRY_BYTES_MAX + 1);
    CU_ASSERT_EQUAL(ledger_entry_validate(big, LODE_ENTRY_BYTES_MAX + 1, NULL, &err),
                    LODE_ETOOBIG);
    free(big);
}

/* ---- bundle codec ----------------------------------------------------------------------- */

static size_t synthetic_entry(uint64_t i, char *out, size_t cap)
{
    uint8_t h[32];
    char hex[65];
    merkle_hash_leaf((const uint8_t *)&i, sizeof i, h);
    hex_encode(h, 32, hex);
    return (size_t)snprintf(out, cap,
                            "{\"contributor\":\"acct_%llu\",\"dataset\":%llu,\"item\":\"sha256:%s\","
                            "\"type\":\"item.contributed\"}",
                            (unsigned long long)(i % 97), (unsigned long long)(i % 13), hex);
}

static void test_bundle_codec(void)
{
    enum { N = 512 };
    static char entries[N][200];
    const uint8_t *samples[N];
    size_t lens[N], dict_len = 0, raw_len = 0, packed_len = 0, back_len = 0;
    uint8_t *dict_bytes = NULL;
    struct bundle_dict dict, other;
    struct tile_bundle_entry be[TILE_WIDTH];
    static uint8_t raw[TILE_WIDTH * 210], packed[TILE_WIDTH * 260], back[TILE_WIDTH * 210];
    const struct bundle_dict *dicts[1];
    struct lode_error err;

    for (int i = 0; i < N; i++) {
        lens[i] = synthetic_entry((uint64_t)i, entries[i], sizeof entries[i]);
        samples[i] = (const uint8_t *)entries[i];
    }
    CU_ASSERT_EQUAL_FATAL(bundle_dict_train(samples, lens, N, 4096, &dict_bytes, &dict_len, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL_FATAL(bundle_dict_init(&dict, dict_bytes, dict_len, 1, 19, &err), LODE_OK);
    for (int i = 0; i < TILE_WIDTH; i++) {
        be[i].data = samples[256 + i];
        be[i].len = lens[256 + i];
    }
    CU_ASSERT_EQUAL(tile_bundle_encode(be, TILE_WIDTH, raw, sizeof raw, &raw_len), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(bundle_codec_compress(&dict, 19, raw, raw_len, packed, sizeof packed,
                                                &packed_len), LODE_OK);
    CU_ASSERT_TRUE(packed_len < raw_len / 2);
    dicts[0] = &dict;
    CU_ASSERT_EQUAL(bundle_codec_decompress(dicts, 1, packed, packed_len, back, sizeof back,
                                            &back_len, &err), LODE_OK);
    CU_ASSERT_EQUAL(back_len, raw_len);
    CU_ASSERT_EQUAL(memcmp(back, raw, raw_len), 0);
    /* the cap, an unknown dictionary, corruption */
    CU_ASSERT_EQUAL(bundle_codec_decompress(dicts, 1, packed, packed_len, back, raw_len - 1,
                                            &back_len, &err), LODE_ETOOBIG);
    CU_ASSERT_EQUAL(bundle_codec_decompress(dicts, 0, packed, packed_len, back, sizeof back,
                                            &back_len, &err), LODE_ENOTFOUND);
    packed[packed_len / 2] ^= 0x40;
    CU_ASSERT_NOT_EQUAL(bundle_codec_decompress(dicts, 1, packed, packed_len, back, sizeof back,
                                                &back_len, &err), LODE_OK);
    CU_ASSERT_EQUAL(bundle_codec_decompress(dicts, 1, packed, 10, back, sizeof back, &back_len,
                                            &err), LODE_EINVAL);
    /* without a dictionary */
    CU_ASSERT_EQUAL(bundle_codec_compress(NULL, 3, raw, raw_len, packed, sizeof packed,
                                          &packed_len), LODE_OK);
    CU_ASSERT_EQUAL(bundle_codec_decompress(NULL, 0, packed, packed_len, back, sizeof back,
                                            &back_len, &err), LODE_OK);
    CU_ASSERT_EQUAL(back_len, raw_len);
    /* content addressing: the same bytes give the same id, other bytes another */
    CU_ASSERT_EQUAL(bundle_dict_init(&other, dict_bytes, dict_len - 1, 2, 19, &err) == LODE_OK &&
                        memcmp(other.id, dict.id, 32) == 0,
                    false);
    if (other.bytes != NULL)
        bundle_dict_fini(&other);
    bundle_dict_fini(&dict);
    free(dict_bytes);
}

int main(void)
{
    static const struct test_case merkle_cases[] = {
        {"known answers", test_known_answers},
        {"stored index", test_stored_index},
        {"small trees exhaustive", test_small_trees_exhaustive},
        {"random trees", test_random_trees},
        {"bad arguments", test_bad_arguments},
        {NULL, NULL},
    };
    static const struct test_case tile_cases[] = {
        {"paths", test_tile_paths},
        {"changed tiles", test_tile_changed},
        {"tile reader", test_tile_reader},
        {"bundles", test_bundles},
        {NULL, NULL},
    };
    static const struct test_case note_cases[] = {
        {"keys", test_note_keys},
        {"sign and open", test_note_sign_open},
        {NULL, NULL},
    };
    static const struct test_case entry_cases[] = {
        {"entries", test_entries},
        {"bundle codec", test_bundle_codec},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"ledger merkle", merkle_cases},
        {"ledger tile", tile_cases},
        {"ledger note", note_cases},
        {"ledger entry", entry_cases},
        {NULL, NULL},
    };
    if (sodium_init() < 0)
        return 2;
    return test_main(suites);
}
