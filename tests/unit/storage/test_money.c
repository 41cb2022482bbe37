/*
 * tests/unit/storage/test_money.c — storage/money_store.h against a scratch database: balanced
 * lines, refusals that leave nothing, burn never debited, overflow, statements, deposits and
 * withdrawals, concurrent postings on two connections (no lost money, no deadlock), and the
 * conservation totals.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "scratch_db.h"
#include "storage/account_store.h"
#include "storage/db_internal.h"
#include "market/payment.h"
#include "storage/money_store.h"
#include "test_main.h"

static char db_url[SCRATCH_URL_BYTES];
static struct db_conn *conn;
static struct account alice, bob, carol;

static const struct money_account EXTERNAL = {MONEY_ACCOUNT_EXTERNAL, 0};
static const struct money_account BURN = {MONEY_ACCOUNT_BURN, 0};

static struct money_account user(int64_t id)
{
    return (struct money_account){MONEY_ACCOUNT_USER, id};
}

static struct money_transfer xfer(struct money_account from, struct money_account to,
                                  const char *currency, int64_t amount, const char *reason)
{
    struct money_transfer t;
    memset(&t, 0, sizeof t);
    t.from = from;
    t.to = to;
    snprintf(t.currency, sizeof t.currency, "%s", currency);
    t.amount = amount;
    t.reason = reason;
    return t;
}

static int64_t count_rows(const char *table)
{
    char sql[128];
    struct lode_error err;
    PGresult *res = NULL;
    int64_t n;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (db_query(conn, sql, NULL, &res, &err) != LODE_OK)
        return -1;
    n = db_result_int64(res, 0, 0);
    PQclear(res);
    return n;
}

static int64_t balance_of(struct money_account a, const char *currency)
{
    struct lode_error err;
    int64_t b = -1;
    CU_ASSERT_EQUAL(money_balance(conn, a, currency, &b, &err), LODE_OK);
    return b;
}

/* One posting in its own transaction, as a request would run it. */
struct post_arg {
    const struct money_transfer *t;
    size_t n;
    int64_t posting;
};

static enum lode_code post_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct post_arg *a = arg;
    struct money_context ctx = {"test", 1};
    return money_post(c, a->t, a->n, &ctx, &a->posting, err);
}

static enum lode_code post_tx(struct db_conn *c, const struct money_transfer *t, size_t n,
                              int64_t *posting_out, struct lode_error *err)
{
    struct post_arg a = {t, n, 0};
    enum lode_code rc = db_tx(c, DB_READ_COMMITTED, post_fn, &a, err);
    if (posting_out != NULL)
        *posting_out = a.posting;
    return rc;
}

static void test_currency_mapping(void)
{
    char cur[4];
    struct reputation_transfer rt = {{REPUTATION_ACCOUNT_USER, 7},
                                     {REPUTATION_ACCOUNT_ESCROW, 3},
                                     0,
                                     500,
                                     REPUTATION_REASON_BOND_STAKE};
    struct money_transfer mt;
    struct lode_error err;

    CU_ASSERT_TRUE(money_currency_is_valid("EUR"));
    CU_ASSERT_FALSE(money_currency_is_valid("EU"));
    CU_ASSERT_FALSE(money_currency_is_valid("eur"));
    CU_ASSERT_FALSE(money_currency_is_valid("EURO"));
    CU_ASSERT_FALSE(money_currency_is_valid(NULL));
    CU_ASSERT_EQUAL(money_currency_pack("EUR"), ((uint32_t)'E' << 16) | ('U' << 8) | 'R');
    CU_ASSERT_EQUAL(money_currency_pack("E1R"), 0);
    CU_ASSERT_TRUE(money_currency_unpack(money_currency_pack("USD"), cur));
    CU_ASSERT_STRING_EQUAL(cur, "USD");
    CU_ASSERT_FALSE(money_currency_unpack(978, cur)); /* ISO numeric is no packed code */
    CU_ASSERT_STRING_EQUAL(cur, "");
    CU_ASSERT_FALSE(money_currency_unpack(0x01454552u, cur));

    rt.currency = money_currency_pack("EUR");
    CU_ASSERT_EQUAL_FATAL(money_transfer_from_engine(&rt, &mt, &err), LODE_OK);
    CU_ASSERT_EQUAL(mt.from.kind, MONEY_ACCOUNT_USER);
    CU_ASSERT_EQUAL(mt.from.id, 7);
    CU_ASSERT_EQUAL(mt.to.kind, MONEY_ACCOUNT_ESCROW);
    CU_ASSERT_EQUAL(mt.to.id, 3);
    CU_ASSERT_STRING_EQUAL(mt.currency, "EUR");
    CU_ASSERT_EQUAL(mt.amount, 500);
    CU_ASSERT_STRING_EQUAL(mt.reason, "bond_stake");
    rt.currency = 978;
    CU_ASSERT_EQUAL(money_transfer_from_engine(&rt, &mt, &err), LODE_EINVAL);
    rt.currency = money_currency_pack("EUR");
    rt.to.kind = (enum reputation_account_kind)9;
    CU_ASSERT_EQUAL(money_transfer_from_engine(&rt, &mt, &err), LODE_EINVAL);
}

