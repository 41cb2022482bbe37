/*
 * tests/unit/reputation/test_reputation_sim.c — simulations of the whole protocol (draw,
 * commit-reveal, appeal, settlement, journal) that measure the design against its attacks and
 * print the figures quoted in docs/reputation.md:
 *   - juries where honest jurors hold a given share of the stake: rate of correct outcomes;
 *   - a colluding minority voting together against the truth: rate of flipped outcomes;
 *   - Sybil splitting of one stake into many accounts: expected seats before and after;
 *   - a p+epsilon briber: collateral and realised cost as multiples of the stake at issue.
 * The assertions are loose bounds that only a broken design would miss; the printed rates
 * are the measurements.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rep_world.h"
#include "test_main.h"

#define POOL 60
#define JUROR0 1000
#define PUBLISHER 1
#define CHALLENGER 2
#define BOND 10000

struct voters {
    bool dishonest[POOL];
    bool bribed[POOL];
    enum reputation_vote truth;
};

static enum reputation_vote vote_policy(void *ctx, int64_t juror, int round)
{
    const struct voters *v = ctx;
    enum reputation_vote lie =
        v->truth == REPUTATION_VOTE_UPHOLD ? REPUTATION_VOTE_REJECT : REPUTATION_VOTE_UPHOLD;
    size_t i = (size_t)(juror - JUROR0);
    return v->dishonest[i] || v->bribed[i] ? lie : v->truth;
}

struct trial {
    enum reputation_outcome round0;
    enum reputation_outcome final;
    int64_t honest_net; /* money gained by honest jurors, total */
    int64_t dishonest_net;
    int64_t honest_seats;
    int64_t dishonest_seats;
};

