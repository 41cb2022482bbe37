/*
 * tests/unit/reputation/test_reputation.c — one test per rule of the reputation engine:
 * amounts, journal, configuration, commitments, jury draw (against an independent
 * implementation of the documented algorithm), bond lifecycle, refusals, settlement, scores.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "rep_world.h"
#include "test_main.h"

static const uint8_t zero_hash[REPUTATION_HASH_BYTES];

/* ---- amounts and journal ---------------------------------------------------------------- */

static void test_amounts(void)
{
    struct lode_error err;
    int64_t v = 0;

    CU_ASSERT_EQUAL(reputation_amount_add(1, 2, &v, &err), LODE_OK);
    CU_ASSERT_EQUAL(v, 3);
    CU_ASSERT_EQUAL(reputation_amount_add(INT64_MAX, 1, &v, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(v, 3);
    CU_ASSERT_EQUAL(reputation_amount_add(-1, 1, &v, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(reputation_amount_sub(5, 6, &v, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(reputation_amount_sub(6, 5, &v, &err), LODE_OK);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(reputation_amount_share(INT64_MAX, 10000), INT64_MAX);
    CU_ASSERT_EQUAL(reputation_amount_share(INT64_MAX, 0), 0);
    CU_ASSERT_EQUAL(reputation_amount_share(9999, 2500), 2499);
    /* exact floor against 128-bit arithmetic on random operands */
    struct world w;
    world_init(&w, 7);
    for (int i = 0; i < 100000; i++) {
        int64_t a = (int64_t)(world_rand(&w) >> 1), b = world_range(&w, 0, 10000);
        if (i % 2)
            a %= 1000000;
        int64_t ref = (int64_t)((__int128)a * b / 10000);
        if (reputation_amount_share(a, b) != ref) {
            CU_FAIL("share is not the exact floor");
            break;
        }
    }
    world_fini(&w);
}

static void test_journal(void)
{
    struct reputation_journal *j = reputation_journal_create();
    struct reputation_account ext = {REPUTATION_ACCOUNT_EXTERNAL, 0};
    struct reputation_transfer t[3] = {
        {ext, world_user(1), 1, 100, REPUTATION_REASON_DEPOSIT},
        {world_user(1), world_user(2), 1, 60, REPUTATION_REASON_BOND_STAKE},
        {world_user(1), world_user(3), 1, 50, REPUTATION_REASON_BOND_STAKE},
    };
    struct lode_error err;
    int64_t total = 0;

    CU_ASSERT_EQUAL(reputation_journal_post(j, t, 2, &err), LODE_OK);
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(1), 1), 40);
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(2), 1), 60);
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(2), 2), 0); /* other currency */
    /* all or nothing: the second transfer overdraws, so the first is not applied either */
    t[0] =
        (struct reputation_transfer){world_user(2), world_user(4), 1, 10, REPUTATION_REASON_REFUND};
    CU_ASSERT_EQUAL(reputation_journal_post(j, t, 3, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "insufficient balance"));
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(2), 1), 60);
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(4), 1), 0);
    /* the net of a batch counts: 1 can pay 50 after receiving 10 in the same batch */
    t[1] =
        (struct reputation_transfer){world_user(2), world_user(1), 1, 10, REPUTATION_REASON_REFUND};
    CU_ASSERT_EQUAL(reputation_journal_post(j, t + 1, 2, &err), LODE_OK);
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(1), 1), 0);
    /* malformed transfers */
    struct reputation_transfer bad = {world_user(1), world_user(1), 1, 1, REPUTATION_REASON_REFUND};
    CU_ASSERT_EQUAL(reputation_journal_post(j, &bad, 1, &err), LODE_EINVAL);
    bad.to = world_user(2);
    bad.amount = 0;
    CU_ASSERT_EQUAL(reputation_journal_post(j, &bad, 1, &err), LODE_EINVAL);
    bad.amount = -5;
    CU_ASSERT_EQUAL(reputation_journal_post(j, &bad, 1, &err), LODE_EINVAL);
    bad = (struct reputation_transfer){world_burn(), world_user(1), 1, 1, REPUTATION_REASON_BURN};
    CU_ASSERT_EQUAL(reputation_journal_post(j, &bad, 1, &err), LODE_EINVAL);
    bad = (struct reputation_transfer){world_user(0), world_user(1), 1, 1, REPUTATION_REASON_BURN};
    CU_ASSERT_EQUAL(reputation_journal_post(j, &bad, 1, &err), LODE_EINVAL);
    /* overflow of a balance is refused */
    struct reputation_transfer big = {ext, world_user(9), 3, INT64_MAX, REPUTATION_REASON_DEPOSIT};
    CU_ASSERT_EQUAL(reputation_journal_post(j, &big, 1, &err), LODE_OK);
    big.amount = 1;
    CU_ASSERT_EQUAL(reputation_journal_post(j, &big, 1, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "overflow"));
    CU_ASSERT_EQUAL(reputation_journal_balance(j, world_user(9), 3), INT64_MAX);
    /* the outside world cannot go below INT64_MIN either: currency 1 already owes 100 */
    big.currency = 1;
    big.amount = INT64_MAX;
    CU_ASSERT_EQUAL(reputation_journal_post(j, &big, 1, &err), LODE_EUNPROCESSABLE);
    /* many accounts: the table grows and keeps every balance */
    for (int64_t a = 100; a < 5100; a++) {
        struct reputation_transfer d = {ext, world_user(a), 7, a, REPUTATION_REASON_DEPOSIT};
        CU_ASSERT_EQUAL_FATAL(reputation_journal_post(j, &d, 1, &err), LODE_OK);
    }
    CU_ASSERT_EQUAL(reputation_journal_total(j, REPUTATION_ACCOUNT_USER, 7, &total, &err), LODE_OK);
    CU_ASSERT_EQUAL(total, (100 + 5099) * 5000 / 2);
    CU_ASSERT_EQUAL(reputation_journal_total(j, REPUTATION_ACCOUNT_EXTERNAL, 7, &total, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(total, -(100 + 5099) * 5000 / 2);
    reputation_journal_destroy(j);
}

/* ---- configuration ---------------------------------------------------------------------- */

static void test_config(void)
{
    struct reputation_config c, d;
    struct lode_error err;
    const char *ok = "{\"jury_seats\":7,\"appeal_jury_seats\":15,\"jury_distinct\":true}";

    reputation_config_default(&d);
    CU_ASSERT_EQUAL(reputation_config_check(&d, &err), LODE_OK);
    CU_ASSERT_EQUAL(reputation_config_parse(ok, strlen(ok), &c, &err), LODE_OK);
    CU_ASSERT_EQUAL(c.jury_seats, 7);
    CU_ASSERT_EQUAL(c.appeal_jury_seats, 15);
    CU_ASSERT_TRUE(c.jury_distinct);
    CU_ASSERT_EQUAL(c.burn_bps, d.burn_bps);
    CU_ASSERT_EQUAL(reputation_config_parse("{}", 2, &c, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(&c, &d, sizeof c), 0);

    const char *bad[] = {
        "{\"jury_seats\":4}",                            /* even */
        "{\"jury_seats\":11}",                           /* not below the appeal jury */
        "{\"burn_bps\":9000,\"juror_reward_bps\":2000}", /* over 100 % together */
        "{\"burn_bps\":-1}",
        "{\"jury_seats\":\"5\"}",
        "{\"no_such_parameter\":1}",
        "[1]",
        "{\"jury_seats\":",
        "{\"window_ms_min\":10,\"window_ms_max\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        CU_ASSERT_EQUAL(reputation_config_parse(bad[i], strlen(bad[i]), &c, &err), LODE_EINVAL);
        CU_ASSERT_NOT_EQUAL(err.message[0], '\0');
    }
    char big[LODE_REPUTATION_CONFIG_BYTES_MAX + 16];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    CU_ASSERT_EQUAL(reputation_config_parse(big, sizeof big, &c, &err), LODE_ETOOBIG);
}

/* ---- commitments and seeds -------------------------------------------------------------- */

static void test_commitment_encoding(void)
{
    uint8_t salt[32], got[32], want[32], buf[64];
    size_t n = 0;

    for (int i = 0; i < 32; i++)
        salt[i] = (uint8_t)(i * 7);
    reputation_vote_commitment(0x0102030405060708LL, 1, 42, REPUTATION_VOTE_REJECT, salt, got);
    memcpy(buf, "lode vote v1", 12);
    n = 12;
    const uint8_t id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    memcpy(buf + n, id, 8);
    n += 8;
    buf[n++] = 1;
    const uint8_t juror[8] = {0, 0, 0, 0, 0, 0, 0, 42};
    memcpy(buf + n, juror, 8);
    n += 8;
    buf[n++] = 2;
    memcpy(buf + n, salt, 32);
    n += 32;
    CU_ASSERT_EQUAL(n, 62);
    crypto_hash_sha256(want, buf, n);
    CU_ASSERT_EQUAL(memcmp(got, want, 32), 0);

    uint8_t root[32], seed[32];
    memset(root, 0xab, 32);
    reputation_jury_seed(root, 9, 0, got);
    memcpy(buf, "lode jury v1", 12);
    memcpy(buf + 12, root, 32);
    memset(buf + 44, 0, 8);
    buf[51] = 9;
    buf[52] = 0;
    crypto_hash_sha256(want, buf, 53);
    CU_ASSERT_EQUAL(memcmp(got, want, 32), 0);
    reputation_jury_seed(root, 9, 1, seed);
    CU_ASSERT_NOT_EQUAL(memcmp(got, seed, 32), 0);
}

/* ---- jury draw: an independent implementation of the spec in docs/reputation.md --------- */

static uint64_t ref_u64(const uint8_t seed[32], uint64_t j)
{
    uint8_t in[40], out[32];
    uint64_t v = 0;
    memcpy(in, seed, 32);
    for (int i = 0; i < 8; i++)
        in[32 + i] = (uint8_t)((j / 4) >> (56 - 8 * i));
    crypto_hash_sha256(out, in, 40);
    for (int i = 0; i < 8; i++)
        v = (v << 8) | out[8 * (j % 4) + (uint64_t)i];
    return v;
}

static size_t ref_draw(const struct reputation_config *cfg, const uint8_t seed[32],
                       const struct reputation_juror *pool, size_t n, const int64_t *ex, size_t nex,
                       int64_t seats, int64_t dep, struct reputation_seat_holder *out)
{
    int64_t w[64], left[64], raw_total = 0, total = 0, cap;
    size_t count = 0;
    uint64_t j = 0;

    for (size_t i = 0; i < n; i++) {
        bool excluded = false;
        for (size_t k = 0; k < nex; k++)
            excluded = excluded || ex[k] == pool[i].account;
        int64_t floor_stake = cfg->juror_stake_min > dep ? cfg->juror_stake_min : dep;
        w[i] = excluded || pool[i].stake < floor_stake
                   ? 0
                   : (int64_t)((__int128)pool[i].stake * pool[i].factor_bps / 10000);
        raw_total += w[i];
        left[i] = pool[i].stake;
    }
    cap = (int64_t)((__int128)raw_total * cfg->juror_weight_cap_bps / 10000);
    if (cap < 1)
        cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (w[i] > cap)
            w[i] = cap;
        total += w[i];
    }
    for (int64_t s = 0; s < seats; s++) {
        uint64_t x, lim = UINT64_MAX - ((UINT64_MAX % (uint64_t)total + 1) % (uint64_t)total);
        do
            x = ref_u64(seed, j++);
        while (x > lim);
        x %= (uint64_t)total;
        size_t i = 0;
        while (x >= (uint64_t)w[i])
            x -= (uint64_t)w[i++];
        size_t h = 0;
        while (h < count && out[h].account != pool[i].account)
            h++;
        if (h == count)
            out[count++] = (struct reputation_seat_holder){pool[i].account, 0};
        out[h].seats++;
        left[i] -= dep;
        if (cfg->jury_distinct || left[i] < dep) {
            total -= w[i];
            w[i] = 0;
        }
    }
    return count;
}

static void test_jury_draw_matches_spec(void)
{
    struct world w;
    struct reputation_juror pool[64] = {{0, 0, 0}};
    struct reputation_seat_holder got[LODE_JURY_SEATS_MAX], want[LODE_JURY_SEATS_MAX];
    struct lode_error err;
    int64_t ex[2];

    world_init(&w, 11);
    for (int trial = 0; trial < 400; trial++) {
        size_t n = (size_t)world_range(&w, 12, 64), count = 0;
        uint8_t seed[32];
        int64_t acc = 0;
        w.cfg.jury_distinct = trial % 2 == 0;
        w.cfg.juror_weight_cap_bps = trial % 3 == 0 ? 10000 : world_range(&w, 500, 3000);
        for (size_t i = 0; i < n; i++) {
            acc += world_range(&w, 1, 5);
            pool[i] = (struct reputation_juror){acc, world_range(&w, 0, 20000),
                                                world_range(&w, 5000, 15000)};
        }
        ex[0] = pool[0].account;
        ex[1] = pool[n / 2].account;
        for (int i = 0; i < 32; i++)
            seed[i] = (uint8_t)world_rand(&w);
        enum lode_code rc =
            reputation_jury_draw(&w.cfg, seed, pool, n, ex, 2, 5, 1000, got, &count, &err);
        if (rc != LODE_OK) {
            CU_ASSERT_EQUAL(rc, LODE_EUNPROCESSABLE); /* too few eligible: skip */
            continue;
        }
        size_t ref = ref_draw(&w.cfg, seed, pool, n, ex, 2, 5, 1000, want);
        CU_ASSERT_EQUAL_FATAL(count, ref);
        CU_ASSERT_EQUAL(memcmp(got, want, count * sizeof got[0]), 0);
        int64_t seats = 0;
        for (size_t i = 0; i < count; i++) {
            seats += got[i].seats;
            CU_ASSERT_NOT_EQUAL(got[i].account, ex[0]);
            CU_ASSERT_NOT_EQUAL(got[i].account, ex[1]);
            if (w.cfg.jury_distinct)
                CU_ASSERT_EQUAL(got[i].seats, 1);
        }
        CU_ASSERT_EQUAL(seats, 5);
    }
    world_fini(&w);
}

static void test_jury_weights_and_refusals(void)
{
    struct reputation_config cfg;
    struct reputation_juror pool[4] = {
        {1, 1000000, 10000}, {2, 10000, 10000}, {3, 10000, 15000}, {4, 999, 10000}};
    int64_t weights[4], total;
    struct reputation_seat_holder h[LODE_JURY_SEATS_MAX];
    size_t count;
    struct lode_error err;
    uint8_t seed[32] = {0};

    reputation_config_default(&cfg);
    cfg.juror_weight_cap_bps = 1000;
    CU_ASSERT_EQUAL(reputation_jury_weights(&cfg, pool, 4, NULL, 0, 1000, weights, &total, &err),
                    LODE_OK);
    /* raw: 1000000, 10000, 15000, 0 (below the minimum stake); cap = 10 % of 1025000 */
    CU_ASSERT_EQUAL(weights[0], 102500);
    CU_ASSERT_EQUAL(weights[1], 10000);
    CU_ASSERT_EQUAL(weights[2], 15000);
    CU_ASSERT_EQUAL(weights[3], 0);
    CU_ASSERT_EQUAL(total, 127500);
    int64_t ex = 1;
    CU_ASSERT_EQUAL(reputation_jury_weights(&cfg, pool, 4, &ex, 1, 1000, weights, &total, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(weights[0], 0);
    /* two eligible jurors cannot fill five seats */
    CU_ASSERT_EQUAL(reputation_jury_draw(&cfg, seed, pool, 4, &ex, 1, 5, 1000, h, &count, &err),
                    LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "could not draw a jury"));
    struct reputation_juror unsorted[2] = {{5, 5000, 10000}, {3, 5000, 10000}};
    CU_ASSERT_EQUAL(
        reputation_jury_weights(&cfg, unsorted, 2, NULL, 0, 1000, weights, &total, &err),
        LODE_EINVAL);
    struct reputation_juror dup[2] = {{3, 5000, 10000}, {3, 5000, 10000}};
    CU_ASSERT_EQUAL(reputation_jury_weights(&cfg, dup, 2, NULL, 0, 1000, weights, &total, &err),
                    LODE_EINVAL);
    struct reputation_juror huge[2] = {{1, INT64_MAX, 100000}, {2, 5000, 10000}};
    CU_ASSERT_EQUAL(reputation_jury_weights(&cfg, huge, 2, NULL, 0, 1000, weights, &total, &err),
                    LODE_EUNPROCESSABLE);
}

/* ---- bonds ------------------------------------------------------------------------------ */

#define PUB 1
#define CHAL 2
#define OTHER 3
#define T0 1000000

struct fixture {
    struct world w;
    struct reputation_bond *b, *next;
    struct reputation_effects *fx;
    struct reputation_juror pool[64];
    size_t pool_count;
    int64_t now;
};

static void fixture_init(struct fixture *f, uint64_t seed)
{
    struct lode_error err;
    struct reputation_bond_params p = {.id = 77,
                                       .currency = WORLD_CURRENCY,
                                       .publisher = PUB,
                                       .amount = 10000,
                                       .statement = "human-made",
                                       .window_ms = 3600000};

    world_init(&f->w, seed);
    f->b = calloc(1, sizeof *f->b);
    f->next = calloc(1, sizeof *f->next);
    f->fx = calloc(1, sizeof *f->fx);
    world_deposit(&f->w, PUB, 50000);
    world_deposit(&f->w, CHAL, 50000);
    world_deposit(&f->w, OTHER, 50000);
    for (int64_t j = 100; j < 130; j++)
        world_juror(&f->w, j, 5000 + 1000 * (j % 7));
    f->pool_count = world_pool(&f->w, 100, 129, 10000, f->pool);
    f->now = T0;
    CU_ASSERT_EQUAL(reputation_bond_post(&f->w.cfg, &p, f->now, f->b, f->fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(world_post(&f->w, f->fx, &err), LODE_OK);
    reputation_effects_clear(f->fx);
    CU_ASSERT_EQUAL(reputation_journal_balance(f->w.journal, world_escrow(77), WORLD_CURRENCY),
                    10000);
}

static void fixture_fini(struct fixture *f)
{
    free(f->b);
    free(f->next);
    free(f->fx);
    world_fini(&f->w);
}

/* applies the result of the last call if it succeeded */
static enum lode_code fixture_take(struct fixture *f, enum lode_code rc)
{
    struct lode_error err;
    if (rc == LODE_OK && (rc = world_post(&f->w, f->fx, &err)) == LODE_OK)
        memcpy(f->b, f->next, sizeof *f->b);
    reputation_effects_clear(f->fx);
    return rc;
}

static enum lode_code fixture_challenge(struct fixture *f, int64_t who, int64_t stake)
{
    struct lode_error err;
    return fixture_take(f, reputation_bond_challenge(&f->w.cfg, f->b, who, stake, zero_hash,
                                                     f->w.ledger_size, f->now + 10, f->next, f->fx,
                                                     &err));
}

static enum reputation_vote vote_uphold(void *ctx, int64_t juror, int round)
{
    return REPUTATION_VOTE_UPHOLD;
}

static enum reputation_vote vote_reject(void *ctx, int64_t juror, int round)
{
    return REPUTATION_VOTE_REJECT;
}

/* round 0: reject by all but the first juror, who does not show up; round 1: uphold */
static enum reputation_vote vote_script(void *ctx, int64_t juror, int round)
{
    const int64_t *first = ctx;
    if (round == 0)
        return juror == *first ? REPUTATION_VOTE_NONE : REPUTATION_VOTE_REJECT;
    return REPUTATION_VOTE_UPHOLD;
}

static int64_t bal(struct fixture *f, struct reputation_account a)
{
    return reputation_journal_balance(f->w.journal, a, WORLD_CURRENCY);
}

static void test_bond_unchallenged(void)
{
    struct fixture f;
    struct lode_error err;

    fixture_init(&f, 1);
    CU_ASSERT_EQUAL(reputation_bond_next_deadline(f.b), T0 + 3600000);
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, T0 + 3599999, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_POSTED);
    CU_ASSERT_EQUAL(f.fx->transfer_count, 0);
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, T0 + 3600000, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_EQUAL(f.b->outcome, REPUTATION_OUTCOME_UNCHALLENGED);
    CU_ASSERT_EQUAL(f.fx->observed_count, 1);
    CU_ASSERT_EQUAL(f.fx->observed[0].observation, REPUTATION_OBS_BOND_UNCHALLENGED);
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), 50000);
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 0);
    /* idempotent: a second tick changes nothing */
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, T0 + 9999999, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.fx->transfer_count, 0);
    CU_ASSERT_EQUAL(f.fx->event_count, 0);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    /* a challenge after resolution is a conflict, one at the deadline is gone */
    CU_ASSERT_EQUAL(fixture_challenge(&f, CHAL, 10000), LODE_ECONFLICT);
    fixture_fini(&f);
}

