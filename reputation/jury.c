/*
 * reputation/jury.c — the verifiable jury draw and the vote commitment encoding
 * (docs/reputation.md, "jury draw", is the normative description of both).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

void reputation_jury_seed(const uint8_t root[REPUTATION_HASH_BYTES], int64_t bond_id, int round,
                          uint8_t seed_out[REPUTATION_HASH_BYTES])
{
    static const char tag[] = "lode jury v1";
    uint8_t buf[sizeof tag - 1 + REPUTATION_HASH_BYTES + 8 + 1];
    size_t n = sizeof tag - 1;

    memcpy(buf, tag, n);
    memcpy(buf + n, root, REPUTATION_HASH_BYTES);
    n += REPUTATION_HASH_BYTES;
    put_be64(buf + n, (uint64_t)bond_id);
    n += 8;
    buf[n++] = (uint8_t)round;
    crypto_hash_sha256(seed_out, buf, n);
}

void reputation_vote_commitment(int64_t bond_id, int round, int64_t juror,
                                enum reputation_vote vote,
                                const uint8_t salt[REPUTATION_SALT_BYTES],
                                uint8_t commitment_out[REPUTATION_HASH_BYTES])
{
    static const char tag[] = "lode vote v1";
    uint8_t buf[sizeof tag - 1 + 8 + 1 + 8 + 1 + REPUTATION_SALT_BYTES];
    size_t n = sizeof tag - 1;

    memcpy(buf, tag, n);
    put_be64(buf + n, (uint64_t)bond_id);
    n += 8;
    buf[n++] = (uint8_t)round;
    put_be64(buf + n, (uint64_t)juror);
    n += 8;
    buf[n++] = (uint8_t)vote;
    memcpy(buf + n, salt, REPUTATION_SALT_BYTES);
    n += REPUTATION_SALT_BYTES;
    crypto_hash_sha256(commitment_out, buf, n);
}

static bool is_excluded(int64_t account, const int64_t *excluded, size_t excluded_count)
{
    for (size_t i = 0; i < excluded_count; i++)
        if (excluded[i] == account)
            return true;
    return false;
}

enum lode_code reputation_jury_weights(const struct reputation_config *cfg,
                                       const struct reputation_juror *pool, size_t pool_count,
                                       const int64_t *excluded, size_t excluded_count,
                                       int64_t seat_deposit, int64_t *weights_out,
                                       int64_t *total_out, struct lode_error *err)
{
    int64_t raw_total = 0, cap, total = 0;
    int64_t floor_stake = cfg->juror_stake_min > seat_deposit ? cfg->juror_stake_min : seat_deposit;

    if (pool_count > LODE_JURY_POOL_MAX)
        return lode_error_set(err, LODE_EINVAL, "juror pool exceeds %d members",
                              LODE_JURY_POOL_MAX);
    if (seat_deposit <= 0)
        return lode_error_set(err, LODE_EINVAL, "seat deposit must be positive");
    for (size_t i = 0; i < pool_count; i++) {
        const struct reputation_juror *j = &pool[i];
        unsigned __int128 raw;
        if (j->account <= 0 || j->stake < 0 || j->factor_bps < 1 || j->factor_bps > 100000)
            return lode_error_set(err, LODE_EINVAL, "juror pool member %zu is invalid", i);
        if (i > 0 && pool[i - 1].account >= j->account)
            return lode_error_set(err, LODE_EINVAL,
                                  "juror pool must be sorted by account without repeats");
        weights_out[i] = 0;
        if (j->stake < floor_stake || is_excluded(j->account, excluded, excluded_count))
            continue;
        raw = (unsigned __int128)j->stake * (uint64_t)j->factor_bps / REPUTATION_BPS;
        if (raw > INT64_MAX || __builtin_add_overflow(raw_total, (int64_t)raw, &raw_total))
            return lode_error_set(err, LODE_EUNPROCESSABLE, "juror pool weight overflows");
        weights_out[i] = (int64_t)raw;
    }
    cap = reputation_amount_share(raw_total, cfg->juror_weight_cap_bps);
    if (cap < 1)
        cap = 1;
    for (size_t i = 0; i < pool_count; i++) {
        if (weights_out[i] > cap)
            weights_out[i] = cap;
        total += weights_out[i]; /* cannot overflow: the sum is at most raw_total */
    }
    *total_out = total;
    return LODE_OK;
}

