/*
 * tests/unit/storage/test_bonds.c — storage/bond_store.h against a scratch database: the stored
 * bond reads back equal, refusals leave nothing, compare-and-set and SKIP LOCKED apply every
 * scheduler step once even with two connections ticking at once, juror stake in a pending
 * pool is locked, a full lifecycle (bond, challenge, draw, votes, appeal, second jury,
 * settlement) moves money by the documented rules and conserves it, and a draw the journal
 * refuses is followed by a renewed pool (a pool.renewed entry) and a draw from a checkpoint
 * that covers the renewal.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "scratch_db.h"
#include "storage/account_store.h"
#include "storage/bond_store.h"
#include "storage/db_internal.h"
#include "storage/ledger_sequencer.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"
#include "test_main.h"

#define JURORS 14
#define T0 INT64_C(1700000000000)

static char db_url[SCRATCH_URL_BYTES];
static char key_path[64];
static struct db_conn *conn;
static struct account publisher, challenger, jurors[JURORS];
static struct bond_row row;
static struct bond_step step;

static void setup_check(enum lode_code rc, const struct lode_error *err)
{
    if (rc != LODE_OK) {
        fprintf(stderr, "could not set up: %s (%s)\n", err->message, err->log_detail);
        abort();
    }
}

static struct money_account acct(enum money_account_kind kind, int64_t id)
{
    struct money_account a = {kind, id};
    return a;
}

struct post_arg {
    struct money_transfer t;
};

static enum lode_code post_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct post_arg *a = arg;
    struct money_context ctx = {"test", 1};
    return money_post(c, &a->t, 1, &ctx, NULL, err);
}

static void move(struct money_account from, struct money_account to, int64_t amount,
                 const char *reason)
{
    struct post_arg a;
    struct lode_error err;
    memset(&a, 0, sizeof a);
    a.t.from = from;
    a.t.to = to;
    memcpy(a.t.currency, "EUR", 4);
    a.t.amount = amount;
    a.t.reason = reason;
    setup_check(db_tx(conn, DB_READ_COMMITTED, post_fn, &a, &err), &err);
}

static int64_t balance(enum money_account_kind kind, int64_t id)
{
    struct lode_error err;
    int64_t b = -1;
    CU_ASSERT_EQUAL(money_balance(conn, acct(kind, id), "EUR", &b, &err), LODE_OK);
    return b;
}

static int64_t sql_int(const char *sql)
{
    struct lode_error err;
    PGresult *res = NULL;
    int64_t v;
    setup_check(db_query(conn, sql, NULL, &res, &err), &err);
    v = db_result_int64(res, 0, 0);
    PQclear(res);
    return v;
}

/* Money is conserved: everything but the external account sums to what came in. */
static void check_conserved(void)
{
    CU_ASSERT_EQUAL(sql_int("SELECT coalesce(sum(balance), 0) FROM money_balances"), 0);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM money_balances WHERE kind <> 1 AND balance < 0"),
                    0);
}

/* Runs one store action in a transaction of its own. */
enum op { OP_POST, OP_CHALLENGE, OP_DRAW, OP_COMMIT, OP_REVEAL, OP_APPEAL, OP_ADVANCE };

struct op_arg {
    enum op op;
    int64_t bond, actor, amount, now;
    const char *text;
    struct bond_post_request post;
    uint8_t hash[32];
    enum reputation_vote vote;
    uint64_t cp_size;
};

static enum lode_code op_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct op_arg *a = arg;
    switch (a->op) {
    case OP_POST:
        return bond_post(c, &a->post, a->now, &row, &step, err);
    case OP_CHALLENGE:
        return bond_challenge(c, a->bond, a->actor, a->amount, a->text, a->now, &row, &step, err);
    case OP_DRAW:
        return bond_draw(c, a->bond, a->cp_size, a->hash, a->now, &row, &step, err);
    case OP_COMMIT:
        return bond_commit(c, a->bond, a->actor, a->hash, a->now, &row, &step, err);
    case OP_REVEAL:
        return bond_reveal(c, a->bond, a->actor, a->vote, a->hash, a->now, &row, &step, err);
    case OP_APPEAL:
        return bond_appeal(c, a->bond, a->actor, a->now, &row, &step, err);
    case OP_ADVANCE:
        return bond_advance(c, a->bond, a->now, &row, &step, err);
    }
    return LODE_EINTERNAL;
}

static enum lode_code run(struct op_arg *a, struct lode_error *err)
{
    return db_tx(conn, DB_READ_COMMITTED, op_fn, a, err);
}

static int64_t post_bond(int64_t amount, int64_t window_ms, int64_t now, enum lode_code expect)
{
    struct op_arg a = {.op = OP_POST, .now = now};
    struct lode_error err = {0};
    enum lode_code rc;
    a.post.publisher = publisher.id;
    memcpy(a.post.currency, "EUR", 4);
    a.post.amount = amount;
    a.post.subject_kind = BOND_SUBJECT_CLAIM;
    a.post.subject_ref = "the moon is made of rock";
    a.post.statement = "accurate";
    a.post.window_ms = window_ms;
    rc = run(&a, &err);
    if (rc != expect)
        fprintf(stderr, "post: %s\n", err.message);
    CU_ASSERT_EQUAL(rc, expect);
    return rc == LODE_OK ? row.engine.id : 0;
}