static void test_balanced_lines(void)
{
    struct money_transfer t[3];
    struct lode_error err;
    struct db_params p;
    PGresult *res = NULL;
    int64_t posting = 0;

    t[0] = xfer(EXTERNAL, user(alice.id), "EUR", 1000, "deposit");
    CU_ASSERT_EQUAL_FATAL(post_tx(conn, t, 1, &posting, &err), LODE_OK);
    CU_ASSERT(posting > 0);
    CU_ASSERT_EQUAL(balance_of(user(alice.id), "EUR"), 1000);
    CU_ASSERT_EQUAL(balance_of(EXTERNAL, "EUR"), -1000);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "EUR"), 0); /* never touched */

    /* chained through bob, who holds nothing before: only the net matters */
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", 300, "test_pay");
    t[1] = xfer(user(bob.id), user(carol.id), "EUR", 200, "test_pay");
    t[2] = xfer(user(alice.id), BURN, "EUR", 50, "burn");
    CU_ASSERT_EQUAL_FATAL(post_tx(conn, t, 3, &posting, &err), LODE_OK);
    CU_ASSERT_EQUAL(balance_of(user(alice.id), "EUR"), 650);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "EUR"), 100);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "EUR"), 200);
    CU_ASSERT_EQUAL(balance_of(BURN, "EUR"), 50);

    db_params_init(&p);
    db_params_int64(&p, posting);
    CU_ASSERT_EQUAL_FATAL(db_query(conn,
                                   "SELECT count(*), sum(delta), min(l.id) > 0,"
                                   " bool_and(p.context_kind = 'test')"
                                   " FROM money_lines l JOIN money_postings p"
                                   " ON p.id = l.posting_id WHERE posting_id = $1",
                                   &p, &res, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 0), 6);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 1), 0);
    CU_ASSERT_TRUE(db_result_bool(res, 0, 3));
    PQclear(res);
    /* the line order is the transfer order: debit, then credit, each naming the other side */
    CU_ASSERT_EQUAL_FATAL(db_query(conn,
                                   "SELECT kind, account_id, delta, balance_after,"
                                   " counterparty_kind, counterparty_id, reason"
                                   " FROM money_lines WHERE posting_id = $1 ORDER BY id",
                                   &p, &res, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL_FATAL(PQntuples(res), 6);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 1), alice.id);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 2), -300);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 3), 650); /* alice after the whole posting */
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 5), bob.id);
    CU_ASSERT_EQUAL(db_result_int64(res, 1, 1), bob.id);
    CU_ASSERT_EQUAL(db_result_int64(res, 1, 2), 300);
    CU_ASSERT_EQUAL(db_result_int64(res, 1, 3), 100); /* bob after paying carol too */
    CU_ASSERT_EQUAL(db_result_int64(res, 2, 3), 100);
    CU_ASSERT_EQUAL(db_result_int64(res, 5, 0), MONEY_ACCOUNT_BURN);
    CU_ASSERT_EQUAL(db_result_int64(res, 5, 3), 50);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 5, 6), "burn");
    PQclear(res);
}

