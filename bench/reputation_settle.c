/*
 * bench/reputation_settle.c — throughput of the pure reputation engine with journal posting.
 *
 * Figures (median of 5 runs, printed, never pass/fail):
 *   settle:    settlements per second: advance() past the appeal window of a bond with a
 *              decided 5-seat first round, plus posting its transfers to the journal;
 *              the same without the posting (engine only);
 *   appeal:    the same for bonds that went through an 11-seat appeal (settle after reveal);
 *   lifecycle: whole bonds per second: post, challenge, draw from a 200-juror pool,
 *              5 commits, 5 reveals, settlement, every step posted.
 * Usage: reputation_settle [bonds per run, default 20000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "reputation/reputation.h"

#define CUR 978u
#define POOL 200
#define J0 1000

static struct reputation_account acc(enum reputation_account_kind k, int64_t id)
{
    return (struct reputation_account){k, id};
}

static void must(enum lode_code rc, const struct lode_error *err, const char *what)
{
    if (rc != LODE_OK) {
        fprintf(stderr, "reputation_settle: could not %s: %s\n", what, err->message);
        exit(3);
    }
}

static void post(struct reputation_journal *j, const struct reputation_effects *fx)
{
    struct lode_error err;
    must(reputation_journal_post(j, fx->transfers, fx->transfer_count, &err), &err, "post");
}

struct env {
    struct reputation_config cfg;
    struct reputation_journal *j;
    struct reputation_juror pool[POOL];
    struct reputation_effects fx;
    struct reputation_bond next;
};

static void env_init(struct env *e, int64_t bonds)
{
    struct lode_error err;
    reputation_config_default(&e->cfg);
    e->j = reputation_journal_create();
    for (int i = 0; i < POOL; i++) {
        int64_t a = J0 + i, stake = 1000000000;
        struct reputation_transfer t[2] = {
            {acc(REPUTATION_ACCOUNT_EXTERNAL, 0), acc(REPUTATION_ACCOUNT_USER, a), CUR, stake,
             REPUTATION_REASON_DEPOSIT},
            {acc(REPUTATION_ACCOUNT_USER, a), acc(REPUTATION_ACCOUNT_JUROR_STAKE, a), CUR, stake,
             REPUTATION_REASON_JUROR_STAKE}};
        must(reputation_journal_post(e->j, t, 2, &err), &err, "stake");
        e->pool[i] = (struct reputation_juror){a, stake / 4, 5000 + (i % 11) * 1000};
    }
    for (int64_t a = 1; a <= 2; a++) {
        struct reputation_transfer t = {acc(REPUTATION_ACCOUNT_EXTERNAL, 0),
                                        acc(REPUTATION_ACCOUNT_USER, a), CUR, 40000 * bonds,
                                        REPUTATION_REASON_DEPOSIT};
        must(reputation_journal_post(e->j, &t, 1, &err), &err, "deposit");
    }
}

/* Runs one round of the bond's pending jury: every juror votes `vote` except the first. */
static void run_round(struct env *e, struct reputation_bond *b, int64_t *now, uint64_t salt_seed)
{
    struct lode_error err;
    uint8_t root[32] = {0}, salt[32] = {0}, c[32];
    memcpy(root, &salt_seed, sizeof salt_seed);
    reputation_effects_clear(&e->fx);
    must(reputation_bond_draw(&e->cfg, b, e->pool, POOL, (uint64_t)b->id * 100 + 99, root, *now,
                              &e->next, &e->fx, &err),
         &err, "draw");
    post(e->j, &e->fx);
    *b = e->next;
    struct reputation_round *r = &b->rounds[b->round_count - 1];
    for (size_t i = 0; i < r->juror_count; i++) {
        enum reputation_vote v = i == 0 ? REPUTATION_VOTE_UPHOLD : REPUTATION_VOTE_REJECT;
        reputation_vote_commitment(b->id, b->round_count - 1, r->jurors[i].account, v, salt, c);
        reputation_effects_clear(&e->fx);
        must(reputation_bond_commit(&e->cfg, b, r->jurors[i].account, c, *now + 1, &e->next, &e->fx,
                                    &err),
             &err, "commit");
        post(e->j, &e->fx);
        *b = e->next;
    }
    for (size_t i = 0; i < r->juror_count; i++) {
        enum reputation_vote v = i == 0 ? REPUTATION_VOTE_UPHOLD : REPUTATION_VOTE_REJECT;
        reputation_effects_clear(&e->fx);
        must(reputation_bond_reveal(&e->cfg, b, r->jurors[i].account, v, salt, *now + 2, &e->next,
                                    &e->fx, &err),
             &err, "reveal");
        post(e->j, &e->fx);
        *b = e->next;
    }
    *now += 3;
}