static void test_bond_challenge_refusals(void)
{
    struct fixture f;
    struct lode_error err;
    enum lode_code rc;

    fixture_init(&f, 2);
    CU_ASSERT_EQUAL(fixture_challenge(&f, PUB, 10000), LODE_EFORBIDDEN);
    CU_ASSERT_EQUAL(fixture_challenge(&f, CHAL, 9999), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(fixture_challenge(&f, CHAL, INT64_MAX), LODE_EUNPROCESSABLE); /* overflow */
    /* staking more than the balance: the engine accepts, the journal refuses, nothing moves */
    rc = fixture_challenge(&f, CHAL, 50001);
    CU_ASSERT_EQUAL(rc, LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_POSTED);
    CU_ASSERT_EQUAL(bal(&f, world_user(CHAL)), 50000);
    rc = reputation_bond_challenge(&f.w.cfg, f.b, CHAL, 10000, zero_hash, 1, T0 + 3600000, f.next,
                                   f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EGONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "challenge window"));
    CU_ASSERT_EQUAL(f.fx->transfer_count, 0);
    rc = reputation_bond_challenge(&f.w.cfg, f.b, CHAL, 10000, zero_hash, 1, T0 - 1, f.next, f.fx,
                                   &err);
    CU_ASSERT_EQUAL(rc, LODE_EINVAL);
    CU_ASSERT_EQUAL(fixture_challenge(&f, CHAL, 10000), LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_AWAITING_DRAW);
    CU_ASSERT_EQUAL(fixture_challenge(&f, OTHER, 10000), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 20000);
    /* a draw from a checkpoint that does not follow the filing */
    uint8_t root[32] = {1};
    rc = reputation_bond_draw(&f.w.cfg, f.b, f.pool, f.pool_count,
                              (uint64_t)f.b->rounds[0].ledger_size_at_filing, root, T0 + 20, f.next,
                              f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EPRECOND);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

static void test_bond_post_refusals(void)
{
    struct reputation_config cfg;
    struct reputation_bond *b = calloc(1, sizeof *b);
    struct reputation_effects *fx = calloc(1, sizeof *fx);
    struct lode_error err;
    struct reputation_bond_params p = {
        .id = 1, .publisher = 1, .amount = 100, .statement = "accurate", .window_ms = 3600000};

    reputation_config_default(&cfg);
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_OK);
    p.amount = 99;
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EUNPROCESSABLE);
    p.amount = 100;
    p.statement = "Human Made";
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EINVAL);
    p.statement = "";
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EINVAL);
    p.statement = "accurate";
    p.window_ms = 1;
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EUNPROCESSABLE);
    p.window_ms = 3600000;
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, INT64_MAX - 5, b, fx, &err),
                    LODE_EUNPROCESSABLE);
    p.publisher = 0;
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(fx->transfer_count, 1); /* only the first, successful post */
    cfg.jury_seats = 4;
    p.publisher = 1;
    CU_ASSERT_EQUAL(reputation_bond_post(&cfg, &p, 0, b, fx, &err), LODE_EINVAL);
    free(b);
    free(fx);
}