static void test_refusals(void)
{
    struct money_transfer t[2];
    struct lode_error err;
    int64_t postings = count_rows("money_postings"), lines = count_rows("money_lines");
    int64_t a = balance_of(user(alice.id), "EUR"), b = balance_of(user(bob.id), "EUR");
    char want[128];

    /* the second transfer overdraws: the first must not stay */
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", 10, "test_pay");
    t[1] = xfer(user(bob.id), user(carol.id), "EUR", b + 11, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 2, NULL, &err), LODE_EUNPROCESSABLE);
    snprintf(want, sizeof want,
             "insufficient balance: user account %lld holds %lld EUR, needs %lld",
             (long long)bob.id, (long long)b, (long long)(b + 1));
    CU_ASSERT_STRING_EQUAL(err.message, want);
    CU_ASSERT_EQUAL(balance_of(user(alice.id), "EUR"), a);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "EUR"), b);
    CU_ASSERT_EQUAL(count_rows("money_postings"), postings);
    CU_ASSERT_EQUAL(count_rows("money_lines"), lines);

    /* a currency never deposited: the account holds 0 */
    t[0] = xfer(user(alice.id), user(bob.id), "USD", 1, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "holds 0 USD, needs 1"));

    /* invalid postings */
    t[0] = xfer(BURN, user(alice.id), "EUR", 1, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "burn account is never debited"));
    t[0] = xfer(user(alice.id), user(alice.id), "EUR", 1, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", 0, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", -5, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(bob.id), "eur", 1, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", 1, "Bad Reason");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(bob.id), "EUR", 1, NULL);
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), (struct money_account){MONEY_ACCOUNT_EXTERNAL, 3}, "EUR", 1,
                "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), user(0), "EUR", 1, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    t[0] = xfer(user(alice.id), (struct money_account){(enum money_account_kind)7, 1}, "EUR", 1,
                "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(post_tx(conn, t, 0, NULL, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(post_tx(conn, t, MONEY_POSTING_TRANSFERS_MAX + 1, NULL, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(count_rows("money_postings"), postings);
    CU_ASSERT_EQUAL(count_rows("money_lines"), lines);
    CU_ASSERT_EQUAL(balance_of(BURN, "EUR"), 50);
}

static void test_overflow(void)
{
    struct money_transfer t[2];
    struct lode_error err;
    int64_t postings;

    t[0] = xfer(EXTERNAL, user(carol.id), "JPY", INT64_MAX, "deposit");
    CU_ASSERT_EQUAL_FATAL(post_tx(conn, t, 1, NULL, &err), LODE_OK);
    postings = count_rows("money_postings");
    t[0] = xfer(EXTERNAL, user(carol.id), "JPY", 1, "deposit");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "balance would overflow"));
    /* two credits of one account in one posting whose sum overflows */
    t[0] = xfer(user(carol.id), user(bob.id), "JPY", INT64_MAX, "test_pay");
    t[1] = xfer(EXTERNAL, user(bob.id), "JPY", 1, "deposit");
    CU_ASSERT_EQUAL(post_tx(conn, t, 2, NULL, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "overflow"));
    CU_ASSERT_EQUAL(count_rows("money_postings"), postings);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "JPY"), INT64_MAX);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "JPY"), 0);
    /* moving it all is fine */
    t[0] = xfer(user(carol.id), user(bob.id), "JPY", INT64_MAX, "test_pay");
    CU_ASSERT_EQUAL(post_tx(conn, t, 1, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "JPY"), INT64_MAX);
}

static enum lode_code deposit_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct money_deposit *d = arg;
    return money_deposit_credit(c, d, alice.id, 0, d, err);
}

struct settle_arg {
    int64_t id;
    enum money_withdrawal_state state;
    struct money_withdrawal out;
};

static enum lode_code withdraw_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct money_withdrawal *w = arg;
    return money_withdrawal_request(c, w, w->account_id, 0, w, err);
}

static enum lode_code settle_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct settle_arg *s = arg;
    return money_withdrawal_settle(c, s->id, s->state,
                                   s->state == MONEY_WITHDRAWAL_PAID ? "bank-1" : NULL, alice.id,
                                   &s->out, err);
}