/* One bond through the whole protocol; the first-round loser always appeals. */
static void run_trial(uint64_t seed, double dishonest_share, enum reputation_vote truth,
                      int64_t appeal_seats, struct trial *out)
{
    struct world w;
    struct voters v;
    struct reputation_juror pool[POOL];
    struct reputation_bond *b = calloc(1, sizeof *b), *next = calloc(1, sizeof *next);
    struct reputation_effects *fx = calloc(1, sizeof *fx);
    struct lode_error err;
    int64_t stakes[POOL], total = 0, dishonest = 0, now = 1700000000000;
    uint8_t ev[32] = {0};
    size_t order[POOL];

    world_init(&w, seed);
    w.cfg.appeal_jury_seats = appeal_seats;
    memset(&v, 0, sizeof v);
    memset(out, 0, sizeof *out);
    v.truth = truth;
    for (size_t i = 0; i < POOL; i++) {
        stakes[i] = (int64_t)(2000.0 * pow(25.0, world_unit(&w))); /* 2k..50k, log-uniform */
        total += stakes[i];
        world_juror(&w, JUROR0 + (int64_t)i, stakes[i]);
        order[i] = i;
    }
    for (size_t i = POOL - 1; i > 0; i--) {
        size_t k = (size_t)world_range(&w, 0, (int64_t)i), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    /* colluders are taken in random order until they hold the target share of stake */
    for (size_t i = 0; i < POOL; i++) {
        size_t j = order[i];
        if ((double)(dishonest + stakes[j]) > dishonest_share * (double)total)
            continue;
        v.dishonest[j] = true;
        dishonest += stakes[j];
    }
    world_deposit(&w, PUBLISHER, 5 * BOND);
    world_deposit(&w, CHALLENGER, 5 * BOND);
    struct reputation_bond_params p = {.id = 1,
                                       .currency = WORLD_CURRENCY,
                                       .publisher = PUBLISHER,
                                       .amount = BOND,
                                       .statement = "human-made",
                                       .window_ms = 3600000};
    CU_ASSERT_EQUAL_FATAL(reputation_bond_post(&w.cfg, &p, now, b, fx, &err), LODE_OK);
    world_post(&w, fx, &err);
    reputation_effects_clear(fx);
    CU_ASSERT_EQUAL_FATAL(reputation_bond_challenge(&w.cfg, b, CHALLENGER, BOND, ev, w.ledger_size,
                                                    now + 1, next, fx, &err),
                          LODE_OK);
    world_post(&w, fx, &err);
    memcpy(b, next, sizeof *b);
    size_t n = world_pool(&w, JUROR0, JUROR0 + POOL - 1, 10000, pool);
    CU_ASSERT_EQUAL_FATAL(world_run_round(&w, b, pool, n, vote_policy, &v, &now, fx, &err),
                          LODE_OK);
    out->round0 = b->rounds[0].outcome;
    int64_t loser = b->rounds[0].outcome == REPUTATION_OUTCOME_UPHELD ? CHALLENGER : PUBLISHER;
    reputation_effects_clear(fx);
    CU_ASSERT_EQUAL_FATAL(
        reputation_bond_appeal(&w.cfg, b, loser, w.ledger_size, now + 1, next, fx, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(world_post(&w, fx, &err), LODE_OK);
    memcpy(b, next, sizeof *b);
    n = world_pool(&w, JUROR0, JUROR0 + POOL - 1, 10000, pool);
    CU_ASSERT_EQUAL_FATAL(world_run_round(&w, b, pool, n, vote_policy, &v, &now, fx, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(b->state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_TRUE(world_conserved(&w));
    out->final = b->outcome;
    for (size_t i = 0; i < POOL; i++) {
        int64_t a = JUROR0 + (int64_t)i;
        int64_t net = reputation_journal_balance(w.journal, world_user(a), WORLD_CURRENCY) +
                      reputation_journal_balance(w.journal, world_stake(a), WORLD_CURRENCY) -
                      stakes[i];
        int64_t seats = 0;
        for (int r = 0; r < 2; r++)
            for (size_t k = 0; k < b->rounds[r].juror_count; k++)
                if (b->rounds[r].jurors[k].account == a)
                    seats += b->rounds[r].jurors[k].seats;
        if (v.dishonest[i]) {
            out->dishonest_net += net;
            out->dishonest_seats += seats;
        } else {
            out->honest_net += net;
            out->honest_seats += seats;
        }
    }
    free(b);
    free(next);
    free(fx);
    world_fini(&w);
}

static bool outcome_is_truth(enum reputation_outcome o, enum reputation_vote truth)
{
    return (o == REPUTATION_OUTCOME_UPHELD && truth == REPUTATION_VOTE_UPHOLD) ||
           (o == REPUTATION_OUTCOME_REJECTED && truth == REPUTATION_VOTE_REJECT);
}

#define TRIALS 1000

static void test_honest_majority_and_collusion(void)
{
    static const double shares[] = {0.10, 0.20, 0.25, 0.30, 0.33, 0.40, 0.45};

    printf("\njury outcomes, %d trials each (pool %d, seats 5 then 11, first-round loser "
           "appeals):\n",
           TRIALS, POOL);
    printf("  colluding stake  round-1 correct  final correct  flipped  "
           "honest net/seat  colluder net/seat\n");
    for (size_t s = 0; s < sizeof shares / sizeof shares[0]; s++) {
        long r0 = 0, fin = 0;
        int64_t hn = 0, dn = 0, hs = 0, ds = 0;
        for (int t = 0; t < TRIALS; t++) {
            struct trial tr;
            enum reputation_vote truth = t % 2 ? REPUTATION_VOTE_UPHOLD : REPUTATION_VOTE_REJECT;
            run_trial((uint64_t)t * 1000003 + s, shares[s], truth, 11, &tr);
            r0 += outcome_is_truth(tr.round0, truth);
            fin += outcome_is_truth(tr.final, truth);
            hn += tr.honest_net;
            dn += tr.dishonest_net;
            hs += tr.honest_seats;
            ds += tr.dishonest_seats;
        }
        double final_rate = (double)fin / TRIALS;
        printf("  %14.0f%%  %15.3f  %13.3f  %7.3f  %15.1f  %17.1f\n", shares[s] * 100,
               (double)r0 / TRIALS, final_rate, 1.0 - final_rate,
               hs ? (double)hn / (double)hs : 0.0, ds ? (double)dn / (double)ds : 0.0);
        /* loose bounds: a colluding fifth flips under 5 %, honest two-thirds win over 85 % */
        if (shares[s] <= 0.20)
            CU_ASSERT_TRUE(1.0 - final_rate < 0.05);
        if (shares[s] <= 0.33)
            CU_ASSERT_TRUE(final_rate > 0.85);
        if (shares[s] < 0.5)
            CU_ASSERT_TRUE(final_rate > 0.5);
        CU_ASSERT_TRUE(hn > 0);  /* coherent jurors gain */
        CU_ASSERT_TRUE(dn <= 0); /* colluders lose on the whole */
    }
}

/* The remedy for small-jury sampling: a larger appeal jury, at a third of the stake. */
static void test_appeal_jury_size(void)
{
    static const int64_t sizes[] = {11, 21, 31};
    double flipped[3];

    printf("\nappeal jury size against a colluding third of the stake (33 %%), %d trials each:\n",
           TRIALS);
    printf("  appeal seats  final correct  flipped\n");
    for (size_t z = 0; z < 3; z++) {
        long fin = 0;
        for (int t = 0; t < TRIALS; t++) {
            struct trial tr;
            enum reputation_vote truth = t % 2 ? REPUTATION_VOTE_UPHOLD : REPUTATION_VOTE_REJECT;
            run_trial((uint64_t)t * 1000003 + 4, 0.33, truth, sizes[z], &tr);
            fin += outcome_is_truth(tr.final, truth);
        }
        flipped[z] = 1.0 - (double)fin / TRIALS;
        printf("  %12lld  %13.3f  %7.3f\n", (long long)sizes[z], (double)fin / TRIALS,
               flipped[z]);
    }
    CU_ASSERT_TRUE(flipped[2] < flipped[0]); /* more seats, fewer flips */
}

/* ---- Sybil splitting -------------------------------------------------------------------- */

#define SYBIL_DRAWS 40000

/* Expected seats of the accounts >= 900 over many seeds. */
static double expected_seats(const struct reputation_config *cfg,
                             const struct reputation_juror *pool, size_t n)
{
    struct reputation_seat_holder h[LODE_JURY_SEATS_MAX];
    struct lode_error err;
    long seats = 0;

    for (int s = 0; s < SYBIL_DRAWS; s++) {
        uint8_t seed[32] = {0}, root[32] = {0};
        size_t count = 0;
        memcpy(root, &s, sizeof s);
        reputation_jury_seed(root, 1, 0, seed);
        if (reputation_jury_draw(cfg, seed, pool, n, NULL, 0, cfg->jury_seats, cfg->seat_deposit, h,
                                 &count, &err) != LODE_OK) {
            CU_FAIL("draw failed");
            return 0;
        }
        for (size_t i = 0; i < count; i++)
            if (h[i].account >= 900)
                seats += h[i].seats;
    }
    return (double)seats / SYBIL_DRAWS;
}

/* 40 others of 10000 each, then the subject: `stake` in one account or split into k */
static size_t sybil_pool(struct reputation_juror *pool, int64_t stake, int k, int64_t factor,
                         int64_t split_factor)
{
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        pool[n++] = (struct reputation_juror){1 + i, 10000, 10000};
    for (int i = 0; i < k; i++)
        pool[n++] = (struct reputation_juror){900 + i, stake / k, k == 1 ? factor : split_factor};
    return n;
}

static void test_sybil(void)
{
    struct reputation_config cfg;
    struct reputation_juror pool[200];
    struct {
        const char *what;
        int64_t stake;
        int k;
        int64_t factor, split_factor;
        bool distinct;
    } cases[] = {
        {"small holder, seats", 20000, 10, 10000, 10000, false},
        {"small holder, distinct", 20000, 10, 10000, 10000, true},
        {"reputable holder, seats", 20000, 10, 14000, 5000, false},
        {"whale (60% of stake), seats", 600000, 30, 10000, 10000, false},
        {"whale (60% of stake), distinct", 600000, 30, 10000, 10000, true},
    };

    reputation_config_default(&cfg);
    printf("\nSybil splitting, %d draws of %lld seats each (40 others of 10000):\n", SYBIL_DRAWS,
           (long long)cfg.jury_seats);
    printf("  %-32s %12s %12s %8s\n", "subject", "one account", "split", "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cfg.jury_distinct = cases[c].distinct;
        size_t n1 = sybil_pool(pool, cases[c].stake, 1, cases[c].factor, cases[c].split_factor);
        double one = expected_seats(&cfg, pool, n1);
        size_t nk =
            sybil_pool(pool, cases[c].stake, cases[c].k, cases[c].factor, cases[c].split_factor);
        double split = expected_seats(&cfg, pool, nk);
        printf("  %-32s %12.4f %12.4f %8.3f  (split into %d)\n", cases[c].what, one, split,
               split / one, cases[c].k);
        if (c == 0)
            CU_ASSERT_TRUE(fabs(split / one - 1.0) < 0.03); /* no gain beyond noise */
        if (c == 2)
            CU_ASSERT_TRUE(split < one); /* new accounts lose the reputation factor */
        if (c == 3) /* the cap binds one account; splitting recovers at most the stake share */
            CU_ASSERT_TRUE(split <= 0.6 * (double)cfg.jury_seats * 1.03);
    }
}

/* ---- p + epsilon bribery ---------------------------------------------------------------- */

/* Marks the fewest seat holders that hold a majority of the round's seats as bribed. */
static int64_t bribe_majority(const struct reputation_round *r, struct voters *v)
{
    bool taken[LODE_JURY_SEATS_MAX] = {false};
    int64_t got = 0, bribed_seats = 0;

    while (got * 2 <= r->seats) {
        size_t best = 0;
        int64_t most = -1;
        for (size_t i = 0; i < r->juror_count; i++)
            if (!taken[i] && r->jurors[i].seats > most) {
                most = r->jurors[i].seats;
                best = i;
            }
        taken[best] = true;
        got += most;
        v->bribed[r->jurors[best].account - JUROR0] = true;
        bribed_seats += most;
    }
    return bribed_seats;
}

/* Runs one round where the briber buys a majority after the (public) draw. */
static enum lode_code bribed_round(struct world *w, struct reputation_bond *b, struct voters *v,
                                   bool bribe, int64_t *bribed_seats, int64_t *now,
                                   struct reputation_effects *fx, struct lode_error *err)
{
    struct reputation_juror pool[POOL];
    struct reputation_bond *next = calloc(1, sizeof *next);
    size_t n = world_pool(w, JUROR0, JUROR0 + POOL - 1, 10000, pool);
    uint8_t root[32];
    enum lode_code rc;

    for (int i = 0; i < 32; i++)
        root[i] = (uint8_t)world_rand(w);
    reputation_effects_clear(fx);
    rc = reputation_bond_draw(&w->cfg, b, pool, n, (uint64_t)w->ledger_size + 1, root, *now, next,
                              fx, err);
    if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
        memcpy(b, next, sizeof *b);
    free(next);
    if (rc != LODE_OK)
        return rc;
    if (bribe)
        *bribed_seats += bribe_majority(&b->rounds[b->round_count - 1], v);
    /* the drawn jury is fixed; world_run_round would draw again, so vote by hand */
    struct reputation_round *r = &b->rounds[b->round_count - 1];
    next = calloc(1, sizeof *next);
    for (size_t i = 0; rc == LODE_OK && i < r->juror_count; i++) {
        uint8_t salt[32], c[32];
        enum reputation_vote vote = vote_policy(v, r->jurors[i].account, 0);
        world_salt(r->jurors[i].account, b->round_count - 1, salt);
        reputation_vote_commitment(b->id, b->round_count - 1, r->jurors[i].account, vote, salt, c);
        reputation_effects_clear(fx);
        rc = reputation_bond_commit(&w->cfg, b, r->jurors[i].account, c, *now + 1, next, fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    for (size_t i = 0; rc == LODE_OK && i < r->juror_count; i++) {
        uint8_t salt[32];
        world_salt(r->jurors[i].account, b->round_count - 1, salt);
        reputation_effects_clear(fx);
        rc = reputation_bond_reveal(&w->cfg, b, r->jurors[i].account,
                                    vote_policy(v, r->jurors[i].account, 0), salt, *now + 2, next,
                                    fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    *now += 3;
    free(next);
    return rc;
}

static void test_bribery(void)
{
    const int64_t deposits[] = {1000, 3000, 5000};

    printf("\np+epsilon bribery (false statement, publisher bribes a majority of every jury it "
           "faces; stake at issue = bond = %d, counter-stake = %d), 300 trials:\n",
           BOND, BOND);
    printf("  seat deposit  bribed seats  collateral/stake  cost if it succeeds  "
           "briber loss/stake if the appeal jury holds\n");
    for (size_t d = 0; d < sizeof deposits / sizeof deposits[0]; d++) {
        double seats_sum = 0, collateral_sum = 0, fail_loss_sum = 0;
        int64_t success_seats = 0;
        long ok = 0;
        for (int t = 0; t < 300; t++) {
            for (int attack_appeal = 1; attack_appeal >= 0; attack_appeal--) {
                struct world w;
                struct voters v;
                struct reputation_bond *b = calloc(1, sizeof *b), *next = calloc(1, sizeof *next);
                struct reputation_effects *fx = calloc(1, sizeof *fx);
                struct lode_error err;
                int64_t now = 1700000000000, bribed = 0, stakes[POOL];
                uint8_t ev[32] = {0};

                world_init(&w, (uint64_t)t * 7 + d * 100003 + 1);
                w.cfg.seat_deposit = deposits[d];
                w.cfg.appeal_seat_deposit = deposits[d];
                w.cfg.juror_stake_min = deposits[d];
                memset(&v, 0, sizeof v);
                v.truth = REPUTATION_VOTE_REJECT;
                for (size_t i = 0; i < POOL; i++) {
                    stakes[i] = 20000 + world_range(&w, 0, 30000);
                    world_juror(&w, JUROR0 + (int64_t)i, stakes[i]);
                }
                world_deposit(&w, PUBLISHER, 5 * BOND);
                world_deposit(&w, CHALLENGER, 5 * BOND);
                struct reputation_bond_params p = {.id = 1,
                                                   .currency = WORLD_CURRENCY,
                                                   .publisher = PUBLISHER,
                                                   .amount = BOND,
                                                   .statement = "accurate",
                                                   .window_ms = 3600000};
                reputation_bond_post(&w.cfg, &p, now, b, fx, &err);
                world_post(&w, fx, &err);
                reputation_effects_clear(fx);
                reputation_bond_challenge(&w.cfg, b, CHALLENGER, BOND, ev, w.ledger_size, now, next,
                                          fx, &err);
                world_post(&w, fx, &err);
                memcpy(b, next, sizeof *b);
                CU_ASSERT_EQUAL_FATAL(bribed_round(&w, b, &v, true, &bribed, &now, fx, &err),
                                      LODE_OK);
                /* the honest challenger appeals the bought ruling */
                reputation_effects_clear(fx);
                CU_ASSERT_EQUAL_FATAL(reputation_bond_appeal(&w.cfg, b, CHALLENGER, w.ledger_size,
                                                             now, next, fx, &err),
                                      LODE_OK);
                world_post(&w, fx, &err);
                memcpy(b, next, sizeof *b);
                CU_ASSERT_EQUAL_FATAL(
                    bribed_round(&w, b, &v, attack_appeal == 1, &bribed, &now, fx, &err), LODE_OK);
                CU_ASSERT_EQUAL(b->state, REPUTATION_BOND_RESOLVED);
                /* a bribed juror's loss if the attack fails is what p+epsilon must promise */
                int64_t bribed_loss = 0;
                for (size_t i = 0; i < POOL; i++) {
                    int64_t a = JUROR0 + (int64_t)i;
                    int64_t net =
                        reputation_journal_balance(w.journal, world_user(a), WORLD_CURRENCY) +
                        reputation_journal_balance(w.journal, world_stake(a), WORLD_CURRENCY) -
                        stakes[i];
                    if (v.bribed[i])
                        bribed_loss -= net;
                }
                if (attack_appeal == 1) {
                    CU_ASSERT_EQUAL(b->outcome, REPUTATION_OUTCOME_UPHELD);
                    success_seats = bribed;
                    seats_sum += (double)bribed;
                } else {
                    /* the appeal jury was not bought: the bribed first-round jurors lost their
                     * deposits, and p+epsilon owes them that plus the reward an honest seat
                     * earned; the briber also forfeits its bond */
                    CU_ASSERT_EQUAL(b->outcome, REPUTATION_OUTCOME_REJECTED);
                    int64_t honest_gain = 0, honest_seats = 0;
                    for (size_t k = 0; k < b->rounds[1].juror_count; k++) {
                        int64_t a = b->rounds[1].jurors[k].account;
                        if (!v.bribed[a - JUROR0]) {
                            honest_seats += b->rounds[1].jurors[k].seats;
                            honest_gain += reputation_journal_balance(w.journal, world_user(a),
                                                                      WORLD_CURRENCY);
                        }
                    }
                    double reward = honest_seats ? (double)honest_gain / (double)honest_seats : 0;
                    int64_t publisher_loss =
                        5 * BOND - reputation_journal_balance(w.journal, world_user(PUBLISHER),
                                                              WORLD_CURRENCY);
                    collateral_sum += (double)success_seats * ((double)deposits[d] + reward);
                    fail_loss_sum +=
                        (double)bribed_loss + reward * (double)bribed + (double)publisher_loss;
                    ok++;
                }
                CU_ASSERT_TRUE(world_conserved(&w));
                free(b);
                free(next);
                free(fx);
                world_fini(&w);
            }
        }
        printf("  %12lld  %12.2f  %16.2f  %19s  %33.2f\n", (long long)deposits[d], seats_sum / 300,
               collateral_sum / (double)ok / BOND, "epsilon x jurors",
               fail_loss_sum / (double)ok / BOND);
        CU_ASSERT_TRUE(collateral_sum > 0);
    }
}

int main(void)
{
    static const struct test_case cases[] = {
        {"honest_majority_and_collusion", test_honest_majority_and_collusion},
        {"appeal_jury_size", test_appeal_jury_size},
        {"sybil", test_sybil},
        {"bribery", test_bribery},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"reputation_simulation", cases},
        {NULL, NULL},
    };
    return test_main(suites);
}
