/*
 * tests/unit/reputation/rep_world.h — a small world for the reputation tests: an in-memory
 * journal, a juror pool built from the journal's juror stakes, a seeded random generator, and
 * helpers that run a bond through its phases and post every effect.
 */
#ifndef LODE_TESTS_REP_WORLD_H
#define LODE_TESTS_REP_WORLD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

#define WORLD_CURRENCY 978u

struct world {
    struct reputation_config cfg;
    struct reputation_journal *journal;
    int64_t deposited;
    int64_t withdrawn;
    uint64_t rng;
    int64_t ledger_size;
};

static inline uint64_t world_rand(struct world *w)
{
    /* splitmix64 */
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline int64_t world_range(struct world *w, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(world_rand(w) % (uint64_t)(hi - lo + 1));
}

static inline double world_unit(struct world *w)
{
    return (double)(world_rand(w) >> 11) / 9007199254740992.0;
}

static inline void world_init(struct world *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    reputation_config_default(&w->cfg);
    w->journal = reputation_journal_create();
    w->rng = seed;
    w->ledger_size = 1;
}

static inline void world_fini(struct world *w)
{
    reputation_journal_destroy(w->journal);
}

static inline struct reputation_account world_user(int64_t id)
{
    return (struct reputation_account){REPUTATION_ACCOUNT_USER, id};
}

static inline struct reputation_account world_stake(int64_t id)
{
    return (struct reputation_account){REPUTATION_ACCOUNT_JUROR_STAKE, id};
}

static inline struct reputation_account world_escrow(int64_t id)
{
    return (struct reputation_account){REPUTATION_ACCOUNT_ESCROW, id};
}

static inline struct reputation_account world_burn(void)
{
    return (struct reputation_account){REPUTATION_ACCOUNT_BURN, 0};
}

static inline enum lode_code world_move(struct world *w, struct reputation_account from,
                                        struct reputation_account to, int64_t amount,
                                        enum reputation_reason reason)
{
    struct reputation_transfer t = {from, to, WORLD_CURRENCY, amount, reason};
    struct lode_error err;
    enum lode_code rc = reputation_journal_post(w->journal, &t, 1, &err);
    if (rc == LODE_OK && from.kind == REPUTATION_ACCOUNT_EXTERNAL)
        w->deposited += amount;
    if (rc == LODE_OK && to.kind == REPUTATION_ACCOUNT_EXTERNAL)
        w->withdrawn += amount;
    return rc;
}

static inline enum lode_code world_deposit(struct world *w, int64_t account, int64_t amount)
{
    return world_move(w, (struct reputation_account){REPUTATION_ACCOUNT_EXTERNAL, 0},
                      world_user(account), amount, REPUTATION_REASON_DEPOSIT);
}

/* Deposits and stakes `amount` as juror stake. */
static inline enum lode_code world_juror(struct world *w, int64_t account, int64_t amount)
{
    enum lode_code rc = world_deposit(w, account, amount);
    if (rc == LODE_OK)
        rc = world_move(w, world_user(account), world_stake(account), amount,
                        REPUTATION_REASON_JUROR_STAKE);
    return rc;
}

/* Builds the pool from juror stakes of accounts [first, last] with a uniform factor. */
static inline size_t world_pool(struct world *w, int64_t first, int64_t last, int64_t factor_bps,
                                struct reputation_juror *pool)
{
    size_t n = 0;
    for (int64_t a = first; a <= last; a++) {
        int64_t s = reputation_journal_balance(w->journal, world_stake(a), WORLD_CURRENCY);
        if (s > 0)
            pool[n++] = (struct reputation_juror){a, s, factor_bps};
    }
    return n;
}

/* Posts the effects' transfers; the caller keeps the new bond only if this succeeds. */
static inline enum lode_code world_post(struct world *w, const struct reputation_effects *fx,
                                        struct lode_error *err)
{
    enum lode_code rc = reputation_journal_post(w->journal, fx->transfers, fx->transfer_count, err);
    if (rc == LODE_OK)
        w->ledger_size += (int64_t)fx->event_count;
    return rc;
}

/* balances + juror stakes + escrow + burned == deposited - withdrawn */
static inline bool world_conserved(struct world *w)
{
    int64_t user = 0, stake = 0, escrow = 0, burn = 0, ext = 0;
    if (reputation_journal_total(w->journal, REPUTATION_ACCOUNT_USER, WORLD_CURRENCY, &user,
                                 NULL) != LODE_OK ||
        reputation_journal_total(w->journal, REPUTATION_ACCOUNT_JUROR_STAKE, WORLD_CURRENCY, &stake,
                                 NULL) != LODE_OK ||
        reputation_journal_total(w->journal, REPUTATION_ACCOUNT_ESCROW, WORLD_CURRENCY, &escrow,
                                 NULL) != LODE_OK ||
        reputation_journal_total(w->journal, REPUTATION_ACCOUNT_BURN, WORLD_CURRENCY, &burn,
                                 NULL) != LODE_OK ||
        reputation_journal_total(w->journal, REPUTATION_ACCOUNT_EXTERNAL, WORLD_CURRENCY, &ext,
                                 NULL) != LODE_OK)
        return false;
    return user + stake + escrow + burn == w->deposited - w->withdrawn &&
           ext == -(w->deposited - w->withdrawn);
}

static inline void world_salt(int64_t juror, int round, uint8_t salt[REPUTATION_SALT_BYTES])
{
    memset(salt, 0, REPUTATION_SALT_BYTES);
    memcpy(salt, &juror, sizeof juror);
    salt[31] = (uint8_t)(round + 1);
}

/* A voting policy: returns the vote of a juror, or NONE for a no-show. */
typedef enum reputation_vote (*world_voter)(void *ctx, int64_t juror, int round);

/* Draws the pending round from the pool, collects commits and reveals by `voter`, and posts
 * everything; time advances through the phases. Returns the first failure. */
static inline enum lode_code world_run_round(struct world *w, struct reputation_bond *b,
                                             const struct reputation_juror *pool, size_t pool_count,
                                             world_voter voter, void *ctx, int64_t *now,
                                             struct reputation_effects *fx, struct lode_error *err)
{
    uint8_t root[REPUTATION_HASH_BYTES];
    struct reputation_bond *next = malloc(sizeof *next);
    struct reputation_round *r;
    enum reputation_vote votes[LODE_JURY_SEATS_MAX];
    enum lode_code rc;
    uint64_t x;

    if (next == NULL)
        return LODE_ENOMEM;
    for (int i = 0; i < REPUTATION_HASH_BYTES; i += 8) {
        x = world_rand(w);
        memcpy(root + i, &x, 8);
    }
    reputation_effects_clear(fx);
    *now += 1000;
    rc = reputation_bond_draw(&w->cfg, b, pool, pool_count, (uint64_t)w->ledger_size + 1, root,
                              *now, next, fx, err);
    if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
        memcpy(b, next, sizeof *b);
    r = &b->rounds[b->round_count - 1];
    for (size_t i = 0; rc == LODE_OK && i < r->juror_count; i++) {
        uint8_t salt[REPUTATION_SALT_BYTES], c[REPUTATION_HASH_BYTES];
        votes[i] = voter(ctx, r->jurors[i].account, b->round_count - 1);
        if (votes[i] == REPUTATION_VOTE_NONE)
            continue;
        world_salt(r->jurors[i].account, b->round_count - 1, salt);
        reputation_vote_commitment(b->id, b->round_count - 1, r->jurors[i].account, votes[i], salt,
                                   c);
        reputation_effects_clear(fx);
        rc = reputation_bond_commit(&w->cfg, b, r->jurors[i].account, c, *now + 1, next, fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    *now = r->commit_deadline_ms;
    if (rc == LODE_OK && b->state == REPUTATION_BOND_COMMIT) {
        reputation_effects_clear(fx);
        rc = reputation_bond_advance(&w->cfg, b, *now, next, fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    for (size_t i = 0; rc == LODE_OK && i < r->juror_count; i++) {
        uint8_t salt[REPUTATION_SALT_BYTES];
        if (votes[i] == REPUTATION_VOTE_NONE || b->state != REPUTATION_BOND_REVEAL)
            continue;
        world_salt(r->jurors[i].account, b->round_count - 1, salt);
        reputation_effects_clear(fx);
        rc = reputation_bond_reveal(&w->cfg, b, r->jurors[i].account, votes[i], salt, *now, next,
                                    fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    if (rc == LODE_OK && b->state == REPUTATION_BOND_REVEAL) {
        *now = r->reveal_deadline_ms;
        reputation_effects_clear(fx);
        rc = reputation_bond_advance(&w->cfg, b, *now, next, fx, err);
        if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
            memcpy(b, next, sizeof *b);
    }
    free(next);
    return rc;
}

/* Applies advance() at `now` and posts. */
static inline enum lode_code world_advance(struct world *w, struct reputation_bond *b, int64_t now,
                                           struct reputation_effects *fx, struct lode_error *err)
{
    struct reputation_bond *next = malloc(sizeof *next);
    enum lode_code rc;
    if (next == NULL)
        return LODE_ENOMEM;
    reputation_effects_clear(fx);
    rc = reputation_bond_advance(&w->cfg, b, now, next, fx, err);
    if (rc == LODE_OK && (rc = world_post(w, fx, err)) == LODE_OK)
        memcpy(b, next, sizeof *b);
    free(next);
    return rc;
}

#endif
