/*
 * ledger/merkle.c — RFC 9162 hashing, roots, proofs and appends over a merkle_reader.
 *
 * Every computation first plans which complete subtrees it needs (a "range" of leaves per
 * proof element, each range split into aligned complete subtrees), reads them in one batch,
 * then folds each range into its hash. Ranges produced by the RFC's recursion always start at
 * a multiple of the next power of two at or above their length, so the greedy split into
 * aligned subtrees is exactly the RFC's left-heavy tree.
 */
#include "ledger/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct range {
    uint64_t lo, hi;
    size_t first, count; /* slice of plan.nodes */
};

struct plan {
    struct range ranges[MERKLE_PROOF_HASHES_MAX];
    size_t range_count;
    struct merkle_node nodes[MERKLE_READ_NODES_MAX];
    size_t node_count;
};

void merkle_hash_leaf(const uint8_t *entry, size_t entry_bytes, uint8_t out[MERKLE_HASH_BYTES])
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (entry_bytes > 0)
        crypto_hash_sha256_update(&st, entry, entry_bytes);
    crypto_hash_sha256_final(&st, out);
}

void merkle_hash_children(const uint8_t left[MERKLE_HASH_BYTES],
                          const uint8_t right[MERKLE_HASH_BYTES], uint8_t out[MERKLE_HASH_BYTES])
{
    uint8_t buf[1 + 2 * MERKLE_HASH_BYTES];

    buf[0] = 0x01;
    memcpy(buf + 1, left, MERKLE_HASH_BYTES);
    memcpy(buf + 1 + MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void merkle_hash_empty(uint8_t out[MERKLE_HASH_BYTES])
{
    static const uint8_t nothing[1] = {0};
    crypto_hash_sha256(out, nothing, 0);
}

uint64_t merkle_stored_count(uint64_t size)
{
    return 2 * size - (uint64_t)__builtin_popcountll(size);
}

uint64_t merkle_stored_index(unsigned level, uint64_t index)
{
    /* the node is created right after its last leaf, above the nodes of lower levels */
    uint64_t last_leaf = ((index + 1) << level) - 1;
    return merkle_stored_count(last_leaf) + level;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* Appends range [lo, hi) and its aligned complete subtrees to the plan. */
static bool plan_range(struct plan *p, uint64_t lo, uint64_t hi)
{
    struct range *r;

    if (p->range_count >= MERKLE_PROOF_HASHES_MAX)
        return false;
    r = &p->ranges[p->range_count++];
    r->lo = lo;
    r->hi = hi;
    r->first = p->node_count;
    while (lo < hi) {
        unsigned align = lo == 0 ? 63 : (unsigned)__builtin_ctzll(lo);
        unsigned fit = 63 - (unsigned)__builtin_clzll(hi - lo);
        unsigned level = align < fit ? align : fit;
        if (p->node_count >= MERKLE_READ_NODES_MAX)
            return false;
        p->nodes[p->node_count].level = level;
        p->nodes[p->node_count].index = lo >> level;
        p->node_count++;
        lo += UINT64_C(1) << level;
    }
    r->count = p->node_count - r->first;
    return true;
}

static void reverse_ranges(struct plan *p)
{
    for (size_t i = 0, j = p->range_count; i + 1 < j; i++, j--) {
        struct range t = p->ranges[i];
        p->ranges[i] = p->ranges[j - 1];
        p->ranges[j - 1] = t;
    }
}

static enum lode_code plan_root(struct plan *p, uint64_t size)
{
    memset(p, 0, sizeof *p);
    if (size > MERKLE_TREE_SIZE_MAX)
        return LODE_EINVAL;
    if (size > 0 && !plan_range(p, 0, size))
        return LODE_EINTERNAL;
    return LODE_OK;
}

/* RFC 9162 2.1.3.1 PATH(m, D[n]), elements bottom-up. */
static enum lode_code plan_inclusion(struct plan *p, uint64_t index, uint64_t size)
{
    uint64_t lo = 0, hi = size;

    memset(p, 0, sizeof *p);
    if (size > MERKLE_TREE_SIZE_MAX || index >= size)
        return LODE_EINVAL;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        bool ok;
        if (index - lo < k) {
            ok = plan_range(p, lo + k, hi);
            hi = lo + k;
        } else {
            ok = plan_range(p, lo, lo + k);
            lo += k;
        }
        if (!ok)
            return LODE_EINTERNAL;
    }
    reverse_ranges(p);
    return LODE_OK;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[n], true), elements in proof order. */
static enum lode_code plan_consistency(struct plan *p, uint64_t old_size, uint64_t new_size)
{
    uint64_t lo = 0, hi = new_size, m = old_size;
    bool whole = true;

    memset(p, 0, sizeof *p);
    if (new_size > MERKLE_TREE_SIZE_MAX || old_size > new_size)
        return LODE_EINVAL;
    if (old_size == 0 || old_size == new_size)
        return LODE_OK;
    for (;;) {
        uint64_t len = hi - lo;
        bool ok = true;
        if (m == len) {
            if (!whole)
                ok = plan_range(p, lo, hi);
            if (!ok)
                return LODE_EINTERNAL;
            break;
        }
        uint64_t k = split_point(len);
        if (m <= k) {
            ok = plan_range(p, lo + k, hi);
            hi = lo + k;
        } else {
            ok = plan_range(p, lo, lo + k);
            m -= k;
            lo += k;
            whole = false;
        }
        if (!ok)
            return LODE_EINTERNAL;
    }
    reverse_ranges(p);
    return LODE_OK;
}

/* Reads the plan's nodes and folds each range into out[i]. */
static enum lode_code plan_run(const struct plan *p, const struct merkle_reader *reader,
                               uint8_t (*out)[MERKLE_HASH_BYTES])
{
    uint8_t hashes[MERKLE_READ_NODES_MAX][MERKLE_HASH_BYTES];
    enum lode_code rc;

    if (p->node_count > 0) {
        rc = reader->read_hashes(reader->ctx, p->nodes, p->node_count, hashes);
        if (rc != LODE_OK)
            return rc;
    }
    for (size_t i = 0; i < p->range_count; i++) {
        const struct range *r = &p->ranges[i];
        uint8_t h[MERKLE_HASH_BYTES];
        memcpy(h, hashes[r->first + r->count - 1], MERKLE_HASH_BYTES);
        for (size_t j = r->count - 1; j-- > 0;)
            merkle_hash_children(hashes[r->first + j], h, h);
        memcpy(out[i], h, MERKLE_HASH_BYTES);
    }
    return LODE_OK;
}

enum lode_code merkle_tree_root(const struct merkle_reader *reader, uint64_t size,
                                uint8_t root_out[MERKLE_HASH_BYTES])
{
    struct plan p;
    enum lode_code rc = plan_root(&p, size);

    if (rc != LODE_OK)
        return rc;
    if (size == 0) {
        merkle_hash_empty(root_out);
        return LODE_OK;
    }
    return plan_run(&p, reader, (uint8_t(*)[MERKLE_HASH_BYTES])root_out);
}

enum lode_code merkle_prove_inclusion(const struct merkle_reader *reader, uint64_t index,
                                      uint64_t size, uint8_t (*proof_out)[MERKLE_HASH_BYTES],
                                      size_t *count_out)
{
    struct plan p;
    enum lode_code rc = plan_inclusion(&p, index, size);

    if (rc == LODE_OK)
        rc = plan_run(&p, reader, proof_out);
    if (rc == LODE_OK)
        *count_out = p.range_count;
    return rc;
}

enum lode_code merkle_prove_consistency(const struct merkle_reader *reader, uint64_t old_size,
                                        uint64_t new_size, uint8_t (*proof_out)[MERKLE_HASH_BYTES],
                                        size_t *count_out)
{
    struct plan p;
    enum lode_code rc = plan_consistency(&p, old_size, new_size);

    if (rc == LODE_OK)
        rc = plan_run(&p, reader, proof_out);
    if (rc == LODE_OK)
        *count_out = p.range_count;
    return rc;
}

enum lode_code merkle_plan_reads(enum merkle_plan_kind kind, uint64_t a, uint64_t b,
                                 struct merkle_node *nodes_out, size_t *count_out)
{
    struct plan p;
    enum lode_code rc;

    switch (kind) {
    case MERKLE_PLAN_ROOT: rc = plan_root(&p, a); break;
    case MERKLE_PLAN_INCLUSION: rc = plan_inclusion(&p, a, b); break;
    case MERKLE_PLAN_CONSISTENCY: rc = plan_consistency(&p, a, b); break;
    default: return LODE_EINVAL;
    }
    if (rc != LODE_OK)
        return rc;
    memcpy(nodes_out, p.nodes, p.node_count * sizeof p.nodes[0]);
    *count_out = p.node_count;
    return LODE_OK;
}

uint64_t merkle_append_count(uint64_t size, uint64_t count)
{
    return merkle_stored_count(size + count) - merkle_stored_count(size);
}

enum lode_code merkle_append(const struct merkle_reader *reader, uint64_t size,
                             const uint8_t (*leaves)[MERKLE_HASH_BYTES], size_t count,
                             struct merkle_node *nodes_out,
                             uint8_t (*hashes_out)[MERKLE_HASH_BYTES], size_t cap,
                             size_t *count_out)
{
    /* the frontier: the complete subtrees of the current tree, levels strictly decreasing */
    struct merkle_node stack[65];
    uint8_t stack_hash[65][MERKLE_HASH_BYTES];
    size_t depth = 0, written = 0;
    struct plan p;
    enum lode_code rc;

    if (size > MERKLE_TREE_SIZE_MAX || count > MERKLE_TREE_SIZE_MAX - size)
        return LODE_EINVAL;
    if (merkle_append_count(size, count) > cap)
        return LODE_EINVAL;
    rc = plan_root(&p, size);
    if (rc != LODE_OK)
        return rc;
    if (p.node_count > 0) {
        rc = reader->read_hashes(reader->ctx, p.nodes, p.node_count, stack_hash);
        if (rc != LODE_OK)
            return rc;
        memcpy(stack, p.nodes, p.node_count * sizeof stack[0]);
        depth = p.node_count;
    }
    for (size_t i = 0; i < count; i++) {
        stack[depth].level = 0;
        stack[depth].index = size + i;
        memcpy(stack_hash[depth], leaves[i], MERKLE_HASH_BYTES);
        depth++;
        nodes_out[written] = stack[depth - 1];
        memcpy(hashes_out[written], leaves[i], MERKLE_HASH_BYTES);
        written++;
        while (depth >= 2 && stack[depth - 2].level == stack[depth - 1].level) {
            struct merkle_node parent = {stack[depth - 1].level + 1, stack[depth - 1].index >> 1};
            merkle_hash_children(stack_hash[depth - 2], stack_hash[depth - 1],
                                 stack_hash[depth - 2]);
            stack[depth - 2] = parent;
            depth--;
            nodes_out[written] = parent;
            memcpy(hashes_out[written], stack_hash[depth - 1], MERKLE_HASH_BYTES);
            written++;
        }
    }
    *count_out = written;
    return LODE_OK;
}

static bool hash_equal(const uint8_t a[MERKLE_HASH_BYTES], const uint8_t b[MERKLE_HASH_BYTES])
{
    return memcmp(a, b, MERKLE_HASH_BYTES) == 0;
}

bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index,
                             uint64_t size, const uint8_t (*proof)[MERKLE_HASH_BYTES],
                             size_t count, const uint8_t root[MERKLE_HASH_BYTES])
{
    uint8_t r[MERKLE_HASH_BYTES];
    uint64_t fn, sn;

    if (index >= size || count > MERKLE_PROOF_HASHES_MAX)
        return false;
    fn = index;
    sn = size - 1;
    memcpy(r, leaf_hash, MERKLE_HASH_BYTES);
    for (size_t i = 0; i < count; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            merkle_hash_children(proof[i], r, r);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_hash_children(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && hash_equal(r, root);
}

bool merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                               const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t count,
                               const uint8_t old_root[MERKLE_HASH_BYTES],
                               const uint8_t new_root[MERKLE_HASH_BYTES])
{
    uint8_t fr[MERKLE_HASH_BYTES], sr[MERKLE_HASH_BYTES];
    uint64_t fn, sn;
    bool power_of_two;
    size_t n;

    if (old_size == 0 || old_size > new_size || count > MERKLE_PROOF_HASHES_MAX)
        return false;
    if (old_size == new_size)
        return count == 0 && hash_equal(old_root, new_root);
    if (count == 0)
        return false;
    /* RFC step 2: a power-of-two old size prepends old_root to the path */
    power_of_two = (old_size & (old_size - 1)) == 0;
    n = count + (power_of_two ? 1 : 0);
#define ELEMENT(i) (power_of_two ? ((i) == 0 ? old_root : proof[(i) - 1]) : proof[(i)])
    fn = old_size - 1;
    sn = new_size - 1;
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, ELEMENT(0), MERKLE_HASH_BYTES);
    memcpy(sr, ELEMENT(0), MERKLE_HASH_BYTES);
    for (size_t i = 1; i < n; i++) {
        const uint8_t *c = ELEMENT(i);
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            merkle_hash_children(c, fr, fr);
            merkle_hash_children(c, sr, sr);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_hash_children(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
#undef ELEMENT
    return sn == 0 && hash_equal(fr, old_root) && hash_equal(sr, new_root);
}

bool merkle_verify_checkpoints_consistent(uint64_t old_size, uint64_t new_size,
                                          const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t count,
                                          const uint8_t old_root[MERKLE_HASH_BYTES],
                                          const uint8_t new_root[MERKLE_HASH_BYTES])
{
    uint8_t empty[MERKLE_HASH_BYTES];

    if (old_size != 0)
        return merkle_verify_consistency(old_size, new_size, proof, count, old_root, new_root);
    merkle_hash_empty(empty);
    if (count != 0 || !hash_equal(old_root, empty))
        return false;
    return new_size != 0 || hash_equal(new_root, empty);
}

void merkle_mem_init(struct merkle_mem *m)
{
    memset(m, 0, sizeof *m);
}

void merkle_mem_fini(struct merkle_mem *m)
{
    free(m->hashes);
    memset(m, 0, sizeof *m);
}

static enum lode_code mem_read(void *ctx, const struct merkle_node *nodes, size_t count,
                               uint8_t (*hashes_out)[MERKLE_HASH_BYTES])
{
    const struct merkle_mem *m = ctx;

    for (size_t i = 0; i < count; i++) {
        if (nodes[i].level >= 63 || nodes[i].index >= (UINT64_C(1) << (63 - nodes[i].level)) ||
            ((nodes[i].index + 1) << nodes[i].level) > m->size)
            return LODE_ENOTFOUND;
        memcpy(hashes_out[i], m->hashes[merkle_stored_index(nodes[i].level, nodes[i].index)],
               MERKLE_HASH_BYTES);
    }
    return LODE_OK;
}

void merkle_mem_reader(struct merkle_mem *m, struct merkle_reader *reader_out)
{
    reader_out->read_hashes = mem_read;
    reader_out->ctx = m;
}

enum lode_code merkle_mem_append(struct merkle_mem *m, const uint8_t (*leaves)[MERKLE_HASH_BYTES],
                                 size_t count)
{
    struct merkle_reader reader;
    struct merkle_node *nodes;
    uint64_t need;
    size_t written = 0;
    enum lode_code rc;

    if (m->size > MERKLE_TREE_SIZE_MAX || count > MERKLE_TREE_SIZE_MAX - m->size)
        return LODE_EINVAL;
    need = merkle_append_count(m->size, count);
    if (m->count + need > m->cap) {
        uint64_t cap = m->cap == 0 ? 64 : m->cap;
        while (cap < m->count + need)
            cap *= 2;
        void *p = realloc(m->hashes, (size_t)cap * MERKLE_HASH_BYTES);
        if (p == NULL)
            return LODE_ENOMEM;
        m->hashes = p;
        m->cap = cap;
    }
    nodes = malloc((size_t)(need > 0 ? need : 1) * sizeof *nodes);
    if (nodes == NULL)
        return LODE_ENOMEM;
    merkle_mem_reader(m, &reader);
    rc = merkle_append(&reader, m->size, leaves, count, nodes, m->hashes + m->count, (size_t)need,
                       &written);
    free(nodes);
    if (rc != LODE_OK)
        return rc;
    m->count += written;
    m->size += count;
    return LODE_OK;
}
