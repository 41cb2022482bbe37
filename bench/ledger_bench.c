/*
 * bench/ledger_bench.c — figures for the pure ledger engine (no database, no network):
 *
 *   1. append throughput: leaf hashing + merkle_append in batches of 256, and append alone;
 *   2. inclusion-proof latency at N entries (default 1,000,000): generation from an in-memory
 *      stored-hash reader, generation from an in-memory tile store (what a sequencer reads),
 *      and verification; p50/p99 per proof, medians over runs;
 *   3. bytes per entry at rest: raw canonical JSON vs zstd per bundle without a dictionary
 *      (the reference) vs zstd with a dictionary trained on entries.
 *
 *   ledger_bench [ENTRIES] [RUNS]
 * Prints figures, never pass/fail.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "core/encoding.h"
#include "ledger/bundle_codec.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/tile.h"

typedef uint8_t hash_t[MERKLE_HASH_BYTES];

static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return v[(size_t)(p * (double)(n - 1))];
}

static double median(double *v, size_t n)
{
    return percentile(v, n, 0.5);
}

static uint64_t rng_state = 88172645463325252u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A realistic entry: ids, hashes and signatures as lode writes them (canonical JSON). */
static char *synthetic_entry(uint64_t i, size_t *len_out)
{
    uint8_t h[32], sig[64];
    char hex[65], sig64[BASE64_ENCODED_BYTES(64)], kid[17];
    uint64_t kind = rng() % 10;
    struct lode_error err;
    char *bytes = NULL;
    json_t *e;

    randombytes_buf(h, sizeof h);
    randombytes_buf(sig, sizeof sig);
    hex_encode(h, 32, hex);
    base64_encode(sig, 64, sig64);
    hex_encode(sig, 8, kid);
    if (kind < 7)
        e = json_pack("{s:s, s:I, s:s+, s:I, s:s, s:s+, s:I, s:s, s:s, s:I}", "type",
                      "item.contributed", "dataset", (json_int_t)(rng() % 500), "item", "sha256:",
                      hex, "bytes", (json_int_t)(200 + rng() % 20000), "media_type",
                      kind < 5 ? "text/plain" : "application/json", "contributor", "acct_",
                      kid + 8, "key", (json_int_t)(1 + rng() % 3), "signature", sig64,
                      "signed_at", "2026-11-25T12:00:00Z", "index_hint", (json_int_t)i);
    else if (kind < 9)
        e = json_pack("{s:s, s:I, s:s+, s:s, s:s, s:I}", "type", "label.submitted", "task",
                      (json_int_t)(rng() % 100000), "labeler", "acct_", kid, "label",
                      (rng() % 2) ? "human" : "synthetic", "signature", sig64, "gold",
                      (json_int_t)(rng() % 2));
    else
        e = json_pack("{s:s, s:s+, s:I, s:s, s:s+}", "type", "payout.credited", "account",
                      "acct_", kid, "amount_minor", (json_int_t)(rng() % 100000), "currency",
                      "EUR", "licence", "lic_", hex + 48);
    if (e == NULL || ledger_entry_encode(e, &bytes, len_out, &err) != LODE_OK) {
        fprintf(stderr, "could not build an entry\n");
        exit(1);
    }
    json_decref(e);
    return bytes;
}

/* In-memory tile store: every full and partial tile of the final tree, per level. */
struct tile_store {
    uint8_t *levels[TILE_LEVEL_MAX + 1];
    uint64_t hashes[TILE_LEVEL_MAX + 1];
};

