/*
 * ledger/tile.c — tile paths, tile data, the tile-backed hash reader and entry bundles.
 */
#include "ledger/tile.h"

#include <stdio.h>
#include <string.h>

/* Writes N in the x001/x234/067 encoding. Returns bytes written or 0 on overflow of cap. */
static size_t format_index(uint64_t n, char *out, size_t cap)
{
    unsigned groups[8];
    size_t count = 0, len = 0;

    do {
        groups[count++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n > 0);
    while (count > 0) {
        count--;
        int w = snprintf(out + len, cap - len, count > 0 ? "x%03u/" : "%03u", groups[count]);
        if (w < 0 || (size_t)w >= cap - len)
            return 0;
        len += (size_t)w;
    }
    return len;
}

enum lode_code tile_path_format(const struct tile_id *tile, char *out, size_t cap)
{
    size_t len;
    int w;

    if (tile->width < 1 || tile->width > TILE_WIDTH || tile->level > TILE_LEVEL_MAX ||
        (tile->entries && tile->level != 0) || cap == 0)
        return LODE_EINVAL;
    if (tile->entries)
        w = snprintf(out, cap, "tile/entries/");
    else
        w = snprintf(out, cap, "tile/%u/", tile->level);
    if (w < 0 || (size_t)w >= cap)
        return LODE_EINVAL;
    len = (size_t)w;
    size_t n = format_index(tile->index, out + len, cap - len);
    if (n == 0)
        return LODE_EINVAL;
    len += n;
    if (tile->width < TILE_WIDTH) {
        w = snprintf(out + len, cap - len, ".p/%u", tile->width);
        if (w < 0 || (size_t)w >= cap - len)
            return LODE_EINVAL;
    }
    return LODE_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum lode_code tile_path_parse(const char *path, size_t path_len, struct tile_id *tile_out)
{
    struct tile_id t = {0};
    char canonical[TILE_PATH_BYTES_MAX];
    size_t i;
    uint64_t n = 0;

    if (path_len >= TILE_PATH_BYTES_MAX)
        return LODE_EURITOOLONG;
    if (path_len < 5 || memcmp(path, "tile/", 5) != 0)
        return LODE_EINVAL;
    i = 5;
    if (path_len - i >= 8 && memcmp(path + i, "entries/", 8) == 0) {
        t.entries = true;
        i += 8;
    } else {
        if (i >= path_len || !is_digit(path[i]) || i + 1 >= path_len || path[i + 1] != '/')
            return LODE_EINVAL;
        t.level = (unsigned)(path[i] - '0');
        if (t.level > TILE_LEVEL_MAX)
            return LODE_EINVAL;
        i += 2;
    }
    /* groups "xDDD/" then a final "DDD" */
    for (int groups = 0;; groups++) {
        bool more = i < path_len && path[i] == 'x';
        if (groups >= 7)
            return LODE_EINVAL;
        if (more)
            i++;
        if (path_len - i < 3 || !is_digit(path[i]) || !is_digit(path[i + 1]) ||
            !is_digit(path[i + 2]))
            return LODE_EINVAL;
        n = n * 1000 + (uint64_t)((path[i] - '0') * 100 + (path[i + 1] - '0') * 10 +
                                  (path[i + 2] - '0'));
        i += 3;
        if (!more)
            break;
        if (i >= path_len || path[i] != '/')
            return LODE_EINVAL;
        i++;
    }
    t.index = n;
    t.width = TILE_WIDTH;
    if (i < path_len) {
        unsigned w = 0;
        if (path_len - i < 4 || memcmp(path + i, ".p/", 3) != 0)
            return LODE_EINVAL;
        i += 3;
        if (path_len - i > 3)
            return LODE_EINVAL;
        for (; i < path_len; i++) {
            if (!is_digit(path[i]))
                return LODE_EINVAL;
            w = w * 10 + (unsigned)(path[i] - '0');
        }
        if (w < 1 || w >= TILE_WIDTH)
            return LODE_EINVAL;
        t.width = w;
    }
    /* the only accepted spelling is the canonical one (no x000 groups, no leading zeros) */
    if (tile_path_format(&t, canonical, sizeof canonical) != LODE_OK ||
        strlen(canonical) != path_len || memcmp(canonical, path, path_len) != 0)
        return LODE_EINVAL;
    *tile_out = t;
    return LODE_OK;
}

uint64_t tile_level_hashes(unsigned level, uint64_t tree_size)
{
    unsigned shift = level * TILE_HEIGHT;
    return shift >= 64 ? 0 : tree_size >> shift;
}

enum lode_code tile_for_node(const struct merkle_node *node, uint64_t tree_size,
                             struct tile_id *tile_out)
{
    unsigned level = node->level / TILE_HEIGHT, k = node->level % TILE_HEIGHT;
    uint64_t first, tile_index, have;

    if (node->level >= 63 || node->index >= (UINT64_C(1) << (63 - node->level)) ||
        ((node->index + 1) << node->level) > tree_size)
        return LODE_EINVAL;
    first = node->index << k; /* first hash of level 8L under the node */
    tile_index = first / TILE_WIDTH;
    have = tile_level_hashes(level, tree_size) - tile_index * TILE_WIDTH;
    tile_out->entries = false;
    tile_out->level = level;
    tile_out->index = tile_index;
    tile_out->width = have >= TILE_WIDTH ? TILE_WIDTH : (unsigned)have;
    return LODE_OK;
}

static bool tile_equal(const struct tile_id *a, const struct tile_id *b)
{
    return a->entries == b->entries && a->level == b->level && a->index == b->index &&
           a->width == b->width;
}

enum lode_code tile_list_for_nodes(const struct merkle_node *nodes, size_t count,
                                   uint64_t tree_size, struct tile_id *tiles_out, size_t cap,
                                   size_t *count_out)
{
    size_t n = 0;

    for (size_t i = 0; i < count; i++) {
        struct tile_id t;
        bool seen = false;
        if (tile_for_node(&nodes[i], tree_size, &t) != LODE_OK)
            return LODE_EINVAL;
        for (size_t j = 0; j < n && !seen; j++)
            seen = tile_equal(&tiles_out[j], &t);
        if (seen)
            continue;
        if (n >= cap)
            return LODE_EINVAL;
        tiles_out[n++] = t;
    }
    *count_out = n;
    return LODE_OK;
}

enum lode_code tile_list_changed(uint64_t old_size, uint64_t new_size, bool with_entries,
                                 struct tile_id *tiles_out, size_t cap, size_t *count_out)
{
    size_t n = 0;

    if (old_size > new_size || new_size > MERKLE_TREE_SIZE_MAX)
        return LODE_EINVAL;
    for (unsigned level = 0; level <= TILE_LEVEL_MAX; level++) {
        uint64_t before = tile_level_hashes(level, old_size);
        uint64_t after = tile_level_hashes(level, new_size);
        if (after == before)
            break; /* higher levels cannot change either */
        for (uint64_t i = before / TILE_WIDTH; i <= (after - 1) / TILE_WIDTH; i++) {
            uint64_t have = after - i * TILE_WIDTH;
            unsigned width = have >= TILE_WIDTH ? TILE_WIDTH : (unsigned)have;
            for (int e = 0; e < (level == 0 && with_entries ? 2 : 1); e++) {
                if (n >= cap)
                    return LODE_EINVAL;
                tiles_out[n].entries = e == 1;
                tiles_out[n].level = level;
                tiles_out[n].index = i;
                tiles_out[n].width = width;
                n++;
            }
        }
    }
    *count_out = n;
    return LODE_OK;
}

enum lode_code tile_data_build(const struct merkle_reader *reader, const struct tile_id *tile,
                               uint8_t *out, size_t cap, size_t *len_out)
{
    struct merkle_node nodes[TILE_WIDTH];
    size_t len;
    enum lode_code rc;

    if (tile->entries || tile->level > TILE_LEVEL_MAX || tile->width < 1 ||
        tile->width > TILE_WIDTH || tile->index > (UINT64_C(1) << 54))
        return LODE_EINVAL;
    len = (size_t)tile->width * MERKLE_HASH_BYTES;
    if (cap < len)
        return LODE_EINVAL;
    for (unsigned j = 0; j < tile->width; j++) {
        nodes[j].level = tile->level * TILE_HEIGHT;
        nodes[j].index = tile->index * TILE_WIDTH + j;
    }
    rc = reader->read_hashes(reader->ctx, nodes, tile->width, (uint8_t(*)[MERKLE_HASH_BYTES])out);
    if (rc != LODE_OK)
        return rc;
    *len_out = len;
    return LODE_OK;
}

enum lode_code tile_node_hash(const struct tile_id *tile, const uint8_t *data, size_t data_len,
                              const struct merkle_node *node, uint8_t out[MERKLE_HASH_BYTES])
{
    uint8_t work[TILE_WIDTH][MERKLE_HASH_BYTES];
    unsigned k = node->level % TILE_HEIGHT;
    uint64_t first, span = UINT64_C(1) << k;

    if (tile->entries || node->level / TILE_HEIGHT != tile->level || node->level >= 63 ||
        node->index >= (UINT64_C(1) << (63 - node->level)))
        return LODE_EINVAL;
    first = node->index << k;
    if (first / TILE_WIDTH != tile->index || data_len % MERKLE_HASH_BYTES != 0 ||
        data_len > TILE_DATA_BYTES_MAX)
        return LODE_EINVAL;
    first -= tile->index * TILE_WIDTH;
    if ((first + span) * MERKLE_HASH_BYTES > data_len)
        return LODE_EINVAL;
    memcpy(work, data + first * MERKLE_HASH_BYTES, span * MERKLE_HASH_BYTES);
    for (uint64_t width = span; width > 1; width /= 2)
        for (uint64_t j = 0; j < width / 2; j++)
            merkle_hash_children(work[2 * j], work[2 * j + 1], work[j]);
    memcpy(out, work[0], MERKLE_HASH_BYTES);
    return LODE_OK;
}

static enum lode_code tile_reader_read(void *ctx, const struct merkle_node *nodes, size_t count,
                                       uint8_t (*hashes_out)[MERKLE_HASH_BYTES])
{
    struct tile_hash_reader *thr = ctx;

    for (size_t i = 0; i < count; i++) {
        struct tile_id t;
        enum lode_code rc = tile_for_node(&nodes[i], thr->tree_size, &t);
        if (rc != LODE_OK)
            return rc;
        if (!thr->cached || !tile_equal(&t, &thr->cached_id)) {
            thr->cached = false;
            rc = thr->fetch(thr->ctx, &t, thr->cached_data, sizeof thr->cached_data,
                            &thr->cached_len);
            if (rc != LODE_OK)
                return rc;
            if (thr->cached_len > sizeof thr->cached_data)
                return LODE_EINTERNAL;
            thr->cached_id = t;
            thr->cached = true;
        }
        rc = tile_node_hash(&t, thr->cached_data, thr->cached_len, &nodes[i], hashes_out[i]);
        if (rc != LODE_OK)
            return rc;
    }
    return LODE_OK;
}

void tile_hash_reader_init(struct tile_hash_reader *thr, uint64_t tree_size, tile_fetch_fn fetch,
                           void *ctx, struct merkle_reader *reader_out)
{
    thr->fetch = fetch;
    thr->ctx = ctx;
    thr->tree_size = tree_size;
    thr->cached = false;
    thr->cached_len = 0;
    reader_out->read_hashes = tile_reader_read;
    reader_out->ctx = thr;
}

enum lode_code tile_bundle_encode(const struct tile_bundle_entry *entries, size_t count,
                                  uint8_t *out, size_t cap, size_t *len_out)
{
    size_t len = 0;

    if (count > TILE_WIDTH)
        return LODE_ETOOBIG;
    for (size_t i = 0; i < count; i++) {
        if (entries[i].len > 0xffff)
            return LODE_ETOOBIG;
        if (cap - len < 2 + entries[i].len)
            return LODE_EINVAL;
        out[len] = (uint8_t)(entries[i].len >> 8);
        out[len + 1] = (uint8_t)(entries[i].len & 0xff);
        if (entries[i].len > 0)
            memcpy(out + len + 2, entries[i].data, entries[i].len);
        len += 2 + entries[i].len;
    }
    *len_out = len;
    return LODE_OK;
}

enum lode_code tile_bundle_decode(const uint8_t *data, size_t len, size_t expected,
                                  struct tile_bundle_entry *entries_out, size_t cap,
                                  size_t *count_out)
{
    size_t n = 0, pos = 0;

    if (len > TILE_BUNDLE_BYTES_MAX || expected > TILE_WIDTH)
        return LODE_ETOOBIG;
    if (cap > TILE_WIDTH)
        cap = TILE_WIDTH;
    while (pos < len) {
        size_t entry_len;
        if (len - pos < 2)
            return LODE_EINVAL;
        entry_len = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (len - pos < entry_len)
            return LODE_EINVAL;
        if (n >= cap)
            return LODE_ETOOBIG;
        entries_out[n].data = data + pos;
        entries_out[n].len = entry_len;
        n++;
        pos += entry_len;
    }
    if (expected != 0 && n != expected)
        return LODE_EINVAL;
    *count_out = n;
    return LODE_OK;
}
