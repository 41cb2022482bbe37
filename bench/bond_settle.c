/*
 * bench/bond_settle.c — settlement throughput of veracity bonds through PostgreSQL
 * (storage/bond_store.h: engine, journal postings, ledger entries and the bond row in one
 * transaction per step).
 *
 *   bond_settle URL [BONDS]
 * Migrates the database at URL (use a throwaway one: bench/bond_settle.sh makes a cluster),
 * creates a publisher, a challenger and 50 staked jurors, then per run (median of 3 printed):
 *   lifecycle   BONDS whole bonds, each: post, challenge (pool snapshot of 50), draw (5 seats),
 *               every juror's commit and reveal (the last reveal decides the round), one
 *               transaction per step; bonds/s and transactions/s;
 *   settle      the scheduler's tick (bond_tick: FOR UPDATE SKIP LOCKED pick, advance past the
 *               appeal window, settlement transfers, juror.settled and bond.resolved entries,
 *               observations, compare-and-set) over those BONDS appealable bonds;
 *               settlements/s.
 * Ends with a conservation check of the journal. Figures only.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "storage/account_store.h"
#include "storage/bond_store.h"
#include "storage/db.h"
#include "storage/money_store.h"

#define RUNS 3
#define JURORS 50
#define T0 INT64_C(1800000000000)
#define DAY_MS INT64_C(86400000)

static struct db_conn *conn;
static struct account publisher, challenger, jurors[JURORS];
static struct bond_row row;
static struct bond_step step;
static int64_t transactions;

static void must(enum lode_code rc, const struct lode_error *err, const char *what)
{
    if (rc != LODE_OK) {
        fprintf(stderr, "bond_settle: could not %s: %s\n", what, err->message);
        exit(3);
    }
}

struct move_arg {
    struct money_transfer t;
};

static enum lode_code move_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct money_context ctx = {"bench", 1};
    return money_post(c, &((struct move_arg *)arg)->t, 1, &ctx, NULL, err);
}

static void move(enum money_account_kind fk, int64_t fid, enum money_account_kind tk, int64_t tid,
                 int64_t amount, const char *reason)
{
    struct move_arg a = {{{fk, fid}, {tk, tid}, "EUR", amount, reason}};
    struct lode_error err;
    must(db_tx(conn, DB_READ_COMMITTED, move_fn, &a, &err), &err, "deposit");
}

enum op { OP_POST, OP_CHALLENGE, OP_DRAW, OP_COMMIT, OP_REVEAL };

struct op_arg {
    enum op op;
    int64_t bond, actor, now;
    uint8_t hash[32];
    struct bond_post_request post;
};

static enum lode_code op_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct op_arg *a = arg;
    switch (a->op) {
    case OP_POST:
        return bond_post(c, &a->post, a->now, &row, &step, err);
    case OP_CHALLENGE:
        return bond_challenge(c, a->bond, challenger.id, 10000, "bench evidence", a->now, &row,
                              &step, err);
    case OP_DRAW:
        return bond_draw(c, a->bond, 1, a->hash, a->now, &row, &step, err);
    case OP_COMMIT:
        return bond_commit(c, a->bond, a->actor, a->hash, a->now, &row, &step, err);
    case OP_REVEAL:
        return bond_reveal(c, a->bond, a->actor, REPUTATION_VOTE_REJECT, a->hash, a->now, &row,
                           &step, err);
    }
    return LODE_EINTERNAL;
}

static void run(struct op_arg *a, const char *what)
{
    struct lode_error err;
    must(db_tx(conn, DB_READ_COMMITTED, op_fn, a, &err), &err, what);
    transactions++;
}

/* One bond through its first round; returns with it appealable. */
static void one_bond(int64_t t)
{
    struct op_arg a = {.op = OP_POST, .now = t};
    uint8_t salt[LODE_JURY_SEATS_MAX][32];
    struct reputation_round r;
    int64_t id;

    a.post.publisher = publisher.id;
    memcpy(a.post.currency, "EUR", 4);
    a.post.amount = 10000;
    a.post.subject_kind = BOND_SUBJECT_CLAIM;
    a.post.subject_ref = "a claim under bench";
    a.post.statement = "accurate";
    a.post.window_ms = DAY_MS;
    run(&a, "post a bond");
    id = row.engine.id;
    a = (struct op_arg){.op = OP_CHALLENGE, .bond = id, .now = t + 1};
    run(&a, "challenge");
    a = (struct op_arg){.op = OP_DRAW, .bond = id, .now = t + 2};
    randombytes_buf(a.hash, 32);
    run(&a, "draw");
    r = row.engine.rounds[0];
    for (size_t i = 0; i < r.juror_count; i++) {
        a = (struct op_arg){.op = OP_COMMIT, .bond = id, .actor = r.jurors[i].account, .now = t + 3};
        randombytes_buf(salt[i], 32);
        reputation_vote_commitment(id, 0, r.jurors[i].account, REPUTATION_VOTE_REJECT, salt[i],
                                   a.hash);
        run(&a, "commit");
    }
    for (size_t i = 0; i < r.juror_count; i++) {
        a = (struct op_arg){.op = OP_REVEAL, .bond = id, .actor = r.jurors[i].account, .now = t + 4};
        memcpy(a.hash, salt[i], 32);
        run(&a, "reveal");
    }
    if (row.engine.state != REPUTATION_BOND_APPEALABLE) {
        fprintf(stderr, "bond_settle: bond %lld is %s, not appealable\n", (long long)id,
                reputation_bond_state_name(row.engine.state));
        exit(3);
    }
}