static void test_round_trip(void)
{
    struct bond_row again;
    struct lode_error err;
    struct reputation_bond parsed;
    json_t *obj;
    char *text;
    int64_t id = post_bond(10000, 60000, T0, LODE_OK);

    CU_ASSERT_EQUAL(bond_get(conn, id, &again, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(&again.engine, &row.engine, sizeof row.engine), 0);
    CU_ASSERT_EQUAL(again.version, 1);
    CU_ASSERT_STRING_EQUAL(again.currency, "EUR");
    CU_ASSERT_EQUAL(again.next_deadline_ms, T0 + 60000);
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_ESCROW, id), 10000);
    CU_ASSERT_EQUAL(step.queue_count, 1);
    /* the JSON form reads back equal, and a damaged one is refused */
    obj = reputation_bond_json(&row.engine);
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    memset(&parsed, 0, sizeof parsed);
    CU_ASSERT_EQUAL(reputation_bond_parse(text, strlen(text), &parsed, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(&parsed, &row.engine, sizeof parsed), 0);
    text[strlen(text) - 1] = ',';
    CU_ASSERT_NOT_EQUAL(reputation_bond_parse(text, strlen(text), &parsed, &err), LODE_OK);
    free(text);
    check_conserved();
}

static void test_refusals_leave_nothing(void)
{
    struct lode_error err;
    int64_t bonds = sql_int("SELECT count(*) FROM bonds");
    int64_t lines = sql_int("SELECT count(*) FROM money_lines");
    int64_t entries = sql_int("SELECT count(*) FROM ledger_queue");
    int64_t id;
    struct op_arg a = {.op = OP_CHALLENGE, .amount = 10000, .text = "a photo", .now = T0 + 10};

    /* more than the balance, and amounts that overflow */
    post_bond(10000000, 60000, T0, LODE_EUNPROCESSABLE);
    post_bond(INT64_MAX, 60000, T0, LODE_EUNPROCESSABLE);
    post_bond(10, 60000, T0, LODE_EUNPROCESSABLE); /* below the minimum */
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bonds"), bonds);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM money_lines"), lines);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM ledger_queue"), entries);

    id = post_bond(10000, 1000, T0, LODE_OK);
    lines = sql_int("SELECT count(*) FROM money_lines");
    entries = sql_int("SELECT count(*) FROM ledger_queue");
    a.bond = id;
    a.actor = publisher.id; /* own bond */
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EFORBIDDEN);
    a.actor = challenger.id;
    a.amount = 9999; /* below the rule */
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EUNPROCESSABLE);
    a.amount = 5000000; /* over the balance */
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EUNPROCESSABLE);
    a.amount = 10000;
    a.now = T0 + 1000; /* the window is closed */
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EGONE);
    a.bond = 999999;
    CU_ASSERT_EQUAL(run(&a, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM money_lines"), lines);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM ledger_queue"), entries);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bond_pools"), 0);
    check_conserved();
}

/* Ticks from another thread on its own connection. */
struct tick_arg {
    int64_t now;
    int stepped;
    enum lode_code rc;
};

static void *tick_thread(void *p)
{
    struct tick_arg *t = p;
    struct lode_error err;
    struct db_conn *c = scratch_db_connect(db_url);
    t->rc = bond_tick(c, t->now, 1000, 1000, &t->stepped, &err);
    db_conn_close(c);
    return NULL;
}

static void test_scheduler_once(void)
{
    struct tick_arg a = {.now = T0 + 100000}, b = {.now = T0 + 100000};
    pthread_t ta, tb;
    int64_t publisher_before, due;

    for (int i = 0; i < 20; i++)
        post_bond(1000, 1000, T0 + i, LODE_OK);
    due = sql_int("SELECT count(*) FROM bonds WHERE state <> 'resolved'");
    publisher_before = balance(MONEY_ACCOUNT_USER, publisher.id);
    pthread_create(&ta, NULL, tick_thread, &a);
    pthread_create(&tb, NULL, tick_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CU_ASSERT_EQUAL(a.rc, LODE_OK);
    CU_ASSERT_EQUAL(b.rc, LODE_OK);
    CU_ASSERT_EQUAL(a.stepped + b.stepped, due);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bonds WHERE state <> 'resolved'"), 0);
    /* exactly one bond.resolved per bond, and every bond back to its publisher */
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM (SELECT bond_id FROM bond_entries WHERE type ="
                            " 'bond.resolved' GROUP BY bond_id HAVING count(*) <> 1) x"),
                    0);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bonds b WHERE NOT EXISTS (SELECT 1 FROM"
                            " bond_entries e WHERE e.bond_id = b.id AND e.type = 'bond.resolved')"),
                    0);
    CU_ASSERT(balance(MONEY_ACCOUNT_USER, publisher.id) > publisher_before);
    CU_ASSERT_EQUAL(sql_int("SELECT coalesce(sum(balance), 0) FROM money_balances WHERE kind = 4"),
                    0);
    /* a second tick finds nothing */
    a.stepped = -1;
    tick_thread(&a);
    CU_ASSERT_EQUAL(a.stepped, 0);
    check_conserved();
}

