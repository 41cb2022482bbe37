/*
 * dedupe/index.c — in-memory LSH band index: a linear-probing multimap from 64-bit band keys to
 * 32-bit item ids, 12 bytes per slot, kept at most 70% full. Entries under one key lie in one
 * probe run, so a lookup walks that run; at most DEDUPE_BUCKET_MAX ids are kept per key, which
 * bounds the walk when many items share boilerplate bands.
 */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "dedupe/dedupe.h"

struct dedupe_index {
    uint64_t *keys;
    uint32_t *ids; /* id + 1; 0 = empty slot */
    size_t mask;   /* capacity - 1, capacity a power of two */
    unsigned shift;
    size_t entries;
    uint32_t *found; /* candidate buffer */
    size_t found_cap;
};

static size_t slot_of(const struct dedupe_index *idx, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> idx->shift);
}

static void tables_alloc(struct dedupe_index *idx, size_t capacity)
{
    unsigned bits = 0;

    while (((size_t)1 << bits) < capacity)
        bits++;
    idx->keys = malloc(capacity * sizeof *idx->keys);
    idx->ids = calloc(capacity, sizeof *idx->ids);
    if (idx->keys == NULL || idx->ids == NULL)
        abort(); /* process-level out of memory (STYLE.md) */
    idx->mask = capacity - 1;
    idx->shift = 64 - bits;
}

static void place(struct dedupe_index *idx, uint64_t key, uint32_t id_plus_one)
{
    size_t s = slot_of(idx, key);

    while (idx->ids[s] != 0)
        s = (s + 1) & idx->mask;
    idx->keys[s] = key;
    idx->ids[s] = id_plus_one;
}

static void rehash(struct dedupe_index *idx)
{
    uint64_t *old_keys = idx->keys;
    uint32_t *old_ids = idx->ids;
    size_t old_cap = idx->mask + 1;

    tables_alloc(idx, old_cap * 2);
    for (size_t s = 0; s < old_cap; s++)
        if (old_ids[s] != 0)
            place(idx, old_keys[s], old_ids[s]);
    free(old_keys);
    free(old_ids);
}

struct dedupe_index *dedupe_index_create(size_t expected_keys)
{
    struct dedupe_index *idx = calloc(1, sizeof *idx);
    size_t cap = 1024;

    if (idx == NULL)
        abort();
    if (expected_keys > LODE_DEDUPE_INDEX_KEYS_MAX)
        expected_keys = LODE_DEDUPE_INDEX_KEYS_MAX;
    while (cap / 10 * 7 < expected_keys)
        cap *= 2;
    tables_alloc(idx, cap);
    return idx;
}

void dedupe_index_destroy(struct dedupe_index *idx)
{
    if (idx == NULL)
        return;
    free(idx->keys);
    free(idx->ids);
    free(idx->found);
    free(idx);
}

enum lode_code dedupe_index_insert(struct dedupe_index *idx, uint32_t id, const uint64_t *keys,
                                   size_t n, struct lode_error *err)
{
    if (id == UINT32_MAX)
        return lode_error_set(err, LODE_EINVAL, "item id %u is out of range", id);
    if (idx->entries + n > LODE_DEDUPE_INDEX_KEYS_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "band index is full (%u entries)",
                              (unsigned)LODE_DEDUPE_INDEX_KEYS_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t s, same = 0;

        if ((idx->entries + 1) * 10 > (idx->mask + 1) * 7)
            rehash(idx);
        s = slot_of(idx, keys[i]);
        while (idx->ids[s] != 0) {
            if (idx->keys[s] == keys[i] && ++same >= DEDUPE_BUCKET_MAX)
                break;
            s = (s + 1) & idx->mask;
        }
        if (idx->ids[s] != 0)
            continue; /* bucket full */
        idx->keys[s] = keys[i];
        idx->ids[s] = id + 1;
        idx->entries++;
    }
    return LODE_OK;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

void dedupe_index_candidates(struct dedupe_index *idx, const uint64_t *keys, size_t n,
                             const uint32_t **ids_out, size_t *count_out)
{
    size_t count = 0, w = 0;

    for (size_t i = 0; i < n; i++) {
        size_t s = slot_of(idx, keys[i]);
        while (idx->ids[s] != 0) {
            if (idx->keys[s] == keys[i]) {
                if (count == idx->found_cap) {
                    idx->found_cap = idx->found_cap ? idx->found_cap * 2 : 64;
                    idx->found = realloc(idx->found, idx->found_cap * sizeof *idx->found);
                    if (idx->found == NULL)
                        abort();
                }
                idx->found[count++] = idx->ids[s] - 1;
            }
            s = (s + 1) & idx->mask;
        }
    }
    if (count > 1) {
        qsort(idx->found, count, sizeof *idx->found, cmp_u32);
        for (size_t i = 1; i < count; i++)
            if (idx->found[i] != idx->found[w])
                idx->found[++w] = idx->found[i];
        count = w + 1;
    }
    *ids_out = idx->found;
    *count_out = count;
}

size_t dedupe_index_entries(const struct dedupe_index *idx)
{
    return idx->entries;
}

size_t dedupe_index_bytes(const struct dedupe_index *idx)
{
    return (idx->mask + 1) * (sizeof *idx->keys + sizeof *idx->ids) +
           idx->found_cap * sizeof *idx->found + sizeof *idx;
}