static void test_bond_votes_and_refusals(void)
{
    struct fixture f;
    struct lode_error err;
    uint8_t root[32] = {7}, salt[32], c[32];
    struct reputation_round *r;
    enum lode_code rc;

    fixture_init(&f, 3);
    CU_ASSERT_EQUAL_FATAL(fixture_challenge(&f, CHAL, 12000), LODE_OK);
    rc = reputation_bond_draw(&f.w.cfg, f.b, f.pool, f.pool_count, (uint64_t)f.w.ledger_size + 5,
                              root, T0 + 100, f.next, f.fx, &err);
    /* anyone recomputes the jury from public data: the checkpoint root, the bond id, the
     * round, the recorded pool snapshot and the parties, with the independent implementation */
    {
        struct reputation_seat_holder want[LODE_JURY_SEATS_MAX] = {{0, 0}};
        uint8_t pub_seed[32];
        int64_t parties[2] = {PUB, CHAL};
        size_t k = 0;
        reputation_jury_seed(root, 77, 0, pub_seed);
        size_t nw = ref_draw(&f.w.cfg, pub_seed, f.pool, f.pool_count, parties, 2, 5, 1000, want);
        for (size_t i = 0; i < f.fx->event_count; i++) {
            const struct reputation_event *e = &f.fx->events[i];
            if (e->type != REPUTATION_EVENT_JUROR_DRAWN)
                continue;
            CU_ASSERT_TRUE(k < nw && e->account == want[k].account && e->count == want[k].seats);
            CU_ASSERT_EQUAL(memcmp(e->hash, pub_seed, 32), 0);
            k++;
        }
        CU_ASSERT_EQUAL(k, nw);
    }
    for (size_t i = 0; i < f.fx->event_count; i++) {
        json_t *entry = reputation_event_json(&f.fx->events[i], f.fx);
        CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "type")), "juror_drawn");
        CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(entry, "seed"))), 64);
        json_decref(entry);
    }
    CU_ASSERT_EQUAL(reputation_bond_next_deadline(f.b), INT64_MAX); /* awaiting the draw */
    CU_ASSERT_EQUAL_FATAL(fixture_take(&f, rc), LODE_OK);
    CU_ASSERT_EQUAL(reputation_bond_next_deadline(f.b), f.b->rounds[0].commit_deadline_ms);
    CU_ASSERT_STRING_EQUAL(reputation_bond_state_name(f.b->state), "commit");
    r = &f.b->rounds[0];
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_COMMIT);
    int64_t seats = 0, deposits = 0;
    for (size_t i = 0; i < r->juror_count; i++) {
        seats += r->jurors[i].seats;
        deposits += r->jurors[i].seats * 1000;
    }
    CU_ASSERT_EQUAL(seats, 5);
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 22000 + deposits);
    /* the draw is reproducible from public data */
    uint8_t seed[32];
    reputation_jury_seed(root, 77, 0, seed);
    CU_ASSERT_EQUAL(memcmp(seed, r->seed, 32), 0);
    int64_t j0 = r->jurors[0].account;
    world_salt(j0, 0, salt);
    reputation_vote_commitment(77, 0, j0, REPUTATION_VOTE_REJECT, salt, c);
    /* not a juror, then a valid commit, then voting twice */
    rc = reputation_bond_commit(&f.w.cfg, f.b, OTHER, c, T0 + 200, f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EFORBIDDEN);
    rc = reputation_bond_commit(&f.w.cfg, f.b, j0, c, T0 + 200, f.next, f.fx, &err);
    CU_ASSERT_EQUAL(fixture_take(&f, rc), LODE_OK);
    rc = reputation_bond_commit(&f.w.cfg, f.b, j0, c, T0 + 201, f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "already committed"));
    /* a reveal before the reveal phase */
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j0, REPUTATION_VOTE_REJECT, salt, T0 + 202, f.next,
                                f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_ECONFLICT);
    /* a commit after the deadline */
    int64_t j1 = r->jurors[1].account, deadline = r->commit_deadline_ms;
    rc = reputation_bond_commit(&f.w.cfg, f.b, j1, c, deadline, f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EGONE);
    /* reveals: a mismatch, then a match, then twice */
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j0, REPUTATION_VOTE_UPHOLD, salt, deadline, f.next,
                                f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EVERIFY);
    CU_ASSERT_EQUAL(f.fx->event_count, 0);
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j0, (enum reputation_vote)9, salt, deadline, f.next,
                                f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EINVAL);
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j1, REPUTATION_VOTE_REJECT, salt, deadline, f.next,
                                f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_ECONFLICT); /* never committed */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "committed no vote"));
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j0, REPUTATION_VOTE_REJECT, salt, deadline, f.next,
                                f.fx, &err);
    CU_ASSERT_EQUAL(fixture_take(&f, rc), LODE_OK);
    /* the only committed juror revealed after the commit deadline: the round is decided */
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_APPEALABLE);
    CU_ASSERT_EQUAL(f.b->rounds[0].outcome, REPUTATION_OUTCOME_REJECTED);
    CU_ASSERT_EQUAL(reputation_bond_next_deadline(f.b), f.b->appeal_deadline_ms);
    CU_ASSERT_STRING_EQUAL(reputation_outcome_name(f.b->rounds[0].outcome), "rejected");
    rc = reputation_bond_reveal(&f.w.cfg, f.b, j0, REPUTATION_VOTE_REJECT, salt, deadline + 1,
                                f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_ECONFLICT);
    /* the winner may not appeal; a stranger may not either; late appeals are gone */
    rc = reputation_bond_appeal(&f.w.cfg, f.b, CHAL, f.w.ledger_size, deadline + 2, f.next, f.fx,
                                &err);
    CU_ASSERT_EQUAL(rc, LODE_EFORBIDDEN);
    rc = reputation_bond_appeal(&f.w.cfg, f.b, OTHER, f.w.ledger_size, deadline + 2, f.next, f.fx,
                                &err);
    CU_ASSERT_EQUAL(rc, LODE_EFORBIDDEN);
    rc = reputation_bond_appeal(&f.w.cfg, f.b, PUB, f.w.ledger_size, f.b->appeal_deadline_ms,
                                f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_EGONE);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