static void test_compare_and_set(void)
{
    struct lode_error err;
    struct bond_row first, stale;
    int64_t id = post_bond(1000, 1000, T0, LODE_OK);
    struct op_arg a = {.op = OP_ADVANCE, .bond = id, .now = T0 + 5000};

    CU_ASSERT_EQUAL(bond_get(conn, id, &first, &err), LODE_OK);
    stale = first;
    /* one replica stores a step; another, built on the same version, is refused */
    CU_ASSERT_EQUAL(bond_save(conn, &first, &err), LODE_OK);
    CU_ASSERT_EQUAL(first.version, 2);
    CU_ASSERT_EQUAL(bond_save(conn, &stale, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(bond_save(conn, &first, &err), LODE_OK);
    CU_ASSERT_EQUAL(first.version, 3);
    /* a passed deadline is applied once: the second advance changes nothing */
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.version, 4);
    CU_ASSERT_EQUAL(row.engine.outcome, REPUTATION_OUTCOME_UNCHALLENGED);
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.version, 4);
    check_conserved();
}

/* Commits and reveals every juror of the current round with `vote`. */
static void vote_round(int64_t id, int round, enum reputation_vote vote, int64_t now)
{
    struct lode_error err;
    struct reputation_round r = row.engine.rounds[round];
    uint8_t salts[LODE_JURY_SEATS_MAX][32];

    for (size_t i = 0; i < r.juror_count; i++) {
        struct op_arg a = {.op = OP_COMMIT, .bond = id, .actor = r.jurors[i].account, .now = now};
        randombytes_buf(salts[i], 32);
        reputation_vote_commitment(id, round, r.jurors[i].account, vote, salts[i], a.hash);
        CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
        CU_ASSERT_EQUAL(run(&a, &err), LODE_ECONFLICT); /* voting twice */
    }
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_REVEAL);
    for (size_t i = 0; i < r.juror_count; i++) {
        struct op_arg a = {.op = OP_REVEAL, .bond = id, .actor = r.jurors[i].account,
                           .vote = vote == REPUTATION_VOTE_REJECT ? REPUTATION_VOTE_UPHOLD
                                                                  : REPUTATION_VOTE_REJECT,
                           .now = now + 1};
        memcpy(a.hash, salts[i], 32);
        CU_ASSERT_EQUAL(run(&a, &err), LODE_EVERIFY); /* not what was committed */
        a.vote = vote;
        CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    }
}