static enum lode_code store_fetch(void *ctx, const struct tile_id *tile, uint8_t *out, size_t cap,
                                  size_t *len_out)
{
    struct tile_store *s = ctx;
    size_t len = (size_t)tile->width * MERKLE_HASH_BYTES;

    if (tile->level > TILE_LEVEL_MAX || len > cap ||
        tile->index * TILE_WIDTH + tile->width > s->hashes[tile->level])
        return LODE_ENOTFOUND;
    memcpy(out, s->levels[tile->level] + tile->index * TILE_WIDTH * MERKLE_HASH_BYTES, len);
    *len_out = len;
    return LODE_OK;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    enum { PROOFS = 20000, BATCH = 256 };
    char **entries;
    size_t *lens;
    hash_t *leaves;
    double t_append[16], t_hash_append[16];
    double p50_gen[16], p99_gen[16], p50_tile[16], p99_tile[16], p50_ver[16], p99_ver[16];
    static double lat[PROOFS], lat_t[PROOFS], lat_v[PROOFS];
    struct merkle_mem mem;
    struct merkle_reader reader;
    uint8_t root[MERKLE_HASH_BYTES];
    uint64_t raw_total = 0;

    if (n < 4096 || runs < 1 || runs > 16 || sodium_init() < 0) {
        fprintf(stderr, "usage: ledger_bench [ENTRIES >= 4096] [RUNS 1..16]\n");
        return 2;
    }
    entries = malloc(n * sizeof *entries);
    lens = malloc(n * sizeof *lens);
    leaves = malloc(n * sizeof *leaves);
    for (uint64_t i = 0; i < n; i++) {
        entries[i] = synthetic_entry(i, &lens[i]);
        raw_total += lens[i];
    }
    printf("ledger_bench: %llu synthetic entries, %.1f bytes each on average, %d runs\n",
           (unsigned long long)n, (double)raw_total / (double)n, runs);

    /* 1. appends */
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now_s();
        merkle_mem_init(&mem);
        for (uint64_t done = 0; done < n; done += BATCH) {
            uint64_t k = n - done < BATCH ? n - done : BATCH;
            for (uint64_t i = 0; i < k; i++)
                merkle_hash_leaf((const uint8_t *)entries[done + i], lens[done + i],
                                 leaves[done + i]);
            merkle_mem_append(&mem, (const hash_t *)leaves + done, k);
        }
        t_hash_append[r] = bench_now_s() - t0;
        merkle_mem_fini(&mem);
        t0 = bench_now_s();
        merkle_mem_init(&mem);
        for (uint64_t done = 0; done < n; done += BATCH) {
            uint64_t k = n - done < BATCH ? n - done : BATCH;
            merkle_mem_append(&mem, (const hash_t *)leaves + done, k);
        }
        t_append[r] = bench_now_s() - t0;
        if (r + 1 < runs)
            merkle_mem_fini(&mem);
    }
    printf("append, batches of %d: leaf hash + append %.0f entries/s; append of leaf hashes "
           "alone %.0f entries/s (medians)\n",
           BATCH, (double)n / median(t_hash_append, (size_t)runs),
           (double)n / median(t_append, (size_t)runs));

    /* 2. inclusion proofs */
    merkle_mem_reader(&mem, &reader);
    merkle_tree_root(&reader, n, root);
    struct tile_store store;
    memset(&store, 0, sizeof store);
    for (unsigned l = 0; l <= TILE_LEVEL_MAX; l++) {
        store.hashes[l] = tile_level_hashes(l, n);
        if (store.hashes[l] == 0)
            continue;
        store.levels[l] = malloc(store.hashes[l] * MERKLE_HASH_BYTES);
        for (uint64_t i = 0; i < store.hashes[l]; i++)
            memcpy(store.levels[l] + i * MERKLE_HASH_BYTES,
                   mem.hashes[merkle_stored_index(l * TILE_HEIGHT, i)], MERKLE_HASH_BYTES);
    }
    for (int r = 0; r < runs; r++) {
        static struct tile_hash_reader thr;
        struct merkle_reader tiled;
        tile_hash_reader_init(&thr, n, store_fetch, &store, &tiled);
        for (int p = 0; p < PROOFS; p++) {
            hash_t proof[MERKLE_PROOF_HASHES_MAX];
            size_t count = 0;
            uint64_t idx = rng() % n;
            double t0 = bench_now_s();
            merkle_prove_inclusion(&reader, idx, n, proof, &count);
            double t1 = bench_now_s();
            bool ok = merkle_verify_inclusion(leaves[idx], idx, n, (const hash_t *)proof, count,
                                              root);
            double t2 = bench_now_s();
            thr.cached = false; /* every proof starts cold, as a new request would */
            merkle_prove_inclusion(&tiled, idx, n, proof, &count);
            double t3 = bench_now_s();
            if (!ok || !merkle_verify_inclusion(leaves[idx], idx, n, (const hash_t *)proof, count,
                                                root)) {
                fprintf(stderr, "proof did not verify\n");
                return 1;
            }
            lat[p] = (t1 - t0) * 1e6;
            lat_v[p] = (t2 - t1) * 1e6;
            lat_t[p] = (t3 - t2) * 1e6;
        }
        p50_gen[r] = percentile(lat, PROOFS, 0.5);
        p99_gen[r] = percentile(lat, PROOFS, 0.99);
        p50_ver[r] = percentile(lat_v, PROOFS, 0.5);
        p99_ver[r] = percentile(lat_v, PROOFS, 0.99);
        p50_tile[r] = percentile(lat_t, PROOFS, 0.5);
        p99_tile[r] = percentile(lat_t, PROOFS, 0.99);
    }
    printf("inclusion proof at %llu entries (%d proofs per run, medians over runs), us:\n",
           (unsigned long long)n, PROOFS);
    printf("  generate from stored hashes  p50 %.2f  p99 %.2f\n", median(p50_gen, (size_t)runs),
           median(p99_gen, (size_t)runs));
    printf("  generate from tiles          p50 %.2f  p99 %.2f\n", median(p50_tile, (size_t)runs),
           median(p99_tile, (size_t)runs));
    printf("  verify                       p50 %.2f  p99 %.2f\n", median(p50_ver, (size_t)runs),
           median(p99_ver, (size_t)runs));
    printf("  generate (stored) + verify   p50 %.2f\n",
           median(p50_gen, (size_t)runs) + median(p50_ver, (size_t)runs));

    /* 3. bytes per entry at rest: dictionary trained on the first 10,000 entries (fewer for
     * small runs), measured on the bundles that follow them */
    {
        const size_t train = n / 4 < 10000 ? (size_t)(n / 4) : 10000;
        const size_t first_bundle = (train + TILE_WIDTH - 1) / TILE_WIDTH;
        uint8_t *dict_bytes = NULL;
        size_t dict_len = 0;
        struct lode_error err;
        static uint8_t raw[TILE_BUNDLE_BYTES_MAX], packed[TILE_BUNDLE_BYTES_MAX + 1024];
        const size_t dict_sizes[] = {16384, 65536};

        struct bundle_dict dicts[2];
        for (size_t ds = 0; ds < 2; ds++) {
            if (bundle_dict_train((const uint8_t *const *)entries, lens, train, dict_sizes[ds],
                                  &dict_bytes, &dict_len, &err) != LODE_OK ||
                bundle_dict_init(&dicts[ds], dict_bytes, dict_len, 1, BUNDLE_LEVEL_DEFAULT,
                                 &err) != LODE_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            free(dict_bytes);
        }
        printf("bytes per entry at rest (zstd level %d, 35-byte header included), bundles after "
               "the %zu training entries:\n",
               BUNDLE_LEVEL_DEFAULT, train);
        printf("  %-22s %8s %16s %16s %16s\n", "bundle", "raw", "zstd (reference)",
               "zstd+16K dict", "zstd+64K dict");
        /* full bundles, and partial bundles of 16 as small sequencer batches write them */
        static const unsigned widths[] = {TILE_WIDTH, 16};
        for (size_t w = 0; w < 2; w++) {
            const unsigned width = widths[w];
            uint64_t measured = 0, raw_bytes = 0, packed_bytes[3] = {0, 0, 0};
            for (uint64_t b = first_bundle * TILE_WIDTH / width; (b + 1) * width <= n; b++) {
                struct tile_bundle_entry be[TILE_WIDTH];
                size_t len = 0, c = 0;
                for (unsigned j = 0; j < width; j++) {
                    be[j].data = (const uint8_t *)entries[b * width + j];
                    be[j].len = lens[b * width + j];
                    raw_bytes += be[j].len;
                }
                tile_bundle_encode(be, width, raw, sizeof raw, &len);
                for (int k = 0; k < 3; k++) {
                    bundle_codec_compress(k == 0 ? NULL : &dicts[k - 1], BUNDLE_LEVEL_DEFAULT, raw,
                                          len, packed, sizeof packed, &c);
                    packed_bytes[k] += c;
                }
                measured += width;
            }
            double raw_pe = (double)raw_bytes / (double)measured;
            char label[64];
            snprintf(label, sizeof label, "%u entries x %llu", width,
                     (unsigned long long)(measured / width));
            printf("  %-22s %8.1f", label, raw_pe);
            for (int k = 0; k < 3; k++) {
                double pe = (double)packed_bytes[k] / (double)measured;
                printf("   %6.1f (%4.2fx)", pe, raw_pe / pe);
            }
            printf("\n");
        }
        bundle_dict_fini(&dicts[0]);
        bundle_dict_fini(&dicts[1]);
    }
    for (uint64_t i = 0; i < n; i++)
        free(entries[i]);
    for (unsigned l = 0; l <= TILE_LEVEL_MAX; l++)
        free(store.levels[l]);
    free(entries);
    free(lens);
    free(leaves);
    merkle_mem_fini(&mem);
    return 0;
}