/* Full path without appeal: every juror rejects; checks each settlement transfer. */
static void test_settlement_no_appeal(void)
{
    struct fixture f;
    struct lode_error err;
    int64_t stake_before[64];

    fixture_init(&f, 4);
    CU_ASSERT_EQUAL_FATAL(fixture_challenge(&f, CHAL, 10000), LODE_OK);
    for (size_t i = 0; i < f.pool_count; i++)
        stake_before[i] = bal(&f, world_stake(f.pool[i].account));
    CU_ASSERT_EQUAL_FATAL(
        world_run_round(&f.w, f.b, f.pool, f.pool_count, vote_reject, NULL, &f.now, f.fx, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_APPEALABLE);
    CU_ASSERT_EQUAL(f.b->rounds[0].seats_reject, 5);
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, f.b->appeal_deadline_ms, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_EQUAL(f.b->outcome, REPUTATION_OUTCOME_REJECTED);
    /* forfeit 10000: burn 2500, juror pool 1000 over 5 seats, winner gains 6500 */
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), 40000);
    CU_ASSERT_EQUAL(bal(&f, world_user(CHAL)), 56500);
    CU_ASSERT_EQUAL(bal(&f, world_burn()), 2500);
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 0);
    for (size_t i = 0; i < f.pool_count; i++) {
        const struct reputation_round_juror *j = NULL;
        for (size_t k = 0; k < f.b->rounds[0].juror_count; k++)
            if (f.b->rounds[0].jurors[k].account == f.pool[i].account)
                j = &f.b->rounds[0].jurors[k];
        CU_ASSERT_EQUAL(bal(&f, world_stake(f.pool[i].account)), stake_before[i]);
        CU_ASSERT_EQUAL(bal(&f, world_user(f.pool[i].account)), j ? 200 * j->seats : 0);
    }
    size_t obs_won = 0, obs_lost = 0, obs_coherent = 0;
    for (size_t i = 0; i < f.fx->observed_count; i++) {
        obs_won += f.fx->observed[i].observation == REPUTATION_OBS_CHALLENGE_WON;
        obs_lost += f.fx->observed[i].observation == REPUTATION_OBS_BOND_LOST;
        obs_coherent += f.fx->observed[i].observation == REPUTATION_OBS_JUROR_COHERENT;
    }
    CU_ASSERT_EQUAL(obs_won, 1);
    CU_ASSERT_EQUAL(obs_lost, 1);
    CU_ASSERT_EQUAL(obs_coherent, f.b->rounds[0].juror_count);
    CU_ASSERT_EQUAL(f.fx->events[f.fx->event_count - 1].type, REPUTATION_EVENT_BOND_RESOLVED);
    /* the ledger entry of the resolution lists the settlement's transfers */
    json_t *entry = reputation_event_json(&f.fx->events[f.fx->event_count - 1], f.fx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(entry, "transfers")), f.fx->transfer_count);
    char *text = json_canonical_dump(entry, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"outcome\":\"rejected\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"burned\":2500"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"amount\":6500,\"currency\":978,\"from\":{\"id\":77,"
                                        "\"kind\":\"escrow\"},\"reason\":\"winner_gain\","
                                        "\"to\":{\"id\":2,\"kind\":\"user\"}}"));
    free(text);
    json_decref(entry);
    entry = reputation_event_json(&f.fx->events[0], f.fx);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "type")), "juror_settled");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "verdict")), "coherent");
    json_decref(entry);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