static void test_lifecycle(void)
{
    struct lode_error err;
    int64_t pub0 = balance(MONEY_ACCOUNT_USER, publisher.id);
    int64_t chal0 = balance(MONEY_ACCOUNT_USER, challenger.id);
    int64_t jur0 = 0, jur1 = 0, burn0 = balance(MONEY_ACCOUNT_BURN, 0), locked = -1;
    int64_t id = post_bond(10000, 1000, T0, LODE_OK);
    struct op_arg a = {.op = OP_CHALLENGE, .bond = id, .actor = challenger.id, .amount = 10000,
                       .text = "https://example.org/evidence", .now = T0 + 10};
    struct reputation_juror *pool = NULL;
    uint8_t hash[32];
    size_t pool_count = 0;
    bool drawn = true;

    for (int i = 0; i < JURORS; i++)
        jur0 += balance(MONEY_ACCOUNT_USER, jurors[i].id) +
                balance(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id);
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_AWAITING_DRAW);
    CU_ASSERT(row.draw_queue_id > 0);
    CU_ASSERT_EQUAL(run(&a, &err), LODE_ECONFLICT); /* challenged already */
    /* the pool is fixed, hashed as documented, and its members' stake is locked */
    CU_ASSERT_EQUAL(bond_pool_get(conn, id, 0, NULL, &pool, &pool_count, hash, &drawn, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(pool_count, JURORS);
    CU_ASSERT_FALSE(drawn);
    {
        uint8_t again[32];
        bond_pool_hash(id, 0, pool, pool_count, again);
        CU_ASSERT_EQUAL(memcmp(again, hash, 32), 0);
    }
    free(pool);
    CU_ASSERT_EQUAL(bond_juror_stake_locked(conn, jurors[0].id, "EUR", &locked, &err), LODE_OK);
    CU_ASSERT_EQUAL(locked, 10000);
    CU_ASSERT_EQUAL(bond_juror_stake_locked(conn, jurors[0].id, "USD", &locked, &err), LODE_OK);
    CU_ASSERT_EQUAL(locked, 0);

    /* the draw: a checkpoint not after the filing is refused, a later one draws */
    a = (struct op_arg){.op = OP_DRAW, .bond = id, .cp_size = 0, .now = T0 + 20};
    randombytes_buf(a.hash, 32);
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EPRECOND);
    a.cp_size = 1;
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_COMMIT);
    CU_ASSERT_EQUAL(bond_juror_stake_locked(conn, jurors[0].id, "EUR", &locked, &err), LODE_OK);
    CU_ASSERT_EQUAL(locked, 0);
    /* a stranger may not vote */
    a = (struct op_arg){.op = OP_COMMIT, .bond = id, .actor = publisher.id, .now = T0 + 30};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EFORBIDDEN);

    vote_round(id, 0, REPUTATION_VOTE_REJECT, T0 + 40);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_APPEALABLE);
    CU_ASSERT_EQUAL(row.engine.rounds[0].outcome, REPUTATION_OUTCOME_REJECTED);

    /* the winner may not appeal; the loser may */
    a = (struct op_arg){.op = OP_APPEAL, .bond = id, .actor = challenger.id, .now = T0 + 50};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EFORBIDDEN);
    a.actor = publisher.id;
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_AWAITING_DRAW);
    a = (struct op_arg){.op = OP_DRAW, .bond = id, .cp_size = 2, .now = T0 + 60};
    randombytes_buf(a.hash, 32);
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.rounds[1].seats, 11);
    vote_round(id, 1, REPUTATION_VOTE_REJECT, T0 + 70);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_EQUAL(row.engine.outcome, REPUTATION_OUTCOME_REJECTED);

    /* settlement by the rules: the loser paid F = 10000 + 10000; 25 % burned, 10 % to the 16
     * coherent seats (125 each), the rest and its own money back to the winner */
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_ESCROW, id), 0);
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_USER, publisher.id), pub0 - 20000);
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_USER, challenger.id), chal0 + 13000);
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_BURN, 0), burn0 + 5000);
    for (int i = 0; i < JURORS; i++)
        jur1 += balance(MONEY_ACCOUNT_USER, jurors[i].id) +
                balance(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id);
    CU_ASSERT_EQUAL(jur1, jur0 + 2000);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bond_entries WHERE bond_id = "
                            "(SELECT max(id) FROM bonds) AND type = 'juror.drawn' AND entry LIKE"
                            " '%checkpoint_root%'") > 0,
                    1);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bond_entries WHERE type = 'challenge.filed'"
                            " AND entry LIKE '%\"pool\":%'") > 0,
                    1);
    /* reputation: the publisher lost a bond, the challenger won one */
    {
        struct reputation_record rec[REPUTATION_ROLE_COUNT];
        struct reputation_score s;
        CU_ASSERT_EQUAL(bond_reputation_records(conn, publisher.id, &row.config, T0 + 100, rec,
                                                &err),
                        LODE_OK);
        CU_ASSERT_EQUAL(rec[REPUTATION_ROLE_PUBLISHER].counts[REPUTATION_OBS_BOND_LOST], 1);
        CU_ASSERT_EQUAL(reputation_score_compute(&row.config, &rec[REPUTATION_ROLE_PUBLISHER],
                                                 T0 + 100, &s, &err),
                        LODE_OK);
        CU_ASSERT(s.negative > 1.9); /* bond_lost weighs -2 */
        CU_ASSERT_EQUAL(bond_reputation_records(conn, challenger.id, &row.config, T0 + 100, rec,
                                                &err),
                        LODE_OK);
        CU_ASSERT_EQUAL(rec[REPUTATION_ROLE_FACT_CHECKER].counts[REPUTATION_OBS_CHALLENGE_WON], 1);
    }
    check_conserved();
}

/* Acting after a deadline is 410, whether or not the scheduler has applied it yet. */
static void test_deadlines(void)
{
    const int64_t day = INT64_C(86400000);
    struct lode_error err;
    int64_t id = post_bond(10000, 1000, T0, LODE_OK);
    int64_t lines;
    struct op_arg a = {.op = OP_CHALLENGE, .bond = id, .actor = challenger.id, .amount = 10000,
                       .text = "late evidence", .now = T0 + 10};
    int64_t juror;

    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    a = (struct op_arg){.op = OP_DRAW, .bond = id, .cp_size = 1, .now = T0 + 20};
    randombytes_buf(a.hash, 32);
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    juror = row.engine.rounds[0].jurors[0].account;
    lines = sql_int("SELECT count(*) FROM money_lines");
    a = (struct op_arg){.op = OP_COMMIT, .bond = id, .actor = juror, .now = T0 + 20 + day};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EGONE); /* the commit phase is over */
    a = (struct op_arg){.op = OP_REVEAL, .bond = id, .actor = juror,
                        .vote = REPUTATION_VOTE_UPHOLD, .now = T0 + 20 + 2 * day};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EGONE); /* and so is the reveal phase */
    /* nobody voted: the scheduler decides the round undecided at the reveal deadline, and the
     * appeal window runs from then */
    a = (struct op_arg){.op = OP_ADVANCE, .bond = id, .now = T0 + 20 + 2 * day};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_APPEALABLE);
    CU_ASSERT_EQUAL(row.engine.rounds[0].outcome, REPUTATION_OUTCOME_UNDECIDED);
    a = (struct op_arg){.op = OP_APPEAL, .bond = id, .actor = publisher.id,
                        .now = T0 + 20 + 4 * day + 1};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EGONE);
    a = (struct op_arg){.op = OP_ADVANCE, .bond = id, .now = T0 + 20 + 4 * day + 1};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_RESOLVED);
    CU_ASSERT_EQUAL(row.engine.outcome, REPUTATION_OUTCOME_UNDECIDED);
    /* once the scheduler resolved it, a late appeal is still "gone", not a conflict */
    a = (struct op_arg){.op = OP_APPEAL, .bond = id, .actor = publisher.id,
                        .now = T0 + 20 + 5 * day};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_EGONE);
    CU_ASSERT(sql_int("SELECT count(*) FROM money_lines") > lines); /* the settlement only */
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_ESCROW, id), 0);
    check_conserved();
}