int main(int argc, char **argv)
{
    struct reputation_config cfg;
    struct lode_error err;
    double life[RUNS], life_tx[RUNS], settle[RUNS];
    int bonds = argc > 2 ? atoi(argv[2]) : 200;
    char name[32];

    if (argc < 2 || bonds < 1 || sodium_init() < 0) {
        fprintf(stderr, "usage: bond_settle URL [BONDS]\n");
        return 2;
    }
    must(db_conn_open(argv[1], &conn, &err), &err, "connect");
    must(db_migrate(conn, NULL, &err), &err, "migrate");
    must(account_create(conn, "bench-publisher", ROLE_PUBLISHER, &publisher, &err), &err,
         "create the publisher");
    must(account_create(conn, "bench-challenger", ROLE_FACT_CHECKER, &challenger, &err), &err,
         "create the challenger");
    move(MONEY_ACCOUNT_EXTERNAL, 0, MONEY_ACCOUNT_USER, publisher.id, INT64_C(1) << 40, "deposit");
    move(MONEY_ACCOUNT_EXTERNAL, 0, MONEY_ACCOUNT_USER, challenger.id, INT64_C(1) << 40, "deposit");
    for (int i = 0; i < JURORS; i++) {
        snprintf(name, sizeof name, "bench-juror-%d", i);
        must(account_create(conn, name, ROLE_FACT_CHECKER, &jurors[i], &err), &err,
             "create a juror");
        move(MONEY_ACCOUNT_EXTERNAL, 0, MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id, INT64_C(1) << 30,
             "deposit");
    }
    reputation_config_default(&cfg);
    must(bond_config_put(conn, &cfg, 0, NULL, &err), &err, "set the rules");
    for (int run_i = 0; run_i < RUNS; run_i++) {
        int64_t base = T0 + (int64_t)run_i * 100 * DAY_MS;
        int64_t tx0 = transactions;
        int stepped = 0;
        double t = bench_now_s();
        for (int b = 0; b < bonds; b++)
            one_bond(base + b * 10);
        t = bench_now_s() - t;
        life[run_i] = bonds / t;
        life_tx[run_i] = (double)(transactions - tx0) / t;
        t = bench_now_s();
        must(bond_tick(conn, base + 10 * DAY_MS, bonds + 1, 1000, &stepped, &err), &err, "tick");
        t = bench_now_s() - t;
        if (stepped != bonds) {
            fprintf(stderr, "bond_settle: the tick settled %d of %d bonds\n", stepped, bonds);
            return 3;
        }
        settle[run_i] = stepped / t;
    }
    qsort(life, RUNS, sizeof *life, bench_cmp_double);
    qsort(life_tx, RUNS, sizeof *life_tx, bench_cmp_double);
    qsort(settle, RUNS, sizeof *settle, bench_cmp_double);
    printf("bond_settle: %d bonds per run, %d jurors staked, 5 seats, medians of %d runs\n",
           bonds, JURORS, RUNS);
    printf("  lifecycle (post, challenge, draw, 5 commits, 5 reveals): %.1f bonds/s, %.0f "
           "transactions/s\n",
           life[RUNS / 2], life_tx[RUNS / 2]);
    printf("  settlement by the scheduler's tick (pick, advance, transfers, entries): %.1f "
           "settlements/s\n",
           settle[RUNS / 2]);
    {
        struct db_conn *c = conn;
        int64_t escrow = -1, burn = -1;
        must(money_balance(c, (struct money_account){MONEY_ACCOUNT_BURN, 0}, "EUR", &burn, &err),
             &err, "read the burn");
        must(money_balance(c, (struct money_account){MONEY_ACCOUNT_ESCROW, row.engine.id}, "EUR",
                           &escrow, &err),
             &err, "read an escrow");
        printf("  check: last escrow %lld (must be 0), burned %lld\n", (long long)escrow,
               (long long)burn);
    }
    db_conn_close(conn);
    return 0;
}