/* Appeal path: round 0 rejects with a no-show, the publisher appeals, round 1 upholds. */
static void test_settlement_with_appeal(void)
{
    struct fixture f;
    struct lode_error err;
    int64_t first = 0;

    fixture_init(&f, 5);
    f.w.cfg.jury_distinct = true;
    CU_ASSERT_EQUAL_FATAL(fixture_challenge(&f, CHAL, 10000), LODE_OK);
    /* the first drawn juror does not show: find it after the draw via the ctx pointer */
    first = -1;
    CU_ASSERT_EQUAL_FATAL(
        world_run_round(&f.w, f.b, f.pool, f.pool_count, vote_reject, NULL, &f.now, f.fx, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(f.b->rounds[0].outcome, REPUTATION_OUTCOME_REJECTED);
    int64_t pub_before = bal(&f, world_user(PUB));
    enum lode_code rc =
        reputation_bond_appeal(&f.w.cfg, f.b, PUB, f.w.ledger_size, f.now + 5, f.next, f.fx, &err);
    CU_ASSERT_EQUAL_FATAL(fixture_take(&f, rc), LODE_OK);
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), pub_before - 10000); /* fee = 100 % of bond */
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_AWAITING_DRAW);
    rc = reputation_bond_appeal(&f.w.cfg, f.b, PUB, f.w.ledger_size, f.now + 6, f.next, f.fx, &err);
    CU_ASSERT_EQUAL(rc, LODE_ECONFLICT); /* one appeal only */
    first = 0;
    CU_ASSERT_EQUAL_FATAL(
        world_run_round(&f.w, f.b, f.pool, f.pool_count, vote_script, &first, &f.now, f.fx, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(f.b->rounds[1].juror_count, 11);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_EQUAL(f.b->outcome, REPUTATION_OUTCOME_UPHELD);
    /* publisher: bond and fee back, plus the challenger's 10000 less 2500 burn, 1000 jurors */
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), 56500);
    CU_ASSERT_EQUAL(bal(&f, world_user(CHAL)), 40000);
    /* jurors: round 0 (5 incoherent, 5000 slashed) + 1000 -> 11 coherent seats of round 1 */
    int64_t pool = 1000 + 5000, per_seat = pool / 11;
    CU_ASSERT_EQUAL(bal(&f, world_burn()), 2500 + (pool - per_seat * 11));
    for (size_t k = 0; k < 11; k++) {
        int64_t a = f.b->rounds[1].jurors[k].account;
        bool in_first = false;
        for (size_t m = 0; m < f.b->rounds[0].juror_count; m++)
            in_first = in_first || f.b->rounds[0].jurors[m].account == a;
        CU_ASSERT_EQUAL(bal(&f, world_user(a)), per_seat);
        (void)in_first;
    }
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 0);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