/* The scheduler is late: a reveal after the commit deadline and an appeal after the reveal
 * deadline catch the bond up in their own transaction and succeed. */
static void test_catch_up(void)
{
    const int64_t day = INT64_C(86400000);
    struct lode_error err;
    int64_t id = post_bond(10000, 1000, T0, LODE_OK);
    struct op_arg a = {.op = OP_CHALLENGE, .bond = id, .actor = challenger.id, .amount = 10000,
                       .text = "evidence", .now = T0 + 10};
    uint8_t salt[32];
    int64_t juror;

    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    a = (struct op_arg){.op = OP_DRAW, .bond = id, .cp_size = 1, .now = T0 + 20};
    randombytes_buf(a.hash, 32);
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    juror = row.engine.rounds[0].jurors[0].account;
    a = (struct op_arg){.op = OP_COMMIT, .bond = id, .actor = juror, .now = T0 + 30};
    randombytes_buf(salt, sizeof salt);
    reputation_vote_commitment(id, 0, juror, REPUTATION_VOTE_REJECT, salt, a.hash);
    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    a = (struct op_arg){.op = OP_REVEAL, .bond = id, .actor = juror, .vote = REPUTATION_VOTE_REJECT,
                        .now = T0 + 20 + day + 5};
    memcpy(a.hash, salt, sizeof salt);
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    /* the only reveal rejects: the publisher lost round 0 and appeals late, unticked */
    a = (struct op_arg){.op = OP_APPEAL, .bond = id, .actor = publisher.id,
                        .now = T0 + 20 + 2 * day + 5};
    CU_ASSERT_EQUAL(run(&a, &err), LODE_OK);
    CU_ASSERT_EQUAL(row.engine.rounds[0].outcome, REPUTATION_OUTCOME_REJECTED);
    CU_ASSERT_EQUAL(row.engine.state, REPUTATION_BOND_AWAITING_DRAW);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM bond_entries WHERE type = 'round.decided' AND"
                            " bond_id = (SELECT max(id) FROM bonds)"),
                    1);
    check_conserved();
}

/* Runs a statement with parameters; returns the first column of the first row (0 if none). */
static int64_t sql_params(const char *sql, struct db_params *p)
{
    struct lode_error err;
    PGresult *res = NULL;
    int64_t v = 0;
    setup_check(db_query(conn, sql, p, &res, &err), &err);
    if (PQntuples(res) > 0)
        v = db_result_int64(res, 0, 0);
    PQclear(res);
    return v;
}

static int64_t queue_one(void)
{
    static const char entry[] = "{\"type\":\"label.submitted\"}";
    struct lode_error err;
    int64_t id = 0;
    setup_check(ledger_enqueue(conn, (const uint8_t *)entry, sizeof entry - 1, &id, &err), &err);
    return id;
}

/* An item of `contributor` in `dataset`: 0 plain, 1 flagged synthetic, 2 an exact duplicate. */
static int64_t item_add(int64_t dataset, int64_t contributor, int n, int kind)
{
    struct db_params p;
    uint8_t sha[32] = {0};
    sha[0] = 0xb0;
    sha[1] = (uint8_t)n;
    db_params_init(&p);
    db_params_bytes(&p, sha, sizeof sha);
    sql_params("INSERT INTO blobs (sha256, codec, raw_bytes, data) VALUES ($1, 'zstd', 0, '\\x')",
               &p);
    db_params_int64(&p, dataset);
    db_params_int64(&p, contributor);
    db_params_int64(&p, queue_one());
    db_params_int64(&p, kind);
    db_params_int64(&p, queue_one());
    return sql_params("INSERT INTO items (dataset_id, contributor_id, sha256, media_type, status,"
                      " dedupe_verdict, similarity, ledger_queue_id, synthetic_verdict,"
                      " detector_model, synthetic_flagged, flag_queue_id)"
                      " VALUES ($2, $3, $1, 'text/plain', 'accepted',"
                      " CASE WHEN $5 = 2 THEN 'exact' ELSE 'distinct' END,"
                      " CASE WHEN $5 = 2 THEN 1.0 END, $4,"
                      " CASE WHEN $5 = 1 THEN 'synthetic' END, CASE WHEN $5 = 1 THEN 'm' END,"
                      " $5 = 1, CASE WHEN $5 = 1 THEN $6::bigint END) RETURNING id",
                      &p);
}