static void test_deposits_and_withdrawals(void)
{
    struct money_deposit d;
    struct money_withdrawal w, w2;
    struct settle_arg s;
    struct lode_error err;

    memset(&d, 0, sizeof d);
    snprintf(d.adapter, sizeof d.adapter, "operator");
    snprintf(d.reference, sizeof d.reference, "wire-0001");
    d.account_id = carol.id;
    d.amount = 5000;
    snprintf(d.currency, sizeof d.currency, "GBP");
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, deposit_fn, &d, &err), LODE_OK);
    CU_ASSERT(d.id > 0 && d.posting_id > 0);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 5000);
    /* the same external reference is never credited twice */
    d.amount = 7;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, deposit_fn, &d, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 5000);
    snprintf(d.reference, sizeof d.reference, "has space");
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, deposit_fn, &d, &err), LODE_EINVAL);
    snprintf(d.reference, sizeof d.reference, "wire-0002");
    d.account_id = 999999;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, deposit_fn, &d, &err), LODE_ENOTFOUND);

    memset(&w, 0, sizeof w);
    snprintf(w.adapter, sizeof w.adapter, "operator");
    w.account_id = carol.id;
    w.amount = 5001;
    snprintf(w.currency, sizeof w.currency, "GBP");
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, withdraw_fn, &w, &err), LODE_EUNPROCESSABLE);
    w.amount = 2000;
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, withdraw_fn, &w, &err), LODE_OK);
    CU_ASSERT_EQUAL(w.state, MONEY_WITHDRAWAL_REQUESTED);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 3000);
    w2 = w;
    w2.amount = 1000;
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, withdraw_fn, &w2, &err), LODE_OK);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 2000);

    s = (struct settle_arg){w.id, MONEY_WITHDRAWAL_PAID, {0}};
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, settle_fn, &s, &err), LODE_OK);
    CU_ASSERT_EQUAL(s.out.state, MONEY_WITHDRAWAL_PAID);
    CU_ASSERT_STRING_EQUAL(s.out.reference, "bank-1");
    CU_ASSERT(s.out.settled_at_ms > 0);
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, settle_fn, &s, &err), LODE_ECONFLICT);
    {
        char want[96];
        snprintf(want, sizeof want, "withdrawal %lld is already paid", (long long)w.id);
        CU_ASSERT_STRING_EQUAL(err.message, want);
    }
    s = (struct settle_arg){w2.id, MONEY_WITHDRAWAL_FAILED, {0}};
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, settle_fn, &s, &err), LODE_OK);
    CU_ASSERT_EQUAL(s.out.state, MONEY_WITHDRAWAL_FAILED);
    CU_ASSERT(s.out.refund_posting_id > 0);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 3000); /* refunded */
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, settle_fn, &s, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(balance_of(user(carol.id), "GBP"), 3000); /* not twice */
    s = (struct settle_arg){999999, MONEY_WITHDRAWAL_PAID, {0}};
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, settle_fn, &s, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(money_withdrawal_get(conn, w.id, &w2, &err), LODE_OK);
    CU_ASSERT_EQUAL(w2.state, MONEY_WITHDRAWAL_PAID);
    CU_ASSERT_EQUAL(w2.amount, 2000);
    {
        struct arena *ar = arena_create(1 << 16);
        struct money_withdrawal *list;
        size_t n;
        int64_t next;
        CU_ASSERT_EQUAL(money_withdrawals_list(conn, 0, carol.id, 0, 1, ar, &list, &n, &next,
                                               &err),
                        LODE_OK);
        CU_ASSERT(n == 1 && list[0].id == w.id && next == w.id);
        CU_ASSERT_EQUAL(money_withdrawals_list(conn, 0, carol.id, next, 10, ar, &list, &n, &next,
                                               &err),
                        LODE_OK);
        CU_ASSERT(n == 1 && list[0].state == MONEY_WITHDRAWAL_FAILED && next == 0);
        CU_ASSERT_EQUAL(money_withdrawals_list(conn, MONEY_WITHDRAWAL_PAID, 0, 0, 10, ar, &list,
                                               &n, &next, &err),
                        LODE_OK);
        CU_ASSERT(n == 1 && list[0].id == w.id);
        CU_ASSERT_EQUAL(money_withdrawals_list(conn, MONEY_WITHDRAWAL_REQUESTED, carol.id, 0, 10,
                                               ar, &list, &n, &next, &err),
                        LODE_OK);
        CU_ASSERT_EQUAL(n, 0);
        CU_ASSERT_EQUAL(money_withdrawals_list(conn, 0, 0, 0, 0, ar, &list, &n, &next, &err),
                        LODE_EINVAL);
        arena_destroy(ar);
    }
}