/* A bond from posting to the end of its first round (or its appeal round). */
static void bond_to_ruling(struct env *e, int64_t id, bool appeal, struct reputation_bond *b)
{
    struct lode_error err;
    int64_t now = 1000;
    uint8_t zero[32] = {0};
    struct reputation_bond_params p = {.id = id,
                                       .currency = CUR,
                                       .publisher = 1,
                                       .amount = 10000,
                                       .statement = "human-made",
                                       .window_ms = 3600000};
    reputation_effects_clear(&e->fx);
    must(reputation_bond_post(&e->cfg, &p, now, b, &e->fx, &err), &err, "post bond");
    post(e->j, &e->fx);
    reputation_effects_clear(&e->fx);
    must(reputation_bond_challenge(&e->cfg, b, 2, 10000, zero, id * 100, now + 1, &e->next, &e->fx,
                                   &err),
         &err, "challenge");
    post(e->j, &e->fx);
    *b = e->next;
    run_round(e, b, &now, (uint64_t)id);
    if (appeal) {
        reputation_effects_clear(&e->fx);
        int64_t loser = b->rounds[0].outcome == REPUTATION_OUTCOME_UPHELD ? 2 : 1;
        must(reputation_bond_appeal(&e->cfg, b, loser, id * 100, now, &e->next, &e->fx, &err), &err,
             "appeal");
        post(e->j, &e->fx);
        *b = e->next;
        run_round(e, b, &now, (uint64_t)id + 7777777);
    }
}

int main(int argc, char **argv)
{
    int64_t bonds = argc > 1 ? atoll(argv[1]) : 20000;
    double settle[5], settle_engine[5], appeal_rate[5], life[5];
    struct reputation_bond *ready = calloc((size_t)bonds, sizeof *ready);
    struct env *e = calloc(1, sizeof *e);
    struct lode_error err;

    if (bonds < 1 || ready == NULL || e == NULL)
        return 2;
    for (int run = 0; run < 5; run++) {
        /* settle: prepare bonds with a decided first round, time only advance + posting */
        env_init(e, bonds);
        for (int64_t i = 0; i < bonds; i++)
            bond_to_ruling(e, i + 1, false, &ready[i]);
        double t0 = bench_now_s(), engine = 0;
        for (int64_t i = 0; i < bonds; i++) {
            double t1 = bench_now_s();
            reputation_effects_clear(&e->fx);
            must(reputation_bond_advance(&e->cfg, &ready[i], ready[i].appeal_deadline_ms, &e->next,
                                         &e->fx, &err),
                 &err, "settle");
            engine += bench_now_s() - t1;
            post(e->j, &e->fx);
        }
        settle[run] = (double)bonds / (bench_now_s() - t0);
        settle_engine[run] = (double)bonds / engine;
        reputation_journal_destroy(e->j);

        /* appeal: settlement happens inside the last reveal of the 11-seat round */
        env_init(e, bonds);
        int64_t n_appeal = bonds;
        for (int64_t i = 0; i < n_appeal; i++) {
            bond_to_ruling(e, i + 1, true, &ready[i]);
            /* the appeal round was fully revealed, so the bond is already resolved and its
             * money posted; put it back to its reveal phase and time the final step again */
            ready[i].state = REPUTATION_BOND_REVEAL;
            ready[i].outcome = REPUTATION_OUTCOME_PENDING;
        }
        double spent = bench_now_s();
        for (int64_t i = 0; i < n_appeal; i++) {
            reputation_effects_clear(&e->fx);
            must(reputation_bond_advance(&e->cfg, &ready[i], ready[i].rounds[1].reveal_deadline_ms,
                                         &e->next, &e->fx, &err),
                 &err, "settle appeal");
        }
        spent = bench_now_s() - spent;
        appeal_rate[run] = (double)n_appeal / spent;
        reputation_journal_destroy(e->j);

        /* lifecycle: everything timed */
        env_init(e, bonds);
        t0 = bench_now_s();
        for (int64_t i = 0; i < bonds; i++) {
            bond_to_ruling(e, i + 1, false, &ready[i]);
            reputation_effects_clear(&e->fx);
            must(reputation_bond_advance(&e->cfg, &ready[i], ready[i].appeal_deadline_ms, &e->next,
                                         &e->fx, &err),
                 &err, "settle");
            post(e->j, &e->fx);
        }
        life[run] = (double)bonds / (bench_now_s() - t0);
        reputation_journal_destroy(e->j);
    }
    qsort(settle, 5, sizeof settle[0], bench_cmp_double);
    qsort(settle_engine, 5, sizeof settle_engine[0], bench_cmp_double);
    qsort(appeal_rate, 5, sizeof appeal_rate[0], bench_cmp_double);
    qsort(life, 5, sizeof life[0], bench_cmp_double);
    printf("reputation_settle: %lld bonds per run, median of 5 runs\n", (long long)bonds);
    printf("  settle (5-seat round, incl. journal posting): %10.0f settlements/s\n", settle[2]);
    printf("  settle (5-seat round, engine only):           %10.0f settlements/s\n",
           settle_engine[2]);
    printf("  settle (5 + 11-seat appeal, engine only):     %10.0f settlements/s\n",
           appeal_rate[2]);
    printf("  whole bond lifecycle (13 transitions posted): %10.0f bonds/s\n", life[2]);
    free(ready);
    free(e);
    return 0;
}