static void label_add(int64_t task, int64_t item, int64_t labeler, int cls)
{
    struct db_params p;
    uint8_t nonce[16] = {0};
    db_params_init(&p);
    db_params_int64(&p, task);
    db_params_int64(&p, item);
    db_params_int64(&p, labeler);
    db_params_int64(&p, cls);
    db_params_bytes(&p, nonce, sizeof nonce);
    db_params_int64(&p, queue_one());
    sql_params("INSERT INTO labels (task_id, item_id, labeler_id, class_index, nonce,"
               " ledger_queue_id) VALUES ($1, $2, $3, $4, $5, $6)",
               &p);
}

/* Labeler evidence from gold and consensus, publisher evidence from contribution flags. */
static void test_reputation_evidence(void)
{
    struct reputation_record rec[REPUTATION_ROLE_COUNT];
    struct reputation_config cfg;
    struct account owner, lab[3];
    struct lode_error err;
    struct db_params p;
    int64_t dataset, task, gold_item, open_item;
    const int64_t *c;

    reputation_config_default(&cfg);
    setup_check(account_create(conn, "ev-owner", ROLE_CONTRIBUTOR, &owner, &err), &err);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "ev-lab%d", i);
        setup_check(account_create(conn, name, ROLE_LABELER, &lab[i], &err), &err);
    }
    db_params_init(&p);
    db_params_int64(&p, owner.id);
    dataset = sql_params("INSERT INTO datasets (owner_id, name) VALUES ($1, 'evidence')"
                         " RETURNING id", &p);
    gold_item = item_add(dataset, owner.id, 1, 0);
    open_item = item_add(dataset, owner.id, 2, 0);
    item_add(dataset, owner.id, 3, 1);
    item_add(dataset, owner.id, 4, 2);
    db_params_init(&p);
    db_params_int64(&p, dataset);
    db_params_int64(&p, owner.id);
    task = sql_params("INSERT INTO label_tasks (dataset_id, creator_id, classes, overlap,"
                      " max_overlap) VALUES ($1, $2, '{a,b,c}', 3, 3) RETURNING id", &p);
    db_params_init(&p);
    db_params_int64(&p, task);
    db_params_int64(&p, gold_item);
    sql_params("INSERT INTO label_gold (task_id, item_id, class_index) VALUES ($1, $2, 0)", &p);
    label_add(task, gold_item, lab[0].id, 0); /* gold correct */
    label_add(task, gold_item, lab[1].id, 1); /* gold wrong */
    label_add(task, open_item, lab[0].id, 1); /* consensus is 1 (2 of 3) */
    label_add(task, open_item, lab[1].id, 1);
    label_add(task, open_item, lab[2].id, 2); /* disagrees */

    CU_ASSERT_EQUAL(bond_reputation_records(conn, lab[0].id, &cfg, T0 * 2, rec, &err), LODE_OK);
    c = rec[REPUTATION_ROLE_LABELER].counts;
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_GOLD_CORRECT], 1);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_GOLD_WRONG], 0);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_CONSENSUS_AGREE], 1);
    CU_ASSERT_EQUAL(bond_reputation_records(conn, lab[1].id, &cfg, T0 * 2, rec, &err), LODE_OK);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_GOLD_WRONG], 1);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_CONSENSUS_AGREE], 1);
    CU_ASSERT_EQUAL(bond_reputation_records(conn, lab[2].id, &cfg, T0 * 2, rec, &err), LODE_OK);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_CONSENSUS_DISAGREE], 1);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_LABEL_GOLD_CORRECT] + c[REPUTATION_OBS_LABEL_GOLD_WRONG], 0);
    CU_ASSERT(rec[REPUTATION_ROLE_LABELER].negative > 0.49);
    /* the contributor's flags weigh on its publisher record */
    CU_ASSERT_EQUAL(bond_reputation_records(conn, owner.id, &cfg, T0 * 2, rec, &err), LODE_OK);
    c = rec[REPUTATION_ROLE_PUBLISHER].counts;
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_ITEM_SYNTHETIC], 1);
    CU_ASSERT_EQUAL(c[REPUTATION_OBS_ITEM_DUPLICATE], 1);
    CU_ASSERT_EQUAL(rec[REPUTATION_ROLE_LABELER].counts[REPUTATION_OBS_LABEL_GOLD_CORRECT], 0);
}

/* Runs the sequencer until every queued entry is integrated and checkpointed. */
static void sequence_all(void)
{
    struct ledger_sequencer_config cfg = {
        .database_url = db_url,
        .origin = "test.example/lode",
        .signing_key_path = key_path,
        .batch_max = 256,
        .batch_delay_ms = 5,
    };
    struct ledger_sequencer *seq = NULL;
    struct ledger_checkpoint cp;
    struct lode_error err = {0};
    struct timespec pause = {0, 20000000};
    int64_t queued = sql_int("SELECT count(*) FROM ledger_queue");
    bool done = false;

    CU_ASSERT_FATAL(ledger_sequencer_start(&cfg, &seq, &err) == LODE_OK);
    for (int waited = 0; !done && waited < 3000; waited++) {
        done = ledger_checkpoint_latest(conn, &cp, &err) == LODE_OK &&
               (int64_t)cp.size >= queued;
        if (!done)
            nanosleep(&pause, NULL);
    }
    ledger_sequencer_stop(seq);
    CU_ASSERT_FATAL(done);
}