/* The operator-credited adapter: who may do what, and that it records under its name. */
struct adapter_arg {
    struct payment_actor actor;
    int op;
    int64_t id;
    struct money_deposit d;
    struct money_withdrawal w;
};

static enum lode_code adapter_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct adapter_arg *a = arg;
    const struct payment_adapter *p = payment_adapter_operator();
    switch (a->op) {
    case 0:
        return p->deposit_credit(p, c, &a->actor, a->id, 700, "SEK", "adapter-ref-1", &a->d, err);
    case 1:
        return p->withdrawal_start(p, c, &a->actor, a->id, 200, "SEK", &a->w, err);
    default:
        return p->withdrawal_settle(p, c, &a->actor, a->id, MONEY_WITHDRAWAL_FAILED, NULL, &a->w,
                                    err);
    }
}

static void test_payment_adapter(void)
{
    struct adapter_arg a;
    struct lode_error err;
    int64_t wid;

    CU_ASSERT_PTR_EQUAL(payment_adapter_find("operator"), payment_adapter_operator());
    CU_ASSERT_PTR_EQUAL(payment_adapter_default(), payment_adapter_operator());
    CU_ASSERT_PTR_NULL(payment_adapter_find("card"));
    CU_ASSERT_PTR_NULL(payment_adapter_find(NULL));

    memset(&a, 0, sizeof a);
    a.actor = (struct payment_actor){bob.id, false};
    a.id = bob.id;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_EFORBIDDEN);
    a.actor.operator = true;
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(a.d.adapter, "operator");
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "SEK"), 700);
    /* bob withdraws from himself; alice (no operator) may not withdraw from bob */
    a.op = 1;
    a.actor = (struct payment_actor){alice.id, false};
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_EFORBIDDEN);
    a.actor = (struct payment_actor){bob.id, false};
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_OK);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "SEK"), 500);
    wid = a.w.id;
    /* only an operator settles */
    a.op = 2;
    a.id = wid;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_EFORBIDDEN);
    a.actor.operator = true;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_OK);
    CU_ASSERT_EQUAL(a.w.state, MONEY_WITHDRAWAL_FAILED);
    CU_ASSERT_EQUAL(balance_of(user(bob.id), "SEK"), 700);
    a.id = 999999;
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, adapter_fn, &a, &err), LODE_ENOTFOUND);
}

