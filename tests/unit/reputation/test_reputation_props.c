/*
 * tests/unit/reputation/test_reputation_props.c — property tests over thousands of seeded
 * random sequences of deposits, withdrawals, juror stakes, bonds, challenges, draws, commits,
 * reveals, appeals, deadline ticks and settlements. After every step: money is conserved
 * (balances + juror stakes + escrow + burned = deposits - withdrawals), no balance is
 * negative; after every settlement: the transfers equal an independent computation of the
 * documented rules and the bond's escrow is zero.
 */
#include <stdio.h>
#include <string.h>

#include "rep_world.h"
#include "test_main.h"

#define SEQUENCES 3000
#define STEPS 90
#define USERS 8 /* parties: accounts 1..USERS */
#define JUROR_FIRST 101
#define JUROR_LAST 124
#define BONDS 4

struct tbond {
    bool live;
    struct reputation_bond b;
    enum reputation_vote votes[2][LODE_JURY_SEATS_MAX];
};

struct stats {
    long steps, refused_engine, refused_journal, resolved[5], appeals, draws, reveals;
    long settlements_checked;
};

static struct stats stats;

/* expected credit per account, from the escrow, under the documented rules */
struct credit {
    struct reputation_account a;
    __int128 amount;
};

static void credit_add(struct credit *c, size_t *n, struct reputation_account a, __int128 v)
{
    if (v == 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (c[i].a.kind == a.kind && c[i].a.id == a.id) {
            c[i].amount += v;
            return;
        }
    c[(*n)++] = (struct credit){a, v};
}

static __int128 floor_bps(__int128 x, int64_t bps)
{
    return x * bps / 10000;
}

static size_t expected_settlement(const struct reputation_config *cfg,
                                  const struct reputation_bond *b, struct credit *c)
{
    size_t n = 0;
    __int128 pub = b->amount, chal = b->challenge_stake, burn = 0, pool = 0, coherent = 0;
    enum reputation_outcome o = b->outcome;

    if (o == REPUTATION_OUTCOME_UNCHALLENGED) {
        credit_add(c, &n, world_user(b->publisher), b->amount);
        return n;
    }
    if (b->appellant == b->publisher)
        pub += b->appeal_fee;
    if (b->appellant == b->challenger && b->appellant != 0)
        chal += b->appeal_fee;
    if (o == REPUTATION_OUTCOME_UNDECIDED) {
        credit_add(c, &n, world_user(b->publisher), pub - floor_bps(pub, cfg->undecided_burn_bps));
        credit_add(c, &n, world_user(b->challenger),
                   chal - floor_bps(chal, cfg->undecided_burn_bps));
        burn = floor_bps(pub, cfg->undecided_burn_bps) + floor_bps(chal, cfg->undecided_burn_bps);
    } else {
        bool up = o == REPUTATION_OUTCOME_UPHELD;
        __int128 forfeit = up ? chal : pub;
        int64_t winner = up ? b->publisher : b->challenger;
        burn = floor_bps(forfeit, cfg->burn_bps);
        pool = floor_bps(forfeit, cfg->juror_reward_bps);
        credit_add(c, &n, world_user(winner), (up ? pub : chal) + forfeit - burn - pool);
    }
    for (int r = 0; r < b->round_count; r++)
        for (size_t i = 0; i < b->rounds[r].juror_count; i++) {
            const struct reputation_round_juror *j = &b->rounds[r].jurors[i];
            __int128 dep = (__int128)j->seats * b->rounds[r].seat_deposit;
            bool showed = j->committed && j->revealed;
            if (o == REPUTATION_OUTCOME_UNDECIDED) {
                if (showed)
                    credit_add(c, &n, world_stake(j->account), dep);
                else
                    burn += dep;
            } else if (showed &&
                       (j->vote == REPUTATION_VOTE_UPHOLD) == (o == REPUTATION_OUTCOME_UPHELD)) {
                coherent += j->seats;
            } else {
                pool += dep;
            }
        }
    if (o != REPUTATION_OUTCOME_UNDECIDED) {
        __int128 per = coherent > 0 ? pool / coherent : 0;
        for (int r = 0; r < b->round_count; r++)
            for (size_t i = 0; i < b->rounds[r].juror_count; i++) {
                const struct reputation_round_juror *j = &b->rounds[r].jurors[i];
                if (j->committed && j->revealed &&
                    (j->vote == REPUTATION_VOTE_UPHOLD) == (o == REPUTATION_OUTCOME_UPHELD)) {
                    credit_add(c, &n, world_stake(j->account),
                               (__int128)j->seats * b->rounds[r].seat_deposit);
                    credit_add(c, &n, world_user(j->account), per * j->seats);
                }
            }
        burn += pool - per * coherent;
    }
    credit_add(c, &n, world_burn(), burn);
    return n;
}

static bool settlement_matches(const struct reputation_config *cfg, const struct reputation_bond *b,
                               const struct reputation_effects *fx)
{
    struct credit want[4 * LODE_JURY_SEATS_MAX + 8], got[4 * LODE_JURY_SEATS_MAX + 8];
    size_t nw = expected_settlement(cfg, b, want), ng = 0;

    for (size_t i = 0; i < fx->transfer_count; i++) {
        const struct reputation_transfer *t = &fx->transfers[i];
        if (t->from.kind == REPUTATION_ACCOUNT_ESCROW && t->from.id == b->id)
            credit_add(got, &ng, t->to, t->amount);
    }
    if (nw != ng)
        return false;
    for (size_t i = 0; i < nw; i++) {
        bool found = false;
        for (size_t k = 0; k < ng; k++)
            if (got[k].a.kind == want[i].a.kind && got[k].a.id == want[i].a.id)
                found = got[k].amount == want[i].amount;
        if (!found)
            return false;
    }
    return true;
}

static bool no_negative(struct world *w)
{
    for (int64_t a = 1; a <= JUROR_LAST; a++)
        if (reputation_journal_balance(w->journal, world_user(a), WORLD_CURRENCY) < 0 ||
            reputation_journal_balance(w->journal, world_stake(a), WORLD_CURRENCY) < 0 ||
            reputation_journal_balance(w->journal, world_escrow(a), WORLD_CURRENCY) < 0)
            return false;
    return reputation_journal_balance(w->journal, world_burn(), WORLD_CURRENCY) >= 0;
}

static int64_t random_amount(struct world *w)
{
    switch (world_range(w, 0, 9)) {
    case 0:
        return world_range(w, -5, 5);
    case 1:
        return INT64_MAX - world_range(w, 0, 3);
    case 2:
        return world_range(w, 1, 200);
    default:
        return world_range(w, 100, 30000);
    }
}

/* Applies a transition's outcome: on success posts the effects and keeps the new bond. */
static void take(struct world *w, struct tbond *t, struct reputation_bond *next,
                 struct reputation_effects *fx, enum lode_code rc)
{
    struct lode_error err;
    bool was_resolved = t->b.state == REPUTATION_BOND_RESOLVED;

    if (rc != LODE_OK) {
        stats.refused_engine++;
        CU_ASSERT_EQUAL(fx->transfer_count, 0); /* rolled back */
        CU_ASSERT_EQUAL(fx->event_count, 0);
        return;
    }
    if (world_post(w, fx, &err) != LODE_OK) {
        stats.refused_journal++;
        CU_ASSERT_EQUAL(err.code, LODE_EUNPROCESSABLE);
        return;
    }
    if (!was_resolved && next->state == REPUTATION_BOND_RESOLVED) {
        stats.resolved[next->outcome]++;
        stats.settlements_checked++;
        CU_ASSERT_TRUE(settlement_matches(&w->cfg, next, fx));
        CU_ASSERT_EQUAL(
            reputation_journal_balance(w->journal, world_escrow(next->id), WORLD_CURRENCY), 0);
    }
    if (next->round_count > t->b.round_count && next->round_count == 2)
        stats.appeals++;
    memcpy(&t->b, next, sizeof *next);
}

static void step(struct world *w, struct tbond *bonds, int64_t *now, int64_t *next_id,
                 struct reputation_bond *next, struct reputation_effects *fx)
{
    struct lode_error err;
    struct tbond *t = &bonds[world_range(w, 0, BONDS - 1)];
    int64_t user = world_range(w, 1, USERS);
    int64_t juror = world_range(w, JUROR_FIRST, JUROR_LAST);
    enum lode_code rc;

    int op = (int)world_range(w, 0, 16);

    /* most steps take the move the bond's state calls for, the rest are random */
    if (t->live && world_range(w, 0, 9) < 6) {
        switch (t->b.state) {
        case REPUTATION_BOND_POSTED:
            op = world_range(w, 0, 3) ? 4 : 14;
            break;
        case REPUTATION_BOND_AWAITING_DRAW:
            op = 6;
            break;
        case REPUTATION_BOND_COMMIT:
        case REPUTATION_BOND_REVEAL:
            op = world_range(w, 0, 5) ? 7 : 14;
            break;
        case REPUTATION_BOND_APPEALABLE:
            op = world_range(w, 0, 2) ? 14 : 10;
            break;
        case REPUTATION_BOND_RESOLVED:
            op = 3;
            break;
        }
    } else if (!t->live) {
        op = 3;
    }
    reputation_effects_clear(fx);
    switch (op) {
    case 0:
        world_deposit(w, user, random_amount(w));
        break;
    case 1:
        world_move(w, world_user(user), (struct reputation_account){REPUTATION_ACCOUNT_EXTERNAL, 0},
                   random_amount(w), REPUTATION_REASON_WITHDRAWAL);
        break;
    case 2:
        if (world_range(w, 0, 2) > 0)
            world_juror(w, juror, world_range(w, 500, 20000));
        else
            world_move(w, world_stake(juror), world_user(juror), random_amount(w),
                       REPUTATION_REASON_JUROR_UNSTAKE);
        break;
    case 3:
        if (!t->live || t->b.state == REPUTATION_BOND_RESOLVED) {
            struct reputation_bond_params p = {
                .id = (*next_id)++,
                .currency = WORLD_CURRENCY,
                .publisher = user,
                .amount = random_amount(w),
                .statement = world_range(w, 0, 20) ? "accurate" : "X",
                .window_ms = world_range(w, 0, 10) ? world_range(w, 3600000, 7200000) : 5};
            rc = reputation_bond_post(&w->cfg, &p, *now, next, fx, &err);
            if (rc == LODE_OK && world_post(w, fx, &err) == LODE_OK) {
                t->live = true;
                memcpy(&t->b, next, sizeof *next);
            }
        }
        break;
    case 4:
    case 5:
        if (t->live) {
            int64_t stake =
                world_range(w, 0, 3) ? t->b.amount + world_range(w, -10, 5000) : random_amount(w);
            uint8_t ev[32] = {9};
            rc = reputation_bond_challenge(&w->cfg, &t->b,
                                           world_range(w, 0, 5) ? user : t->b.publisher, stake, ev,
                                           w->ledger_size, *now, next, fx, &err);
            take(w, t, next, fx, rc);
        }
        break;
    case 6:
        if (t->live && t->b.state == REPUTATION_BOND_AWAITING_DRAW) {
            struct reputation_juror pool[JUROR_LAST - JUROR_FIRST + 1];
            size_t n = world_pool(w, JUROR_FIRST, JUROR_LAST, world_range(w, 5000, 15000), pool);
            uint8_t root[32];
            for (int i = 0; i < 32; i++)
                root[i] = (uint8_t)world_rand(w);
            rc = reputation_bond_draw(&w->cfg, &t->b, pool, n,
                                      (uint64_t)w->ledger_size + world_range(w, -1, 12), root, *now,
                                      next, fx, &err);
            if (rc == LODE_OK)
                stats.draws++;
            take(w, t, next, fx, rc);
        }
        break;
    case 7:
    case 8:
    case 9:
    case 11:
    case 12:
    case 13:
        if (t->live && t->b.round_count > 0) {
            struct reputation_round *r = &t->b.rounds[t->b.round_count - 1];
            int ri = t->b.round_count - 1;
            size_t k =
                r->juror_count > 0 ? (size_t)world_range(w, 0, (int64_t)r->juror_count - 1) : 0;
            int64_t who = r->juror_count > 0 && world_range(w, 0, 9) ? r->jurors[k].account : juror;
            enum reputation_vote v =
                world_range(w, 0, 2) ? REPUTATION_VOTE_UPHOLD : REPUTATION_VOTE_REJECT;
            uint8_t salt[32], c[32];
            world_salt(who, ri, salt);
            salt[8] = (uint8_t)t->b.id;
            if (t->b.state == REPUTATION_BOND_COMMIT) {
                reputation_vote_commitment(t->b.id, ri, who, v, salt, c);
                rc = reputation_bond_commit(&w->cfg, &t->b, who, c, *now, next, fx, &err);
                if (rc == LODE_OK && r->juror_count > 0 && who == r->jurors[k].account)
                    t->votes[ri][k] = v;
                take(w, t, next, fx, rc);
            } else {
                if (r->juror_count > 0 && who == r->jurors[k].account && world_range(w, 0, 7))
                    v = t->votes[ri][k];
                rc = reputation_bond_reveal(&w->cfg, &t->b, who, v, salt, *now, next, fx, &err);
                if (rc == LODE_OK)
                    stats.reveals++;
                take(w, t, next, fx, rc);
            }
        }
        break;
    case 10:
        if (t->live)
            take(w, t, next, fx,
                 reputation_bond_appeal(
                     &w->cfg, &t->b,
                     world_range(w, 0, 3)
                         ? (world_range(w, 0, 1) ? t->b.publisher : t->b.challenger)
                         : user,
                     w->ledger_size, *now, next, fx, &err));
        break;
    default:
        *now += world_range(w, 0, 9) ? world_range(w, 1, 600000) : world_range(w, 1, 20000000);
        for (int i = 0; i < BONDS; i++)
            if (bonds[i].live) {
                reputation_effects_clear(fx);
                take(w, &bonds[i], next, fx,
                     reputation_bond_advance(&w->cfg, &bonds[i].b, *now, next, fx, &err));
            }
        break;
    }
    stats.steps++;
}

static void test_random_sequences(void)
{
    struct reputation_effects *fx = calloc(1, sizeof *fx);
    struct reputation_bond *next = calloc(1, sizeof *next);
    struct tbond *bonds = calloc(BONDS, sizeof *bonds);
    long failures_before = (long)CU_get_number_of_failures();

    memset(&stats, 0, sizeof stats);
    for (uint64_t seq = 0; seq < SEQUENCES; seq++) {
        struct world w;
        int64_t now = 1700000000000, next_id = 1;
        world_init(&w, seq * 7919 + 1);
        w.cfg.jury_distinct = seq % 3 == 0;
        w.cfg.jury_seats = seq % 2 ? 3 : 5;
        w.cfg.appeal_jury_seats = w.cfg.jury_seats * 2 + 1;
        w.cfg.commit_ms = 3600000;
        w.cfg.reveal_ms = 3600000;
        w.cfg.appeal_window_ms = 3600000;
        memset(bonds, 0, BONDS * sizeof *bonds);
        for (int64_t j = JUROR_FIRST; j <= JUROR_LAST; j++)
            world_juror(&w, j, world_range(&w, 1000, 30000));
        for (int64_t u = 1; u <= USERS; u++)
            world_deposit(&w, u, world_range(&w, 0, 60000));
        for (int s = 0; s < STEPS; s++) {
            step(&w, bonds, &now, &next_id, next, fx);
            if (!world_conserved(&w) || !no_negative(&w)) {
                CU_FAIL("money not conserved or a balance below zero");
                break;
            }
        }
        world_fini(&w);
        if ((long)CU_get_number_of_failures() > failures_before + 20)
            break;
    }
    printf("\nproperty sequences %d, steps %ld, engine refusals %ld, journal refusals %ld,\n"
           "draws %ld, reveals %ld, appeals %ld, settlements checked %ld "
           "(unchallenged %ld, upheld %ld, rejected %ld, undecided %ld)\n",
           SEQUENCES, stats.steps, stats.refused_engine, stats.refused_journal, stats.draws,
           stats.reveals, stats.appeals, stats.settlements_checked,
           stats.resolved[REPUTATION_OUTCOME_UNCHALLENGED],
           stats.resolved[REPUTATION_OUTCOME_UPHELD], stats.resolved[REPUTATION_OUTCOME_REJECTED],
           stats.resolved[REPUTATION_OUTCOME_UNDECIDED]);
    /* the generator reaches every kind of ending, so the properties cover them */
    CU_ASSERT_TRUE(stats.resolved[REPUTATION_OUTCOME_UNCHALLENGED] > 100);
    CU_ASSERT_TRUE(stats.resolved[REPUTATION_OUTCOME_UPHELD] > 300);
    CU_ASSERT_TRUE(stats.resolved[REPUTATION_OUTCOME_REJECTED] > 100);
    CU_ASSERT_TRUE(stats.resolved[REPUTATION_OUTCOME_UNDECIDED] > 20);
    CU_ASSERT_TRUE(stats.appeals > 500);
    CU_ASSERT_TRUE(stats.refused_journal > 1000);
    free(fx);
    free(next);
    free(bonds);
}

int main(void)
{
    static const struct test_case cases[] = {
        {"random_sequences", test_random_sequences},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"reputation_properties", cases},
        {NULL, NULL},
    };
    return test_main(suites);
}