static int64_t bond_int(const char *sql_fmt, int64_t id)
{
    char sql[512];
    snprintf(sql, sizeof sql, sql_fmt, (long long)id);
    return sql_int(sql);
}

/* A draw the journal refuses (every juror's stake moved away after the snapshot) is recorded;
 * the next retry renews the pool, or waits while the jury cannot be seated; the renewal is a
 * pool.renewed entry that becomes the filing entry, and the draw follows from a checkpoint
 * that covers it. Nothing is half-written and money is conserved. */
static void test_pool_renewed(void)
{
    struct lode_error err;
    int64_t id = post_bond(10000, 1000, T0, LODE_OK);
    struct op_arg a = {.op = OP_CHALLENGE, .bond = id, .actor = challenger.id, .amount = 10000,
                       .text = "renewal evidence", .now = T0 + 10};
    int64_t stakes[JURORS], filing, renewal, lines, now = T0 + 100;
    struct reputation_juror *pool = NULL;
    uint8_t first_hash[32], hash[32];
    char hex[65], sql[256];
    size_t pool_count = 0;
    bool drawn = true;
    int stepped = -1;

    CU_ASSERT_EQUAL_FATAL(run(&a, &err), LODE_OK);
    filing = row.draw_queue_id;
    CU_ASSERT_EQUAL_FATAL(bond_pool_get(conn, id, 0, NULL, &pool, &pool_count, first_hash,
                                        &drawn, &err),
                          LODE_OK);
    free(pool);
    /* every juror's stake leaves after the snapshot (the money layer alone does not stop it):
     * whoever the draw picks, the journal refuses to move its seat deposit */
    for (int i = 0; i < JURORS; i++) {
        stakes[i] = balance(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id);
        if (stakes[i] > 0)
            move(acct(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id),
                 acct(MONEY_ACCOUNT_USER, jurors[i].id), stakes[i], "juror_stake_withdrawal");
    }
    /* no checkpoint covers the filing yet: the bond is not due */
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state ="
                             " 'awaiting_draw' AND draw_error IS NULL",
                             id),
                    1);
    /* once one does, the draw is refused, rolled back and noted */
    sequence_all();
    lines = sql_int("SELECT count(*) FROM money_lines");
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state ="
                             " 'awaiting_draw' AND draw_error = 'a drawn juror''s stake no longer"
                             " covers its seats'",
                             id),
                    1);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bond_entries WHERE bond_id = %lld AND type IN"
                             " ('juror.drawn', 'pool.renewed')",
                             id),
                    0);
    CU_ASSERT_EQUAL(bond_int("SELECT coalesce(draw_queue_id, 0) FROM bonds WHERE id = %lld", id),
                    filing);
    /* the retry cannot seat a jury from the empty pool: it waits, saying why, and writes
     * nothing (the old snapshot stays) */
    now += 1000;
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state ="
                             " 'awaiting_draw' AND draw_error LIKE 'could not renew the pool of"
                             " bond %%'",
                             id),
                    1);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bond_entries WHERE bond_id = %lld AND type ="
                             " 'pool.renewed'",
                             id),
                    0);
    CU_ASSERT_EQUAL(bond_pool_get(conn, id, 0, NULL, &pool, &pool_count, hash, &drawn, &err),
                    LODE_OK);
    free(pool);
    CU_ASSERT_EQUAL(memcmp(hash, first_hash, 32), 0);
    CU_ASSERT_EQUAL(sql_int("SELECT count(*) FROM money_lines"), lines);
    /* the stake comes back (one juror's a little less): the next retry renews the pool */
    for (int i = 0; i < JURORS; i++)
        if (stakes[i] > 0)
            move(acct(MONEY_ACCOUNT_USER, jurors[i].id),
                 acct(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id), stakes[i] - (i == 0 ? 500 : 0),
                 "juror_stake");
    now += 1000;
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state ="
                             " 'awaiting_draw' AND draw_error IS NULL",
                             id),
                    1);
    renewal = bond_int("SELECT coalesce(max(ledger_queue_id), 0) FROM bond_entries WHERE"
                       " bond_id = %lld AND type = 'pool.renewed'",
                       id);
    CU_ASSERT(renewal > filing);
    CU_ASSERT_EQUAL(bond_int("SELECT coalesce(draw_queue_id, 0) FROM bonds WHERE id = %lld", id),
                    renewal);
    CU_ASSERT_EQUAL(bond_pool_get(conn, id, 0, NULL, &pool, &pool_count, hash, &drawn, &err),
                    LODE_OK);
    CU_ASSERT_FALSE(drawn);
    CU_ASSERT_NOT_EQUAL(memcmp(hash, first_hash, 32), 0);
    {
        uint8_t again[32];
        bond_pool_hash(id, 0, pool, pool_count, again);
        CU_ASSERT_EQUAL(memcmp(again, hash, 32), 0);
    }
    free(pool);
    /* the entry carries the new hash, the round and the reason */
    hex_encode(hash, 32, hex);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM bond_entries WHERE bond_id = %lld AND type = 'pool.renewed'"
             " AND entry LIKE '%%\"pool\":\"%s\"%%' AND entry LIKE '%%\"round\":0%%'"
             " AND entry LIKE '%%\"reason\":\"could not renew%%'",
             (long long)id, hex);
    CU_ASSERT_EQUAL(sql_int(sql), 1);
    /* no checkpoint covers the renewal yet: the bond waits (the old one's seed is no use) */
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state ="
                             " 'awaiting_draw'",
                             id),
                    1);
    /* once one does, the draw succeeds from a checkpoint that covers the renewal */
    sequence_all();
    CU_ASSERT_EQUAL(bond_tick(conn, now, 1000, 1000, &stepped, &err), LODE_OK);
    CU_ASSERT_EQUAL(bond_int("SELECT count(*) FROM bonds WHERE id = %lld AND state = 'commit'",
                             id),
                    1);
    CU_ASSERT_EQUAL(bond_pool_get(conn, id, 0, NULL, &pool, &pool_count, hash, &drawn, &err),
                    LODE_OK);
    free(pool);
    CU_ASSERT(drawn);
    CU_ASSERT(bond_int("SELECT count(*) FROM bond_entries WHERE bond_id = %lld AND type ="
                       " 'juror.drawn'",
                       id) > 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM bond_entries e, ledger_queue q WHERE e.bond_id = %lld AND"
             " e.type = 'juror.drawn' AND q.id = %lld AND (e.entry::jsonb->>'checkpoint_size')"
             "::bigint <= q.ledger_index",
             (long long)id, (long long)renewal);
    CU_ASSERT_EQUAL(sql_int(sql), 0);
    /* both parties' money and the seat deposits are in escrow */
    CU_ASSERT_EQUAL(balance(MONEY_ACCOUNT_ESCROW, id),
                    20000 + row.config.jury_seats * row.config.seat_deposit);
    check_conserved();
}