/* Nobody shows up: the bond ends undecided; parties pay the undecided burn; no-shows slashed */
static enum reputation_vote vote_none(void *ctx, int64_t juror, int round)
{
    return REPUTATION_VOTE_NONE;
}

static void test_settlement_undecided(void)
{
    struct fixture f;
    struct lode_error err;

    fixture_init(&f, 6);
    CU_ASSERT_EQUAL_FATAL(fixture_challenge(&f, CHAL, 10000), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(
        world_run_round(&f.w, f.b, f.pool, f.pool_count, vote_none, NULL, &f.now, f.fx, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(f.b->rounds[0].outcome, REPUTATION_OUTCOME_UNDECIDED);
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, f.b->appeal_deadline_ms, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.b->outcome, REPUTATION_OUTCOME_UNDECIDED);
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), 49500);
    CU_ASSERT_EQUAL(bal(&f, world_user(CHAL)), 49500);
    CU_ASSERT_EQUAL(bal(&f, world_burn()), 1000 + 5000);
    CU_ASSERT_EQUAL(bal(&f, world_escrow(77)), 0);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

static void test_settlement_upheld_all(void)
{
    struct fixture f;
    struct lode_error err;

    fixture_init(&f, 8);
    CU_ASSERT_EQUAL_FATAL(fixture_challenge(&f, CHAL, 10003), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(
        world_run_round(&f.w, f.b, f.pool, f.pool_count, vote_uphold, NULL, &f.now, f.fx, &err),
        LODE_OK);
    /* the challenger lets the appeal window pass */
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, f.b->appeal_deadline_ms - 1, f.fx, &err), LODE_OK);
    CU_ASSERT_EQUAL(f.b->state, REPUTATION_BOND_APPEALABLE);
    CU_ASSERT_EQUAL(world_advance(&f.w, f.b, f.b->appeal_deadline_ms, f.fx, &err), LODE_OK);
    /* forfeit 10003: burn 2500 (floor), jurors 1000 (floor), winner 6503 (remainder) */
    CU_ASSERT_EQUAL(bal(&f, world_user(PUB)), 56503);
    CU_ASSERT_EQUAL(bal(&f, world_burn()), 2500);
    CU_ASSERT_TRUE(world_conserved(&f.w));
    fixture_fini(&f);
}