/* The random stream: number j is bytes 8*(j%4).. of SHA-256(seed || be64(j/4)), big-endian. */
struct stream {
    uint8_t seed[REPUTATION_HASH_BYTES];
    uint64_t next;
    uint8_t block[REPUTATION_HASH_BYTES];
};

static uint64_t stream_u64(struct stream *s)
{
    uint64_t j = s->next++;
    if (j % 4 == 0) {
        uint8_t buf[REPUTATION_HASH_BYTES + 8];
        memcpy(buf, s->seed, REPUTATION_HASH_BYTES);
        put_be64(buf + REPUTATION_HASH_BYTES, j / 4);
        crypto_hash_sha256(s->block, buf, sizeof buf);
    }
    return get_be64(s->block + 8 * (j % 4));
}

/* Uniform in [0, bound) by rejection: x is kept when x < 2^64 - (2^64 mod bound). */
static uint64_t stream_uniform(struct stream *s, uint64_t bound)
{
    uint64_t rem = (UINT64_MAX % bound + 1) % bound;
    for (;;) {
        uint64_t x = stream_u64(s);
        if (rem == 0 || x <= UINT64_MAX - rem)
            return x % bound;
    }
}

enum lode_code reputation_jury_draw(const struct reputation_config *cfg,
                                    const uint8_t seed[REPUTATION_HASH_BYTES],
                                    const struct reputation_juror *pool, size_t pool_count,
                                    const int64_t *excluded, size_t excluded_count, int64_t seats,
                                    int64_t seat_deposit,
                                    struct reputation_seat_holder *holders_out,
                                    size_t *holder_count_out, struct lode_error *err)
{
    struct reputation_seat_holder holders[LODE_JURY_SEATS_MAX];
    size_t holder_pool[LODE_JURY_SEATS_MAX];
    size_t holder_count = 0, eligible = 0;
    int64_t *weights, *left, total = 0;
    struct stream stream;
    enum lode_code rc;

    if (seats < 1 || seats > LODE_JURY_SEATS_MAX)
        return lode_error_set(err, LODE_EINVAL, "seats must be between 1 and %d",
                              LODE_JURY_SEATS_MAX);
    if (pool_count > LODE_JURY_POOL_MAX)
        return lode_error_set(err, LODE_EINVAL, "juror pool exceeds %d members",
                              LODE_JURY_POOL_MAX);
    weights = calloc(pool_count + 1, 2 * sizeof *weights);
    if (weights == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the draw");
    left = weights + pool_count + 1;
    rc = reputation_jury_weights(cfg, pool, pool_count, excluded, excluded_count, seat_deposit,
                                 weights, &total, err);
    if (rc != LODE_OK)
        goto free_weights;
    for (size_t i = 0; i < pool_count; i++) {
        left[i] = pool[i].stake;
        eligible += weights[i] > 0;
    }
    if (eligible < (size_t)seats) {
        rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                            "could not draw a jury: %zu eligible jurors for %lld seats", eligible,
                            (long long)seats);
        goto free_weights;
    }
    memcpy(stream.seed, seed, REPUTATION_HASH_BYTES);
    stream.next = 0;
    for (int64_t s = 0; s < seats; s++) {
        uint64_t x;
        size_t i = 0, h;
        if (total <= 0) {
            rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                                "could not draw a jury: the pool ran out of stake");
            goto free_weights;
        }
        x = stream_uniform(&stream, (uint64_t)total);
        for (; i < pool_count; i++) {
            if (x < (uint64_t)weights[i])
                break;
            x -= (uint64_t)weights[i];
        }
        for (h = 0; h < holder_count && holder_pool[h] != i; h++)
            ;
        if (h == holder_count) {
            holders[h] = (struct reputation_seat_holder){pool[i].account, 0};
            holder_pool[h] = i;
            holder_count++;
        }
        holders[h].seats++;
        left[i] -= seat_deposit;
        if (cfg->jury_distinct || left[i] < seat_deposit) {
            total -= weights[i];
            weights[i] = 0;
        }
    }
    memcpy(holders_out, holders, holder_count * sizeof holders[0]);
    *holder_count_out = holder_count;
free_weights:
    free(weights);
    return rc;
}