static const struct test_case bond_cases[] = {
    {"round_trip", test_round_trip},
    {"refusals_leave_nothing", test_refusals_leave_nothing},
    {"scheduler_once", test_scheduler_once},
    {"compare_and_set", test_compare_and_set},
    {"lifecycle", test_lifecycle},
    {"deadlines", test_deadlines},
    {"catch_up", test_catch_up},
    {"reputation_evidence", test_reputation_evidence},
    {"pool_renewed", test_pool_renewed},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/bonds", bond_cases},
    {NULL, NULL},
};

int main(void)
{
    struct lode_error err = {0};
    struct reputation_config cfg;
    char name[16];
    int rc;

    if (sodium_init() < 0)
        return 1;
    scratch_db_init();
    scratch_db_create(db_url);
    conn = scratch_db_connect(db_url);
    setup_check(db_migrate(conn, NULL, &err), &err);
    setup_check(account_create(conn, "publisher", ROLE_PUBLISHER, &publisher, &err), &err);
    setup_check(account_create(conn, "challenger", ROLE_FACT_CHECKER, &challenger, &err), &err);
    reputation_config_default(&cfg);
    cfg.window_ms_min = 1;
    setup_check(bond_config_put(conn, &cfg, 0, NULL, &err), &err);
    move(acct(MONEY_ACCOUNT_EXTERNAL, 0), acct(MONEY_ACCOUNT_USER, publisher.id), 1000000,
         "deposit");
    move(acct(MONEY_ACCOUNT_EXTERNAL, 0), acct(MONEY_ACCOUNT_USER, challenger.id), 100000,
         "deposit");
    for (int i = 0; i < JURORS; i++) {
        snprintf(name, sizeof name, "juror%d", i);
        setup_check(account_create(conn, name, ROLE_FACT_CHECKER, &jurors[i], &err), &err);
        move(acct(MONEY_ACCOUNT_EXTERNAL, 0), acct(MONEY_ACCOUNT_USER, jurors[i].id), 20000,
             "deposit");
        move(acct(MONEY_ACCOUNT_USER, jurors[i].id), acct(MONEY_ACCOUNT_JUROR_STAKE, jurors[i].id),
             10000, "juror_stake");
    }
    {
        uint8_t seed[32];
        char b64[BASE64_ENCODED_BYTES(32)];
        FILE *fp;
        int fd;
        randombytes_buf(seed, sizeof seed);
        base64_encode(seed, sizeof seed, b64);
        snprintf(key_path, sizeof key_path, "/tmp/lode_bond_key_XXXXXX");
        fd = mkstemp(key_path);
        fp = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (fp == NULL || fprintf(fp, "%s\n", b64) < 0 || fclose(fp) != 0)
            return 1;
    }
    rc = test_main(suites);
    remove(key_path);
    db_conn_close(conn);
    scratch_db_cleanup();
    return rc;
}