/* The largest juries the limits allow fit in one effects list, through appeal and settlement */
static void test_largest_juries(void)
{
    struct world w;
    struct reputation_juror pool[200];
    struct reputation_bond *b = calloc(1, sizeof *b), *next = calloc(1, sizeof *next);
    struct reputation_effects *fx = calloc(1, sizeof *fx);
    struct lode_error err;
    int64_t now = T0;

    world_init(&w, 9);
    w.cfg.jury_seats = LODE_JURY_SEATS_MAX - 2;
    w.cfg.appeal_jury_seats = LODE_JURY_SEATS_MAX;
    w.cfg.jury_distinct = true;
    for (int64_t j = 100; j < 300; j++)
        world_juror(&w, j, 5000);
    world_deposit(&w, PUB, 100000);
    world_deposit(&w, CHAL, 100000);
    size_t n = world_pool(&w, 100, 299, 10000, pool);
    struct reputation_bond_params p = {.id = 5,
                                       .currency = WORLD_CURRENCY,
                                       .publisher = PUB,
                                       .amount = 10000,
                                       .statement = "accurate",
                                       .window_ms = 3600000};
    CU_ASSERT_EQUAL_FATAL(reputation_bond_post(&w.cfg, &p, now, b, fx, &err), LODE_OK);
    world_post(&w, fx, &err);
    reputation_effects_clear(fx);
    CU_ASSERT_EQUAL_FATAL(reputation_bond_challenge(&w.cfg, b, CHAL, 10000, zero_hash,
                                                    w.ledger_size, now, next, fx, &err),
                          LODE_OK);
    world_post(&w, fx, &err);
    memcpy(b, next, sizeof *b);
    CU_ASSERT_EQUAL_FATAL(world_run_round(&w, b, pool, n, vote_uphold, NULL, &now, fx, &err),
                          LODE_OK);
    reputation_effects_clear(fx);
    CU_ASSERT_EQUAL_FATAL(
        reputation_bond_appeal(&w.cfg, b, CHAL, w.ledger_size, now, next, fx, &err), LODE_OK);
    world_post(&w, fx, &err);
    memcpy(b, next, sizeof *b);
    CU_ASSERT_EQUAL_FATAL(world_run_round(&w, b, pool, n, vote_reject, NULL, &now, fx, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(b->rounds[0].juror_count, LODE_JURY_SEATS_MAX - 2);
    CU_ASSERT_EQUAL(b->rounds[1].juror_count, LODE_JURY_SEATS_MAX);
    CU_ASSERT_EQUAL(b->outcome, REPUTATION_OUTCOME_REJECTED);
    CU_ASSERT_TRUE(fx->transfer_count <= REPUTATION_TRANSFERS_MAX);
    CU_ASSERT_EQUAL(reputation_journal_balance(w.journal, world_escrow(5), WORLD_CURRENCY), 0);
    CU_ASSERT_TRUE(world_conserved(&w));
    free(b);
    free(next);
    free(fx);
    world_fini(&w);
}

/* ---- reputation ------------------------------------------------------------------------- */

static void test_beta_functions(void)
{
    CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(0.3, 1, 1), 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(0.5, 7, 7), 0.5, 1e-12);
    /* I_x(a,1) = x^a; I_x(1,b) = 1-(1-x)^b */
    CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(0.6, 3, 1), 0.216, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(0.2, 1, 4), 1 - pow(0.8, 4), 1e-12);
    /* Beta(2,3) cdf at 0.4 = 0.5248 */
    CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(0.4, 2, 3), 0.5248, 1e-12);
    for (double p = 0.025; p < 1; p += 0.1) {
        double q = reputation_beta_quantile(p, 3.5, 12.25);
        CU_ASSERT_DOUBLE_EQUAL(reputation_beta_cdf(q, 3.5, 12.25), p, 1e-9);
    }
}

