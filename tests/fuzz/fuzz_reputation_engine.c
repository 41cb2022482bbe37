/*
 * tests/fuzz/fuzz_reputation_engine.c — the bond engine and journal driven by arbitrary
 * operation sequences: each input byte picks an operation and its arguments (deposits,
 * withdrawals, juror stakes, posts, challenges, draws, commits, reveals, appeals, ticks).
 * Aborts if money is created or destroyed, a balance goes below zero, a refused call leaves
 * effects behind, or a resolved bond's escrow is not empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CUR 1u
#define USERS 6
#define JURORS 12
#define J0 100

struct input {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (in->n > 0 ? *in->p : 0);
        if (in->n > 0) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

static struct reputation_account acc(enum reputation_account_kind k, int64_t id)
{
    return (struct reputation_account){k, id};
}

static int64_t deposited;

static void move(struct reputation_journal *j, struct reputation_account from,
                 struct reputation_account to, int64_t amount)
{
    struct reputation_transfer t = {from, to, CUR, amount, REPUTATION_REASON_DEPOSIT};
    if (reputation_journal_post(j, &t, 1, NULL) == LODE_OK) {
        if (from.kind == REPUTATION_ACCOUNT_EXTERNAL)
            deposited += amount;
        if (to.kind == REPUTATION_ACCOUNT_EXTERNAL)
            deposited -= amount;
    }
}

static void check(struct reputation_journal *j)
{
    int64_t sum = 0, t;
    const enum reputation_account_kind kinds[] = {
        REPUTATION_ACCOUNT_USER, REPUTATION_ACCOUNT_JUROR_STAKE, REPUTATION_ACCOUNT_ESCROW,
        REPUTATION_ACCOUNT_BURN};
    for (size_t k = 0; k < 4; k++) {
        if (reputation_journal_total(j, kinds[k], CUR, &t, NULL) != LODE_OK)
            abort();
        sum += t;
    }
    if (sum != deposited)
        abort();
    for (int64_t a = 1; a <= J0 + JURORS; a++)
        if (reputation_journal_balance(j, acc(REPUTATION_ACCOUNT_USER, a), CUR) < 0 ||
            reputation_journal_balance(j, acc(REPUTATION_ACCOUNT_JUROR_STAKE, a), CUR) < 0 ||
            reputation_journal_balance(j, acc(REPUTATION_ACCOUNT_ESCROW, a), CUR) < 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size > 4096 ? 4096 : size};
    struct reputation_journal *j = reputation_journal_create();
    struct reputation_config cfg;
    struct reputation_bond *bond = calloc(1, sizeof *bond), *next = calloc(1, sizeof *next);
    struct reputation_effects *fx = calloc(1, sizeof *fx);
    int64_t now = 1000, ledger = 1;
    bool live = false;
    struct lode_error err;

    if (j == NULL || bond == NULL || next == NULL || fx == NULL)
        abort();
    deposited = 0;
    reputation_config_default(&cfg);
    cfg.window_ms_min = 1;
    cfg.commit_ms = 50;
    cfg.reveal_ms = 50;
    cfg.appeal_window_ms = 50;
    cfg.jury_seats = 3;
    cfg.appeal_jury_seats = 5;
    cfg.jury_distinct = take(&in, 1) & 1;
    for (int64_t a = J0; a < J0 + JURORS; a++) {
        move(j, acc(REPUTATION_ACCOUNT_EXTERNAL, 0), acc(REPUTATION_ACCOUNT_USER, a), 50000);
        move(j, acc(REPUTATION_ACCOUNT_USER, a), acc(REPUTATION_ACCOUNT_JUROR_STAKE, a),
             (int64_t)take(&in, 2) + 1000);
    }
    while (in.n > 0) {
        unsigned op = (unsigned)take(&in, 1) % 12;
        int64_t who = (int64_t)take(&in, 1) % (USERS + 1);
        int64_t amount =
            (int64_t)take(&in, 1) == 255 ? (int64_t)take(&in, 8) : (int64_t)take(&in, 2) * 10;
        int64_t juror = J0 + (int64_t)(take(&in, 1) % JURORS);
        enum lode_code rc = LODE_EINVAL;
        uint8_t salt[32] = {0}, c[32];
        bool engine = false;

        reputation_effects_clear(fx);
        memcpy(salt, &juror, sizeof juror);
        switch (op) {
        case 0:
            move(j, acc(REPUTATION_ACCOUNT_EXTERNAL, 0), acc(REPUTATION_ACCOUNT_USER, who + 1),
                 amount);
            break;
        case 1:
            move(j, acc(REPUTATION_ACCOUNT_USER, who + 1), acc(REPUTATION_ACCOUNT_EXTERNAL, 0),
                 amount);
            break;
        case 2: {
            struct reputation_bond_params p = {.id = 1,
                                               .currency = CUR,
                                               .publisher = who + 1,
                                               .amount = amount,
                                               .statement = "accurate",
                                               .window_ms = (int64_t)take(&in, 1) + 1};
            if (live && bond->state != REPUTATION_BOND_RESOLVED)
                break;
            rc = reputation_bond_post(&cfg, &p, now, next, fx, &err);
            engine = true;
            break;
        }
        case 3:
            if (live) {
                uint8_t ev[32] = {0};
                rc = reputation_bond_challenge(&cfg, bond, who + 1, amount, ev, ledger, now, next,
                                               fx, &err);
                engine = true;
            }
            break;
        case 4:
            if (live) {
                struct reputation_juror pool[JURORS];
                size_t n = 0;
                uint8_t root[32] = {0};
                root[0] = (uint8_t)amount;
                for (int64_t a = J0; a < J0 + JURORS; a++) {
                    int64_t s =
                        reputation_journal_balance(j, acc(REPUTATION_ACCOUNT_JUROR_STAKE, a), CUR);
                    if (s > 0)
                        pool[n++] = (struct reputation_juror){a, s, 5000 + (a % 3) * 5000};
                }
                rc = reputation_bond_draw(&cfg, bond, pool, n, (uint64_t)ledger + (amount & 1),
                                          root, now, next, fx, &err);
                engine = true;
            }
            break;
        case 5:
        case 6:
            if (live && bond->round_count > 0) {
                enum reputation_vote v = (enum reputation_vote)(amount % 3);
                reputation_vote_commitment(bond->id, bond->round_count - 1, juror, v, salt, c);
                rc = op == 5
                         ? reputation_bond_commit(&cfg, bond, juror, c, now, next, fx, &err)
                         : reputation_bond_reveal(&cfg, bond, juror, v, salt, now, next, fx, &err);
                engine = true;
            }
            break;
        case 7:
            if (live) {
                rc = reputation_bond_appeal(&cfg, bond, who + 1, ledger, now, next, fx, &err);
                engine = true;
            }
            break;
        case 8:
            move(j, acc(REPUTATION_ACCOUNT_JUROR_STAKE, juror), acc(REPUTATION_ACCOUNT_USER, juror),
                 amount);
            break;
        default:
            now += (int64_t)take(&in, 1);
            if (live) {
                rc = reputation_bond_advance(&cfg, bond, now, next, fx, &err);
                engine = true;
            }
            break;
        }
        if (engine && rc != LODE_OK && (fx->transfer_count != 0 || fx->event_count != 0))
            abort();
        if (engine && rc == LODE_OK &&
            reputation_journal_post(j, fx->transfers, fx->transfer_count, &err) == LODE_OK) {
            memcpy(bond, next, sizeof *bond);
            live = true;
            ledger += (int64_t)fx->event_count;
            if (bond->state == REPUTATION_BOND_RESOLVED &&
                reputation_journal_balance(j, acc(REPUTATION_ACCOUNT_ESCROW, bond->id), CUR) != 0)
                abort();
        }
        check(j);
    }
    reputation_journal_destroy(j);
    free(bond);
    free(next);
    free(fx);
    return 0;
}