static void test_statement(void)
{
    struct arena *a = arena_create(1 << 20);
    struct money_line *lines;
    struct money_holding *h;
    struct money_transfer t;
    struct lode_error err;
    size_t n, total = 0;
    int64_t cursor = 0, last = 0, bal = 0;

    /* a juror stake line, so the statement shows both of carol's accounts */
    t = xfer(user(carol.id), (struct money_account){MONEY_ACCOUNT_JUROR_STAKE, carol.id}, "EUR",
             40, "juror_stake");
    CU_ASSERT_EQUAL_FATAL(post_tx(conn, &t, 1, NULL, &err), LODE_OK);
    do {
        CU_ASSERT_EQUAL_FATAL(
            money_statement(conn, carol.id, cursor, 2, a, &lines, &n, &cursor, &err), LODE_OK);
        for (size_t i = 0; i < n; i++) {
            CU_ASSERT(lines[i].id > last);
            last = lines[i].id;
            CU_ASSERT(lines[i].account.id == carol.id);
            CU_ASSERT(lines[i].reason != NULL && lines[i].context_kind != NULL);
        }
        total += n;
    } while (cursor != 0 && total < 100);
    /* EUR 200 in, 40 out, 40 in stake; JPY in, out; GBP deposit, 2 withdrawals, refund */
    CU_ASSERT_EQUAL(total, 9);
    CU_ASSERT_EQUAL(money_statement(conn, carol.id, 0, 0, a, &lines, &n, &cursor, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(money_statement(conn, carol.id, -1, 5, a, &lines, &n, &cursor, &err),
                    LODE_EINVAL);

    CU_ASSERT_EQUAL_FATAL(money_holdings(conn, carol.id, a, &h, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(h[0].currency, "EUR");
    CU_ASSERT_EQUAL(h[0].available, 160);
    CU_ASSERT_EQUAL(h[0].juror_stake, 40);
    CU_ASSERT_STRING_EQUAL(h[1].currency, "GBP");
    CU_ASSERT_EQUAL(h[1].available, 3000);
    CU_ASSERT_STRING_EQUAL(h[2].currency, "JPY");
    CU_ASSERT_EQUAL(h[2].available, 0);
    CU_ASSERT_EQUAL(money_balance(conn, (struct money_account){MONEY_ACCOUNT_JUROR_STAKE, carol.id},
                                  "EUR", &bal, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(bal, 40);
    arena_destroy(a);
}

/* ---- the engine's in-memory journal is the reference model ---- */

#define MODEL_POSTINGS 600
#define MODEL_BASE_ID 900000

static uint64_t model_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The pool: external, burn, three users, two juror stakes, two escrows. */
static struct reputation_account model_account(uint64_t r)
{
    static const struct reputation_account pool[] = {
        {REPUTATION_ACCOUNT_EXTERNAL, 0},
        {REPUTATION_ACCOUNT_EXTERNAL, 0},
        {REPUTATION_ACCOUNT_BURN, 0},
        {REPUTATION_ACCOUNT_USER, MODEL_BASE_ID + 1},
        {REPUTATION_ACCOUNT_USER, MODEL_BASE_ID + 2},
        {REPUTATION_ACCOUNT_USER, MODEL_BASE_ID + 3},
        {REPUTATION_ACCOUNT_JUROR_STAKE, MODEL_BASE_ID + 1},
        {REPUTATION_ACCOUNT_JUROR_STAKE, MODEL_BASE_ID + 2},
        {REPUTATION_ACCOUNT_ESCROW, MODEL_BASE_ID + 1},
        {REPUTATION_ACCOUNT_ESCROW, MODEL_BASE_ID + 2},
    };
    return pool[r % (sizeof pool / sizeof pool[0])];
}

static bool model_balances_match(const struct reputation_journal *j, const uint32_t *currencies)
{
    bool ok = true;
    for (int c = 0; c < 2; c++)
        for (uint64_t a = 0; a < 10; a++) {
            struct reputation_account ra = model_account(a);
            struct money_account ma = {(enum money_account_kind)ra.kind, ra.id};
            char cur[4];
            money_currency_unpack(currencies[c], cur);
            if (balance_of(ma, cur) != reputation_journal_balance(j, ra, currencies[c]))
                ok = false;
        }
    return ok;
}

/* Random postings (valid, invalid, overdrawing, and huge amounts that overflow balances over
 * time) applied to PostgreSQL and to the engine's journal: same outcome every time, same
 * balances throughout. Amounts stay <= 2^60 and postings <= 4 transfers, so no posting's own
 * sums overflow (where the engine's outcome would depend on its merge order). */
static void test_reference_model(void)
{
    struct reputation_journal *j = reputation_journal_create();
    const uint32_t currencies[2] = {money_currency_pack("AUD"), money_currency_pack("CAD")};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int agree = 0, accepted = 0, invalid = 0, refused = 0, overflowed = 0;
    bool balances_ok = true;

    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    for (int i = 0; i < MODEL_POSTINGS; i++) {
        struct reputation_transfer rt[4];
        struct money_transfer mt[4];
        struct lode_error err, ref_err;
        size_t n = 1 + model_rand(&rng) % 4;
        enum lode_code db_rc, ref_rc;

        for (size_t k = 0; k < n; k++) {
            uint64_t r = model_rand(&rng) % 100;
            rt[k].from = model_account(model_rand(&rng));
            rt[k].to = model_account(model_rand(&rng));
            /* deposits often, so that money circulates */
            if (model_rand(&rng) % 3 == 0)
                rt[k].from = (struct reputation_account){REPUTATION_ACCOUNT_EXTERNAL, 0};
            rt[k].currency = currencies[model_rand(&rng) % 2];
            rt[k].amount = r < 3    ? -(int64_t)(model_rand(&rng) % 5)
                           : r < 15 ? ((int64_t)1 << 60) + (int64_t)(model_rand(&rng) % 1000)
                                    : 1 + (int64_t)(model_rand(&rng) % 1000);
            rt[k].reason = REPUTATION_REASON_BOND_STAKE;
            CU_ASSERT_EQUAL_FATAL(money_transfer_from_engine(&rt[k], &mt[k], &err), LODE_OK);
        }
        ref_rc = reputation_journal_post(j, rt, n, &ref_err);
        db_rc = post_tx(conn, mt, n, NULL, &err);
        agree += db_rc == ref_rc;
        if (db_rc != ref_rc)
            fprintf(stderr, "posting %d: database %s (%s), model %s (%s)\n", i,
                    lode_code_name(db_rc), err.message, lode_code_name(ref_rc), ref_err.message);
        accepted += db_rc == LODE_OK;
        invalid += db_rc == LODE_EINVAL;
        refused += db_rc == LODE_EUNPROCESSABLE && strstr(err.message, "insufficient") != NULL;
        overflowed += db_rc == LODE_EUNPROCESSABLE && strstr(err.message, "overflow") != NULL;
        if (i % 100 == 99 && !model_balances_match(j, currencies))
            balances_ok = false;
    }
    CU_ASSERT_EQUAL(agree, MODEL_POSTINGS);
    CU_ASSERT_TRUE(balances_ok);
    CU_ASSERT_TRUE(model_balances_match(j, currencies));
    /* the sequence exercised every outcome */
    CU_ASSERT(accepted > 0 && invalid > 0 && refused > 0 && overflowed > 0);
    printf("\n  reference model: %d postings, %d accepted, %d invalid, %d insufficient,"
           " %d overflow\n",
           MODEL_POSTINGS, accepted, invalid, refused, overflowed);
    reputation_journal_destroy(j);
}

/* ---- concurrency: two connections move money both ways between the same accounts ---- */

#define ROUNDS 200

struct worker {
    struct db_conn *conn;
    int64_t a, b;
    int attempts, committed, refused, failed, burned;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct money_transfer t[3];
        struct lode_error err;
        enum lode_code rc;
        /* both directions in one posting, plus a burn: every lock order is exercised */
        t[0] = xfer(user(w->a), user(w->b), "CHF", 7 + i % 5, "test_pay");
        t[1] = xfer(user(w->b), user(w->a), "CHF", 3 + i % 3, "test_pay");
        t[2] = xfer(user(w->a), BURN, "CHF", 1, "burn");
        rc = post_tx(w->conn, t, i % 2 == 0 ? 3 : 1, NULL, &err);
        w->attempts += w->conn->tx_attempts;
        if (rc == LODE_OK) {
            w->committed++;
            w->burned += i % 2 == 0;
        }
        else if (rc == LODE_EUNPROCESSABLE)
            w->refused++;
        else
            w->failed++;
    }
    return NULL;
}

static void test_concurrent(void)
{
    struct worker w[2];
    pthread_t th[2];
    struct money_transfer t[2];
    struct lode_error err;
    int64_t a0, b0, burn0, a1, b1, burn1;

    t[0] = xfer(EXTERNAL, user(alice.id), "CHF", 3000, "deposit");
    t[1] = xfer(EXTERNAL, user(bob.id), "CHF", 3000, "deposit");
    CU_ASSERT_EQUAL_FATAL(post_tx(conn, t, 2, NULL, &err), LODE_OK);
    a0 = balance_of(user(alice.id), "CHF");
    b0 = balance_of(user(bob.id), "CHF");
    burn0 = balance_of(BURN, "CHF");
    w[0] = (struct worker){scratch_db_connect(db_url), alice.id, bob.id, 0, 0, 0, 0, 0};
    w[1] = (struct worker){scratch_db_connect(db_url), bob.id, alice.id, 0, 0, 0, 0, 0};
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(w[i].failed, 0);
        CU_ASSERT_EQUAL(w[i].committed + w[i].refused, ROUNDS);
        /* fixed lock order: no deadlock, so no transaction ran twice */
        CU_ASSERT_EQUAL(w[i].attempts, ROUNDS);
        db_conn_close(w[i].conn);
    }
    a1 = balance_of(user(alice.id), "CHF");
    b1 = balance_of(user(bob.id), "CHF");
    burn1 = balance_of(BURN, "CHF");
    CU_ASSERT_EQUAL(a1 + b1 + (burn1 - burn0), a0 + b0);
    CU_ASSERT_EQUAL(burn1 - burn0, w[0].burned + w[1].burned);
    CU_ASSERT(burn1 - burn0 > 0);
}

static void test_totals(void)
{
    struct arena *a = arena_create(1 << 20);
    struct money_total *t;
    struct lode_error err;
    size_t n;
    bool saw_gbp = false;

    CU_ASSERT_EQUAL_FATAL(money_totals(conn, a, &t, &n, &err), LODE_OK);
    CU_ASSERT(n >= 4);
    for (size_t i = 0; i < n; i++) {
        int64_t inside = 0;
        CU_ASSERT_EQUAL(t[i].all, 0);
        CU_ASSERT_EQUAL(t[i].lines, 0);
        CU_ASSERT_TRUE(t[i].lines_match);
        for (int k = MONEY_ACCOUNT_USER; k <= MONEY_ACCOUNT_TASK; k++) {
            CU_ASSERT(t[i].by_kind[k] >= 0);
            inside += t[i].by_kind[k];
        }
        CU_ASSERT_EQUAL(inside, -t[i].by_kind[MONEY_ACCOUNT_EXTERNAL]);
        if (strcmp(t[i].currency, "GBP") == 0) {
            saw_gbp = true;
            /* deposits 5000, withdrawals 2000 paid (1000 failed and refunded) */
            CU_ASSERT_EQUAL(t[i].deposits, 5000);
            CU_ASSERT_EQUAL(t[i].withdrawals, 2000);
            CU_ASSERT_EQUAL(inside, t[i].deposits - t[i].withdrawals);
        }
    }
    CU_ASSERT_TRUE(saw_gbp);
    arena_destroy(a);
}

static const struct test_case money_cases[] = {
    {"currency mapping and engine transfers", test_currency_mapping},
    {"balanced lines", test_balanced_lines},
    {"refusals leave nothing", test_refusals},
    {"overflow", test_overflow},
    {"deposits and withdrawals", test_deposits_and_withdrawals},
    {"operator-credited payment adapter", test_payment_adapter},
    {"statement and holdings", test_statement},
    {"same outcomes and balances as the engine's journal", test_reference_model},
    {"concurrent postings", test_concurrent},
    {"conservation totals", test_totals},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/money", money_cases},
    {NULL, NULL},
};

int main(void)
{
    struct lode_error err = {0};
    int rc;

    scratch_db_init();
    scratch_db_create(db_url);
    conn = scratch_db_connect(db_url);
    if (db_migrate(conn, NULL, &err) != LODE_OK ||
        account_create(conn, "alice", ROLE_CONTRIBUTOR, &alice, &err) != LODE_OK ||
        account_create(conn, "bob", ROLE_CONTRIBUTOR, &bob, &err) != LODE_OK ||
        account_create(conn, "carol", ROLE_FACT_CHECKER, &carol, &err) != LODE_OK) {
        fprintf(stderr, "could not set up: %s (%s)\n", err.message, err.log_detail);
        db_conn_close(conn);
        scratch_db_cleanup();
        return 1;
    }
    rc = test_main(suites);
    db_conn_close(conn);
    scratch_db_cleanup();
    return rc;
}