static void test_scores(void)
{
    struct reputation_config cfg;
    struct reputation_record rec, fresh;
    struct reputation_score s, s0, later;
    struct lode_error err;
    const int64_t day = 86400000;

    reputation_config_default(&cfg);
    reputation_record_init(&fresh, REPUTATION_ROLE_FACT_CHECKER);
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &fresh, day, &s0, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(s0.mean, 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s0.lower, 0.025, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s0.upper, 0.975, 1e-9);
    CU_ASSERT_FALSE(s0.established);
    CU_ASSERT_EQUAL(reputation_juror_factor_bps(&cfg, &s0, 5000), cfg.factor_min_bps);

    rec = fresh;
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(reputation_observe(&cfg, &rec, REPUTATION_OBS_CHALLENGE_WON, day, &err),
                        LODE_OK);
    CU_ASSERT_EQUAL(reputation_observe(&cfg, &rec, REPUTATION_OBS_JUROR_NO_SHOW, day, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &rec, day, &s, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.alpha, 21.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s.beta, 1.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s.mean, 21.0 / 22.5, 1e-9);
    CU_ASSERT_TRUE(s.lower < s.mean && s.mean < s.upper);
    CU_ASSERT_TRUE(s.upper - s.lower < s0.upper - s0.lower);
    CU_ASSERT_TRUE(s.established);
    CU_ASSERT_EQUAL(s.counts[REPUTATION_OBS_CHALLENGE_WON], 20);
    CU_ASSERT_EQUAL(s.counts[REPUTATION_OBS_JUROR_NO_SHOW], 1);
    int64_t f = reputation_juror_factor_bps(&cfg, &s, 5000);
    CU_ASSERT_TRUE(f > cfg.factor_min_bps && f <= cfg.factor_max_bps);
    CU_ASSERT_EQUAL(f, cfg.factor_min_bps + (int64_t)floor(10000 * s.lower));

    /* one half-life later the evidence has halved and the interval widened */
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &rec, day + cfg.half_life_ms, &later, &err),
                    LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(later.positive, 10.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(later.negative, 0.25, 1e-9);
    CU_ASSERT_TRUE(later.upper - later.lower > s.upper - s.lower);
    CU_ASSERT_EQUAL(later.counts[REPUTATION_OBS_CHALLENGE_WON], 20); /* raw counts kept */

    /* a poor record sits at the floor, never below a new account */
    rec = fresh;
    for (int i = 0; i < 30; i++)
        reputation_observe(&cfg, &rec, REPUTATION_OBS_JUROR_INCOHERENT, day, &err);
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &rec, day, &s, &err), LODE_OK);
    CU_ASSERT_TRUE(s.mean < 0.1);
    CU_ASSERT_EQUAL(reputation_juror_factor_bps(&cfg, &s, 5000),
                    cfg.factor_min_bps + (int64_t)floor(10000 * s.lower));
    CU_ASSERT_TRUE(reputation_juror_factor_bps(&cfg, &s, 5000) >=
                   reputation_juror_factor_bps(&cfg, &s0, 5000));

    /* refusals: another role's observation, time running backwards */
    CU_ASSERT_EQUAL(reputation_observe(&cfg, &rec, REPUTATION_OBS_BOND_UPHELD, day, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(reputation_observe(&cfg, &rec, REPUTATION_OBS_JUROR_COHERENT, day - 1, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &rec, day - 1, &s, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(reputation_observation_role(REPUTATION_OBS_ITEM_SYNTHETIC),
                    REPUTATION_ROLE_PUBLISHER);
    CU_ASSERT_TRUE(reputation_observation_weight_milli(REPUTATION_OBS_BOND_LOST) < 0);
    CU_ASSERT_STRING_EQUAL(reputation_observation_name(REPUTATION_OBS_LABEL_GOLD_WRONG),
                           "label_gold_wrong");

    /* labelers: gold and consensus */
    reputation_record_init(&rec, REPUTATION_ROLE_LABELER);
    reputation_observe(&cfg, &rec, REPUTATION_OBS_LABEL_GOLD_CORRECT, day, &err);
    reputation_observe(&cfg, &rec, REPUTATION_OBS_LABEL_CONSENSUS_DISAGREE, day, &err);
    CU_ASSERT_EQUAL(reputation_score_compute(&cfg, &rec, day, &s, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.mean, 2.0 / 3.5, 1e-9);
}

static const struct test_case money_cases[] = {
    {"amounts", test_amounts},
    {"journal", test_journal},
    {"config", test_config},
    {NULL, NULL},
};
static const struct test_case jury_cases[] = {
    {"commitment_encoding", test_commitment_encoding},
    {"draw_matches_spec", test_jury_draw_matches_spec},
    {"weights_and_refusals", test_jury_weights_and_refusals},
    {NULL, NULL},
};
static const struct test_case bond_cases[] = {
    {"post_refusals", test_bond_post_refusals},
    {"unchallenged", test_bond_unchallenged},
    {"challenge_refusals", test_bond_challenge_refusals},
    {"votes_and_refusals", test_bond_votes_and_refusals},
    {"settlement_no_appeal", test_settlement_no_appeal},
    {"settlement_with_appeal", test_settlement_with_appeal},
    {"settlement_undecided", test_settlement_undecided},
    {"settlement_rounding", test_settlement_upheld_all},
    {"largest_juries", test_largest_juries},
    {NULL, NULL},
};
static const struct test_case score_cases[] = {
    {"beta_functions", test_beta_functions},
    {"scores", test_scores},
    {NULL, NULL},
};

int main(void)
{
    static const struct test_suite suites[] = {
        {"reputation_money", money_cases},
        {"reputation_jury", jury_cases},
        {"reputation_bond", bond_cases},
        {"reputation_score", score_cases},
        {NULL, NULL},
    };
    return test_main(suites);
}
