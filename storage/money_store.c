/*
 * storage/money_store.c — the money journal (see money_store.h).
 *
 * money_post takes two statements whatever the number of transfers: the first upserts and locks
 * every balance row the posting touches, in (kind, id, currency) order, and returns the old
 * balances; the checks run here, in C, so a refusal names the account and the amounts; the
 * second writes the new balances, the posting and its lines together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db_internal.h"
#include "storage/money_store.h"

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

const char *money_account_kind_name(enum money_account_kind kind)
{
    switch (kind) {
    case MONEY_ACCOUNT_EXTERNAL:
        return "external";
    case MONEY_ACCOUNT_USER:
        return "user";
    case MONEY_ACCOUNT_JUROR_STAKE:
        return "juror_stake";
    case MONEY_ACCOUNT_ESCROW:
        return "escrow";
    case MONEY_ACCOUNT_BURN:
        return "burn";
    case MONEY_ACCOUNT_TASK:
        return "task";
    }
    return NULL;
}

bool money_error_is_insufficient(const struct lode_error *err)
{
    return err->code == LODE_EUNPROCESSABLE &&
           strcmp(err->constraint, MONEY_INSUFFICIENT_CONSTRAINT) == 0;
}

bool money_currency_is_valid(const char *currency)
{
    if (currency == NULL)
        return false;
    for (int i = 0; i < 3; i++)
        if (currency[i] < 'A' || currency[i] > 'Z')
            return false;
    return currency[3] == '\0';
}

uint32_t money_currency_pack(const char *currency)
{
    if (!money_currency_is_valid(currency))
        return 0;
    return ((uint32_t)(unsigned char)currency[0] << 16) |
           ((uint32_t)(unsigned char)currency[1] << 8) | (uint32_t)(unsigned char)currency[2];
}

bool money_currency_unpack(uint32_t packed, char currency_out[4])
{
    char c[4];

    c[0] = (char)((packed >> 16) & 0xff);
    c[1] = (char)((packed >> 8) & 0xff);
    c[2] = (char)(packed & 0xff);
    c[3] = '\0';
    if ((packed >> 24) != 0 || !money_currency_is_valid(c)) {
        currency_out[0] = '\0';
        return false;
    }
    memcpy(currency_out, c, 4);
    return true;
}

enum lode_code money_transfer_from_engine(const struct reputation_transfer *in,
                                          struct money_transfer *out, struct lode_error *err)
{
    const char *reason = reputation_reason_name(in->reason);

    if (in->from.kind < REPUTATION_ACCOUNT_EXTERNAL || in->from.kind > REPUTATION_ACCOUNT_BURN ||
        in->to.kind < REPUTATION_ACCOUNT_EXTERNAL || in->to.kind > REPUTATION_ACCOUNT_BURN)
        return lode_error_set(err, LODE_EINVAL, "engine transfer names an unknown account kind");
    if (reason == NULL || strcmp(reason, "unknown") == 0)
        return lode_error_set(err, LODE_EINVAL, "engine transfer names an unknown reason %d",
                              (int)in->reason);
    memset(out, 0, sizeof *out);
    if (!money_currency_unpack(in->currency, out->currency))
        return lode_error_set(err, LODE_EINVAL,
                              "engine currency %" PRIu32 " is no packed currency code",
                              in->currency);
    out->from.kind = (enum money_account_kind)in->from.kind;
    out->from.id = in->from.id;
    out->to.kind = (enum money_account_kind)in->to.kind;
    out->to.id = in->to.id;
    out->amount = in->amount;
    out->reason = reason;
    return LODE_OK;
}

/* [a-z_]{1,max} */
static bool name_is_valid(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if (n >= max || !((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
            return false;
    return n > 0;
}

static enum lode_code account_check(struct money_account a, const char *role, size_t i,
                                    struct lode_error *err)
{
    const char *name = money_account_kind_name(a.kind);

    if (name == NULL)
        return lode_error_set(err, LODE_EINVAL, "transfer %zu: unknown %s account kind %d", i,
                              role, (int)a.kind);
    if (a.kind == MONEY_ACCOUNT_EXTERNAL || a.kind == MONEY_ACCOUNT_BURN) {
        if (a.id != 0)
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: the %s account has id 0, not %" PRId64, i, name,
                                  a.id);
    } else if (a.id <= 0) {
        return lode_error_set(err, LODE_EINVAL,
                              "transfer %zu: %s account id must be positive, not %" PRId64, i,
                              name, a.id);
    }
    return LODE_OK;
}

/* ---- money_post ---- */

struct post_key {
    int kind;
    int64_t id;
    char currency[4];
    int64_t credits, debits; /* sums of this posting, each checked */
    int64_t balance;         /* before, then after the posting */
};

struct post_line {
    size_t key, counterparty; /* indexes into keys */
    int64_t delta, after;
    const char *reason;
};

static int key_cmp(const void *a, const void *b)
{
    const struct post_key *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return strcmp(x->currency, y->currency);
}

static size_t key_find(const struct post_key *keys, size_t n, int kind, int64_t id,
                       const char *currency)
{
    struct post_key probe;
    const struct post_key *hit;

    memset(&probe, 0, sizeof probe);
    probe.kind = kind;
    probe.id = id;
    memcpy(probe.currency, currency, 4);
    hit = bsearch(&probe, keys, n, sizeof *keys, key_cmp);
    return hit != NULL ? (size_t)(hit - keys) : n;
}

/* A growable text buffer for array literals; `failed` once an allocation failed. */
struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void text_add(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap == 0 ? 256 : t->cap;
        char *q;
        while (t->len + n + 1 > cap)
            cap *= 2;
        q = realloc(t->p, cap);
        if (q == NULL) {
            t->failed = true;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

static void text_add_int(struct text *t, int64_t v, bool first)
{
    char num[24];
    snprintf(num, sizeof num, "%s%" PRId64, first ? "" : ",", v);
    text_add(t, num);
}

static void text_add_word(struct text *t, const char *w, bool first)
{
    if (!first)
        text_add(t, ",");
    text_add(t, w);
}

static enum lode_code post_validate(const struct money_transfer *transfers, size_t count,
                                    const struct money_context *context, struct lode_error *err)
{
    enum lode_code rc;

    if (count == 0)
        return lode_error_set(err, LODE_EINVAL, "a posting needs at least one transfer");
    if (count > MONEY_POSTING_TRANSFERS_MAX)
        return lode_error_set(err, LODE_EINVAL, "a posting holds at most %d transfers, not %zu",
                              MONEY_POSTING_TRANSFERS_MAX, count);
    if (context == NULL || !name_is_valid(context->kind, MONEY_REASON_BYTES_MAX - 1))
        return lode_error_set(err, LODE_EINVAL, "posting context kind must match [a-z_]{1,31}");
    for (size_t i = 0; i < count; i++) {
        const struct money_transfer *t = &transfers[i];
        if (t->amount <= 0)
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: amount must be positive, not %" PRId64, i,
                                  t->amount);
        if ((rc = account_check(t->from, "source", i, err)) != LODE_OK ||
            (rc = account_check(t->to, "destination", i, err)) != LODE_OK)
            return rc;
        if (t->from.kind == t->to.kind && t->from.id == t->to.id)
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: %s account %" PRId64 " cannot pay itself", i,
                                  money_account_kind_name(t->from.kind), t->from.id);
        if (t->from.kind == MONEY_ACCOUNT_BURN)
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: the burn account is never debited", i);
        if (!money_currency_is_valid(t->currency))
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: currency must be three upper-case letters", i);
        if (!name_is_valid(t->reason, MONEY_REASON_BYTES_MAX - 1))
            return lode_error_set(err, LODE_EINVAL,
                                  "transfer %zu: reason must match [a-z_]{1,31}", i);
    }
    return LODE_OK;
}

/* Statement 1: upserts and locks the rows in key order; fills keys[].balance. */
static enum lode_code post_lock(struct db_conn *conn, struct post_key *keys, size_t n,
                                struct lode_error *err)
{
    struct text kinds = {0}, ids = {0}, curs = {0};
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int rows;

    text_add(&kinds, "{");
    text_add(&ids, "{");
    text_add(&curs, "{");
    for (size_t i = 0; i < n; i++) {
        text_add_int(&kinds, keys[i].kind, i == 0);
        text_add_int(&ids, keys[i].id, i == 0);
        text_add_word(&curs, keys[i].currency, i == 0);
    }
    text_add(&kinds, "}");
    text_add(&ids, "}");
    text_add(&curs, "}");
    if (kinds.failed || ids.failed || curs.failed) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the posting");
        goto out;
    }
    db_params_init(&p);
    db_params_text(&p, kinds.p);
    db_params_text(&p, ids.p);
    db_params_text(&p, curs.p);
    /* ON CONFLICT DO UPDATE locks an existing row; the ORDER BY makes the lock order fixed */
    rc = db_query(conn,
                  "INSERT INTO money_balances AS b (kind, account_id, currency)"
                  " SELECT u.kind, u.account_id, u.currency"
                  " FROM unnest($1::smallint[], $2::bigint[], $3::text[])"
                  "   AS u(kind, account_id, currency)"
                  " ORDER BY u.kind, u.account_id, u.currency COLLATE \"C\""
                  " ON CONFLICT ON CONSTRAINT money_balances_pkey"
                  " DO UPDATE SET updated_at = b.updated_at"
                  " RETURNING b.kind, b.account_id, b.currency, b.balance",
                  &p, &res, err);
    if (rc != LODE_OK)
        goto out;
    rows = PQntuples(res);
    if ((size_t)rows != n) {
        rc = lode_error_set(err, LODE_EINTERNAL, "could not lock the balances of the posting");
        lode_error_log_detail(err, "locked %d balance rows, expected %zu", rows, n);
        goto out;
    }
    for (int r = 0; r < rows; r++) {
        char cur[4];
        size_t k;
        if (!db_result_text(res, r, 2, cur, sizeof cur)) {
            rc = lode_error_set(err, LODE_EINTERNAL, "could not read a balance row");
            goto out;
        }
        k = key_find(keys, n, (int)db_result_int64(res, r, 0), db_result_int64(res, r, 1), cur);
        if (k == n) {
            rc = lode_error_set(err, LODE_EINTERNAL, "could not match a locked balance row");
            goto out;
        }
        keys[k].balance = db_result_int64(res, r, 3);
    }
out:
    PQclear(res);
    free(kinds.p);
    free(ids.p);
    free(curs.p);
    return rc;
}

/* Checks every account's outcome; keys[].balance becomes the balance after the posting, and
 * each line carries the balance of its account after the posting. */
static enum lode_code post_check(struct post_key *keys, size_t n, struct post_line *lines,
                                 size_t line_count, struct lode_error *err)
{
    for (size_t i = 0; i < n; i++) {
        struct post_key *k = &keys[i];
        int64_t net = k->credits - k->debits; /* both in [0, INT64_MAX]: no overflow */
        int64_t after;
        if (__builtin_add_overflow(k->balance, net, &after))
            return lode_error_set(err, LODE_EUNPROCESSABLE,
                                  "balance would overflow: %s account %" PRId64 " holds %" PRId64
                                  " %s, receives %" PRId64,
                                  money_account_kind_name((enum money_account_kind)k->kind),
                                  k->id, k->balance, k->currency, net);
        if (after < 0 && k->kind != MONEY_ACCOUNT_EXTERNAL) {
            lode_error_set(err, LODE_EUNPROCESSABLE,
                           "insufficient balance: %s account %" PRId64 " holds %" PRId64
                           " %s, needs %" PRId64,
                           money_account_kind_name((enum money_account_kind)k->kind), k->id,
                           k->balance, k->currency, -net);
            if (err != NULL) /* the rule the database would enforce, named the same way */
                snprintf(err->constraint, sizeof err->constraint, "%s",
                         MONEY_INSUFFICIENT_CONSTRAINT);
            return LODE_EUNPROCESSABLE;
        }
        k->balance = after;
    }
    for (size_t i = 0; i < line_count; i++)
        lines[i].after = keys[lines[i].key].balance;
    return LODE_OK;
}

/* Statement 2: new balances, the posting and its lines, in one statement. */
static enum lode_code post_write(struct db_conn *conn, const struct post_key *keys, size_t n,
                                 const struct post_line *lines, size_t line_count,
                                 const struct money_context *context, int64_t *posting_id_out,
                                 struct lode_error *err)
{
    struct text t[9] = {{0}};
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc = LODE_OK;

    for (int i = 0; i < 9; i++)
        text_add(&t[i], "{");
    for (size_t i = 0; i < n; i++) {
        text_add_int(&t[0], keys[i].kind, i == 0);
        text_add_int(&t[1], keys[i].id, i == 0);
        text_add_word(&t[2], keys[i].currency, i == 0);
        text_add_int(&t[3], keys[i].balance, i == 0);
    }
    for (size_t i = 0; i < line_count; i++) {
        text_add_int(&t[4], (int64_t)lines[i].key + 1, i == 0);
        text_add_int(&t[5], (int64_t)lines[i].counterparty + 1, i == 0);
        text_add_int(&t[6], lines[i].delta, i == 0);
        text_add_int(&t[7], lines[i].after, i == 0);
        text_add_word(&t[8], lines[i].reason, i == 0);
    }
    for (int i = 0; i < 9; i++) {
        text_add(&t[i], "}");
        if (t[i].failed)
            rc = LODE_ENOMEM;
    }
    if (rc != LODE_OK) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the posting");
        goto out;
    }
    db_params_init(&p);
    db_params_text(&p, context->kind);
    db_params_int64(&p, context->id);
    for (int i = 0; i < 9; i++)
        db_params_text(&p, t[i].p);
    rc = db_query(conn,
                  "WITH k AS (SELECT * FROM unnest($3::smallint[], $4::bigint[], $5::text[],"
                  "     $6::bigint[]) WITH ORDINALITY AS k(kind, account_id, currency, balance, n)),"
                  " upd AS (UPDATE money_balances b SET balance = k.balance, updated_at = now()"
                  "     FROM k WHERE b.kind = k.kind AND b.account_id = k.account_id"
                  "     AND b.currency = k.currency),"
                  " p AS (INSERT INTO money_postings (context_kind, context_id)"
                  "     VALUES ($1, $2) RETURNING id)"
                  " INSERT INTO money_lines (posting_id, kind, account_id, currency, delta,"
                  "     balance_after, reason, counterparty_kind, counterparty_id)"
                  " SELECT p.id, a.kind, a.account_id, a.currency, l.delta, l.after, l.reason,"
                  "     c.kind, c.account_id"
                  " FROM p CROSS JOIN unnest($7::bigint[], $8::bigint[], $9::bigint[],"
                  "     $10::bigint[], $11::text[])"
                  "     WITH ORDINALITY AS l(acct, cp, delta, after, reason, n)"
                  " JOIN k a ON a.n = l.acct JOIN k c ON c.n = l.cp"
                  " ORDER BY l.n"
                  " RETURNING posting_id",
                  &p, &res, err);
    if (rc != LODE_OK)
        goto out;
    if ((size_t)PQntuples(res) != line_count) {
        rc = lode_error_set(err, LODE_EINTERNAL, "could not write the journal lines");
        lode_error_log_detail(err, "wrote %d lines, expected %zu", PQntuples(res), line_count);
        goto out;
    }
    if (posting_id_out != NULL)
        *posting_id_out = db_result_int64(res, 0, 0);
out:
    PQclear(res);
    for (int i = 0; i < 9; i++)
        free(t[i].p);
    return rc;
}

enum lode_code money_post(struct db_conn *conn, const struct money_transfer *transfers,
                          size_t count, const struct money_context *context,
                          int64_t *posting_id_out, struct lode_error *err)
{
    struct post_key *keys = NULL;
    struct post_line *lines = NULL;
    size_t n = 0, line_count = 2 * count;
    enum lode_code rc;

    if (posting_id_out != NULL)
        *posting_id_out = 0;
    if ((rc = post_validate(transfers, count, context, err)) != LODE_OK)
        return rc;
    keys = calloc(line_count, sizeof *keys);
    lines = calloc(line_count, sizeof *lines);
    if (keys == NULL || lines == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the posting");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const struct money_transfer *t = &transfers[i];
        keys[2 * i].kind = (int)t->from.kind;
        keys[2 * i].id = t->from.id;
        memcpy(keys[2 * i].currency, t->currency, 4);
        keys[2 * i + 1].kind = (int)t->to.kind;
        keys[2 * i + 1].id = t->to.id;
        memcpy(keys[2 * i + 1].currency, t->currency, 4);
    }
    qsort(keys, line_count, sizeof *keys, key_cmp);
    for (size_t i = 0; i < line_count; i++)
        if (n == 0 || key_cmp(&keys[n - 1], &keys[i]) != 0)
            keys[n++] = keys[i];
    for (size_t i = 0; i < count; i++) {
        const struct money_transfer *t = &transfers[i];
        size_t from = key_find(keys, n, (int)t->from.kind, t->from.id, t->currency);
        size_t to = key_find(keys, n, (int)t->to.kind, t->to.id, t->currency);
        if (__builtin_add_overflow(keys[from].debits, t->amount, &keys[from].debits) ||
            __builtin_add_overflow(keys[to].credits, t->amount, &keys[to].credits)) {
            rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                                "amounts overflow: the transfers of one account in the posting"
                                " sum past %" PRId64,
                                INT64_MAX);
            goto out;
        }
        lines[2 * i] = (struct post_line){from, to, -t->amount, 0, t->reason};
        lines[2 * i + 1] = (struct post_line){to, from, t->amount, 0, t->reason};
    }
    if ((rc = post_lock(conn, keys, n, err)) != LODE_OK ||
        (rc = post_check(keys, n, lines, line_count, err)) != LODE_OK)
        goto out;
    rc = post_write(conn, keys, n, lines, line_count, context, posting_id_out, err);
out:
    free(keys);
    free(lines);
    return rc;
}

enum lode_code money_balance(struct db_conn *conn, struct money_account account,
                             const char *currency, int64_t *balance_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    *balance_out = 0;
    if ((rc = account_check(account, "queried", 0, err)) != LODE_OK)
        return rc;
    if (!money_currency_is_valid(currency))
        return lode_error_set(err, LODE_EINVAL, "currency must be three upper-case letters");
    db_params_init(&p);
    db_params_int64(&p, (int64_t)account.kind);
    db_params_int64(&p, account.id);
    db_params_text(&p, currency);
    rc = db_query(conn,
                  "SELECT balance FROM money_balances"
                  " WHERE kind = $1::smallint AND account_id = $2 AND currency = $3",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) > 0)
        *balance_out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

/* ---- reading ---- */

enum lode_code money_holdings(struct db_conn *conn, int64_t account_id, struct arena *arena,
                              struct money_holding **holdings_out, size_t *count_out,
                              struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *holdings_out = NULL;
    *count_out = 0;
    db_params_init(&p);
    db_params_int64(&p, account_id);
    rc = db_query(conn,
                  "SELECT currency,"
                  " coalesce(sum(balance) FILTER (WHERE kind = 2), 0),"
                  " coalesce(sum(balance) FILTER (WHERE kind = 3), 0)"
                  " FROM money_balances WHERE kind IN (2, 3) AND account_id = $1"
                  " GROUP BY currency ORDER BY currency COLLATE \"C\"",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    *holdings_out = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof **holdings_out);
    if (*holdings_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the balances");
    }
    for (int i = 0; i < n; i++) {
        struct money_holding *h = &(*holdings_out)[i];
        db_result_text(res, i, 0, h->currency, sizeof h->currency);
        h->available = db_result_int64(res, i, 1);
        h->juror_stake = db_result_int64(res, i, 2);
    }
    *count_out = (size_t)n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code money_statement(struct db_conn *conn, int64_t account_id, int64_t after_line_id,
                               int limit, struct arena *arena, struct money_line **lines_out,
                               size_t *count_out, int64_t *next_cursor_out,
                               struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *lines_out = NULL;
    *count_out = 0;
    *next_cursor_out = 0;
    if (limit < 1 || limit > MONEY_STATEMENT_LIMIT_MAX)
        return lode_error_set(err, LODE_EINVAL, "limit must be 1 to %d, not %d",
                              MONEY_STATEMENT_LIMIT_MAX, limit);
    if (after_line_id < 0)
        return lode_error_set(err, LODE_EINVAL, "cursor must not be negative");
    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_int64(&p, after_line_id);
    db_params_int64(&p, limit);
    rc = db_query(conn,
                  "SELECT l.id, l.posting_id, l.kind, l.account_id, l.counterparty_kind,"
                  " l.counterparty_id, l.currency, l.delta, l.balance_after, l.reason,"
                  " p.context_kind, p.context_id, " MS("p.created_at")
                  " FROM money_lines l JOIN money_postings p ON p.id = l.posting_id"
                  " WHERE l.kind IN (2, 3) AND l.account_id = $1 AND l.id > $2"
                  " ORDER BY l.id LIMIT $3",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    *lines_out = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof **lines_out);
    if (*lines_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the statement");
    }
    for (int i = 0; i < n; i++) {
        struct money_line *l = &(*lines_out)[i];
        l->id = db_result_int64(res, i, 0);
        l->posting_id = db_result_int64(res, i, 1);
        l->account.kind = (enum money_account_kind)db_result_int64(res, i, 2);
        l->account.id = db_result_int64(res, i, 3);
        l->counterparty.kind = (enum money_account_kind)db_result_int64(res, i, 4);
        l->counterparty.id = db_result_int64(res, i, 5);
        db_result_text(res, i, 6, l->currency, sizeof l->currency);
        l->delta = db_result_int64(res, i, 7);
        l->balance_after = db_result_int64(res, i, 8);
        l->reason = arena_strdup(arena, PQgetvalue(res, i, 9));
        l->context_kind = arena_strdup(arena, PQgetvalue(res, i, 10));
        l->context_id = db_result_int64(res, i, 11);
        l->created_at_ms = db_result_int64(res, i, 12);
        if (l->reason == NULL || l->context_kind == NULL) {
            PQclear(res);
            return lode_error_set(err, LODE_ENOMEM, "could not hold the statement");
        }
    }
    *count_out = (size_t)n;
    if (n == limit)
        *next_cursor_out = (*lines_out)[n - 1].id;
    PQclear(res);
    return LODE_OK;
}

enum lode_code money_totals(struct db_conn *conn, struct arena *arena,
                            struct money_total **totals_out, size_t *count_out,
                            struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *totals_out = NULL;
    *count_out = 0;
    /* numeric sums, so an overflow is reported rather than raised */
    rc = db_query(conn,
                  "WITH c AS (SELECT currency FROM money_balances UNION"
                  "   SELECT currency FROM money_deposits UNION"
                  "   SELECT currency FROM money_withdrawals)"
                  " SELECT c.currency,"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 1), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 2), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 3), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 4), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 5), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric) FILTER (WHERE kind = 6), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(balance::numeric), 0)"
                  "     FROM money_balances b WHERE b.currency = c.currency),"
                  "  (SELECT coalesce(sum(delta::numeric), 0)"
                  "     FROM money_lines l WHERE l.currency = c.currency),"
                  "  (SELECT coalesce(sum(amount::numeric), 0)"
                  "     FROM money_deposits d WHERE d.currency = c.currency),"
                  "  (SELECT coalesce(sum(amount::numeric), 0) FROM money_withdrawals w"
                  "     WHERE w.currency = c.currency AND w.state <> 'failed'),"
                  "  NOT EXISTS (SELECT 1 FROM money_balances b WHERE b.currency = c.currency"
                  "     AND b.balance::numeric <> (SELECT coalesce(sum(l.delta::numeric), 0)"
                  "       FROM money_lines l WHERE l.kind = b.kind"
                  "       AND l.account_id = b.account_id AND l.currency = b.currency))"
                  " FROM c ORDER BY c.currency COLLATE \"C\"",
                  NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    *totals_out = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof **totals_out);
    if (*totals_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the totals");
    }
    for (int i = 0; i < n; i++) {
        struct money_total *t = &(*totals_out)[i];
        int64_t v[10];
        db_result_text(res, i, 0, t->currency, sizeof t->currency);
        for (int c = 0; c < 10; c++) {
            const char *s = PQgetvalue(res, i, c + 1);
            char *end = NULL;
            long long x;
            errno = 0;
            x = strtoll(s, &end, 10);
            if (end == s || *end != '\0' || errno == ERANGE) {
                PQclear(res);
                return lode_error_set(err, LODE_EUNPROCESSABLE,
                                      "could not sum the %s journal: a total overflows bigint",
                                      t->currency);
            }
            v[c] = (int64_t)x;
        }
        for (int k = 1; k <= 6; k++)
            t->by_kind[k] = v[k - 1];
        t->all = v[6];
        t->lines = v[7];
        t->deposits = v[8];
        t->withdrawals = v[9];
        t->lines_match = db_result_bool(res, i, 11);
    }
    *count_out = (size_t)n;
    PQclear(res);
    return LODE_OK;
}

/* ---- deposits and withdrawals ---- */

const char *money_withdrawal_state_name(enum money_withdrawal_state state)
{
    switch (state) {
    case MONEY_WITHDRAWAL_REQUESTED:
        return "requested";
    case MONEY_WITHDRAWAL_PAID:
        return "paid";
    case MONEY_WITHDRAWAL_FAILED:
        return "failed";
    }
    return NULL;
}

enum money_withdrawal_state money_withdrawal_state_parse(const char *name)
{
    if (name == NULL)
        return (enum money_withdrawal_state)0;
    if (strcmp(name, "requested") == 0)
        return MONEY_WITHDRAWAL_REQUESTED;
    if (strcmp(name, "paid") == 0)
        return MONEY_WITHDRAWAL_PAID;
    if (strcmp(name, "failed") == 0)
        return MONEY_WITHDRAWAL_FAILED;
    return (enum money_withdrawal_state)0;
}

/* Printable ASCII without spaces, 1..MONEY_REFERENCE_BYTES_MAX bytes. */
static bool reference_is_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if (n >= MONEY_REFERENCE_BYTES_MAX || s[n] < 0x21 || s[n] > 0x7e)
            return false;
    return n > 0;
}

static enum lode_code movement_check(const char *adapter, int64_t account_id, int64_t amount,
                                     const char *currency, struct lode_error *err)
{
    if (!name_is_valid(adapter, MONEY_ADAPTER_BYTES_MAX))
        return lode_error_set(err, LODE_EINVAL, "adapter name must match [a-z_]{1,31}");
    if (account_id <= 0)
        return lode_error_set(err, LODE_EINVAL, "account id must be positive");
    if (amount <= 0) {
        lode_error_set(err, LODE_EINVAL, "amount must be positive, not %" PRId64, amount);
        lode_error_pointer(err, "/amount");
        return err->code;
    }
    if (!money_currency_is_valid(currency)) {
        lode_error_set(err, LODE_EINVAL, "currency must be three upper-case letters");
        lode_error_pointer(err, "/currency");
        return err->code;
    }
    return LODE_OK;
}

/* A positive id, or SQL NULL for 0. */
static void optional_id(struct db_params *p, int64_t id)
{
    if (id > 0)
        db_params_int64(p, id);
    else
        db_params_text(p, NULL);
}

static enum lode_code account_exists(struct db_conn *conn, int64_t account_id,
                                     struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    bool found;

    db_params_init(&p);
    db_params_int64(&p, account_id);
    rc = db_query(conn, "SELECT 1 FROM accounts WHERE id = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return lode_error_set(err, LODE_ENOTFOUND, "account %" PRId64 " does not exist",
                              account_id);
    return LODE_OK;
}

enum lode_code money_deposit_credit(struct db_conn *conn, const struct money_deposit *in,
                                    int64_t credited_by, int64_t ledger_queue_id,
                                    struct money_deposit *out, struct lode_error *err)
{
    struct money_transfer t;
    struct money_context ctx = {"deposit", 0};
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    struct money_deposit d;

    if ((rc = movement_check(in->adapter, in->account_id, in->amount, in->currency, err)) !=
        LODE_OK)
        return rc;
    if (!reference_is_valid(in->reference)) {
        lode_error_set(err, LODE_EINVAL,
                       "reference must be 1 to %d printable ASCII characters without spaces",
                       MONEY_REFERENCE_BYTES_MAX);
        lode_error_pointer(err, "/reference");
        return err->code;
    }
    if ((rc = account_exists(conn, in->account_id, err)) != LODE_OK)
        return rc;
    db_params_init(&p);
    db_params_text(&p, in->adapter);
    db_params_text(&p, in->reference);
    rc = db_query(conn, "SELECT id FROM money_deposits WHERE adapter = $1 AND reference = $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) > 0) {
        int64_t id = db_result_int64(res, 0, 0);
        PQclear(res);
        lode_error_set(err, LODE_ECONFLICT,
                       "reference %s of adapter %s was already credited (deposit %" PRId64 ")",
                       in->reference, in->adapter, id);
        lode_error_pointer(err, "/reference");
        return err->code;
    }
    PQclear(res);

    d = *in;
    /* the posting's context is the deposit's id: take it first */
    rc = db_query(conn, "SELECT nextval(pg_get_serial_sequence('money_deposits', 'id'))", NULL,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    d.id = db_result_int64(res, 0, 0);
    PQclear(res);
    ctx.id = d.id;
    memset(&t, 0, sizeof t);
    t.from = (struct money_account){MONEY_ACCOUNT_EXTERNAL, 0};
    t.to = (struct money_account){MONEY_ACCOUNT_USER, in->account_id};
    memcpy(t.currency, in->currency, 4);
    t.amount = in->amount;
    t.reason = "deposit";
    if ((rc = money_post(conn, &t, 1, &ctx, &d.posting_id, err)) != LODE_OK)
        return rc;
    db_params_init(&p);
    db_params_int64(&p, d.id);
    db_params_text(&p, in->adapter);
    db_params_text(&p, in->reference);
    db_params_int64(&p, in->account_id);
    db_params_int64(&p, in->amount);
    db_params_text(&p, in->currency);
    db_params_int64(&p, d.posting_id);
    optional_id(&p, credited_by);
    optional_id(&p, ledger_queue_id);
    rc = db_query(conn,
                  "INSERT INTO money_deposits (id, adapter, reference, account_id, amount,"
                  " currency, posting_id, credited_by, ledger_queue_id)"
                  " OVERRIDING SYSTEM VALUE"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint)"
                  " RETURNING " MS("created_at"),
                  &p, &res, err);
    if (rc == LODE_ECONFLICT && strcmp(err->constraint, "money_deposits_reference_unique") == 0) {
        /* a concurrent credit of the same reference committed first */
        lode_error_set(err, LODE_ECONFLICT, "reference %s of adapter %s was already credited",
                       in->reference, in->adapter);
        lode_error_pointer(err, "/reference");
        return err->code;
    }
    if (rc != LODE_OK)
        return rc;
    d.created_at_ms = db_result_int64(res, 0, 0);
    PQclear(res);
    *out = d;
    return LODE_OK;
}

#define WITHDRAWAL_COLUMNS                                                                        \
    "id, adapter, coalesce(reference, ''), account_id, amount, currency, state, posting_id,"     \
    " coalesce(refund_posting_id, 0), " MS("created_at") ", coalesce(" MS("settled_at") ", 0)"

static void withdrawal_read(const PGresult *res, int row, struct money_withdrawal *w)
{
    char state[16];

    memset(w, 0, sizeof *w);
    w->id = db_result_int64(res, row, 0);
    db_result_text(res, row, 1, w->adapter, sizeof w->adapter);
    db_result_text(res, row, 2, w->reference, sizeof w->reference);
    w->account_id = db_result_int64(res, row, 3);
    w->amount = db_result_int64(res, row, 4);
    db_result_text(res, row, 5, w->currency, sizeof w->currency);
    db_result_text(res, row, 6, state, sizeof state);
    w->state = money_withdrawal_state_parse(state);
    w->posting_id = db_result_int64(res, row, 7);
    w->refund_posting_id = db_result_int64(res, row, 8);
    w->created_at_ms = db_result_int64(res, row, 9);
    w->settled_at_ms = db_result_int64(res, row, 10);
}

enum lode_code money_withdrawal_request(struct db_conn *conn, const struct money_withdrawal *in,
                                        int64_t requested_by, int64_t ledger_queue_id,
                                        struct money_withdrawal *out, struct lode_error *err)
{
    struct money_transfer t;
    struct money_context ctx = {"withdrawal", 0};
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int64_t id, posting_id = 0;

    if ((rc = movement_check(in->adapter, in->account_id, in->amount, in->currency, err)) !=
        LODE_OK)
        return rc;
    if ((rc = account_exists(conn, in->account_id, err)) != LODE_OK)
        return rc;
    rc = db_query(conn, "SELECT nextval(pg_get_serial_sequence('money_withdrawals', 'id'))",
                  NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    id = db_result_int64(res, 0, 0);
    PQclear(res);
    ctx.id = id;
    memset(&t, 0, sizeof t);
    t.from = (struct money_account){MONEY_ACCOUNT_USER, in->account_id};
    t.to = (struct money_account){MONEY_ACCOUNT_EXTERNAL, 0};
    memcpy(t.currency, in->currency, 4);
    t.amount = in->amount;
    t.reason = "withdrawal";
    if ((rc = money_post(conn, &t, 1, &ctx, &posting_id, err)) != LODE_OK)
        return rc;
    db_params_init(&p);
    db_params_int64(&p, id);
    db_params_text(&p, in->adapter);
    db_params_int64(&p, in->account_id);
    db_params_int64(&p, in->amount);
    db_params_text(&p, in->currency);
    db_params_int64(&p, posting_id);
    optional_id(&p, requested_by);
    optional_id(&p, ledger_queue_id);
    rc = db_query(conn,
                  "INSERT INTO money_withdrawals (id, adapter, account_id, amount, currency,"
                  " posting_id, requested_by, ledger_queue_id) OVERRIDING SYSTEM VALUE"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7::bigint, $8::bigint)"
                  " RETURNING " WITHDRAWAL_COLUMNS,
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    withdrawal_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

static enum lode_code withdrawal_select(struct db_conn *conn, int64_t id, bool lock,
                                        struct money_withdrawal *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn,
                  lock ? "SELECT " WITHDRAWAL_COLUMNS " FROM money_withdrawals WHERE id = $1"
                         " FOR UPDATE"
                       : "SELECT " WITHDRAWAL_COLUMNS " FROM money_withdrawals WHERE id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "withdrawal %" PRId64 " does not exist", id);
    }
    withdrawal_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code money_withdrawals_list(struct db_conn *conn, enum money_withdrawal_state state,
                                      int64_t account_id, int64_t after_id, int limit,
                                      struct arena *arena, struct money_withdrawal **out,
                                      size_t *count_out, int64_t *next_cursor_out,
                                      struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *out = NULL;
    *count_out = 0;
    *next_cursor_out = 0;
    if (limit < 1 || limit > MONEY_STATEMENT_LIMIT_MAX)
        return lode_error_set(err, LODE_EINVAL, "limit must be 1 to %d, not %d",
                              MONEY_STATEMENT_LIMIT_MAX, limit);
    if (after_id < 0 || account_id < 0)
        return lode_error_set(err, LODE_EINVAL, "cursor and account must not be negative");
    if (state != 0 && money_withdrawal_state_name(state) == NULL)
        return lode_error_set(err, LODE_EINVAL, "unknown withdrawal state %d", (int)state);
    db_params_init(&p);
    db_params_text(&p, state != 0 ? money_withdrawal_state_name(state) : NULL);
    db_params_int64(&p, account_id);
    db_params_int64(&p, after_id);
    db_params_int64(&p, limit);
    rc = db_query(conn,
                  "SELECT " WITHDRAWAL_COLUMNS " FROM money_withdrawals"
                  " WHERE ($1::text IS NULL OR state = $1)"
                  " AND ($2::bigint = 0 OR account_id = $2::bigint)"
                  " AND id > $3 ORDER BY id LIMIT $4",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    *out = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof **out);
    if (*out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the withdrawals");
    }
    for (int i = 0; i < n; i++)
        withdrawal_read(res, i, &(*out)[i]);
    *count_out = (size_t)n;
    if (n == limit)
        *next_cursor_out = (*out)[n - 1].id;
    PQclear(res);
    return LODE_OK;
}

enum lode_code money_withdrawal_get(struct db_conn *conn, int64_t withdrawal_id,
                                    struct money_withdrawal *out, struct lode_error *err)
{
    return withdrawal_select(conn, withdrawal_id, false, out, err);
}

enum lode_code money_withdrawal_settle(struct db_conn *conn, int64_t withdrawal_id,
                                       enum money_withdrawal_state state, const char *reference,
                                       int64_t settled_by, struct money_withdrawal *out,
                                       struct lode_error *err)
{
    struct money_withdrawal w;
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int64_t refund = 0;

    memset(&w, 0, sizeof w);
    if (state != MONEY_WITHDRAWAL_PAID && state != MONEY_WITHDRAWAL_FAILED) {
        lode_error_set(err, LODE_EINVAL, "a withdrawal settles as \"paid\" or \"failed\"");
        lode_error_pointer(err, "/state");
        return err->code;
    }
    if (reference != NULL && !reference_is_valid(reference)) {
        lode_error_set(err, LODE_EINVAL,
                       "reference must be 1 to %d printable ASCII characters without spaces",
                       MONEY_REFERENCE_BYTES_MAX);
        lode_error_pointer(err, "/reference");
        return err->code;
    }
    if ((rc = withdrawal_select(conn, withdrawal_id, true, &w, err)) != LODE_OK)
        return rc;
    if (w.state != MONEY_WITHDRAWAL_REQUESTED)
        return lode_error_set(err, LODE_ECONFLICT, "withdrawal %" PRId64 " is already %s",
                              withdrawal_id, money_withdrawal_state_name(w.state));
    if (state == MONEY_WITHDRAWAL_FAILED) {
        struct money_transfer t;
        struct money_context ctx = {"withdrawal", withdrawal_id};
        memset(&t, 0, sizeof t);
        t.from = (struct money_account){MONEY_ACCOUNT_EXTERNAL, 0};
        t.to = (struct money_account){MONEY_ACCOUNT_USER, w.account_id};
        memcpy(t.currency, w.currency, 4);
        t.amount = w.amount;
        t.reason = "withdrawal_refund";
        if ((rc = money_post(conn, &t, 1, &ctx, &refund, err)) != LODE_OK)
            return rc;
    }
    db_params_init(&p);
    db_params_int64(&p, withdrawal_id);
    db_params_text(&p, money_withdrawal_state_name(state));
    db_params_text(&p, reference);
    optional_id(&p, refund);
    optional_id(&p, settled_by);
    rc = db_query(conn,
                  "UPDATE money_withdrawals SET state = $2, reference = $3,"
                  " refund_posting_id = $4::bigint, settled_by = $5::bigint, settled_at = now()"
                  " WHERE id = $1 RETURNING " WITHDRAWAL_COLUMNS,
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    withdrawal_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

static enum lode_code link_ledger(struct db_conn *conn, const char *sql, const char *what,
                                  int64_t id, int64_t ledger_queue_id, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    db_params_init(&p);
    db_params_int64(&p, id);
    db_params_int64(&p, ledger_queue_id);
    rc = db_query(conn, sql, &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return lode_error_set(err, LODE_ENOTFOUND, "%s %" PRId64 " does not exist", what, id);
    return LODE_OK;
}

enum lode_code money_deposit_link_ledger(struct db_conn *conn, int64_t deposit_id,
                                         int64_t ledger_queue_id, struct lode_error *err)
{
    return link_ledger(conn,
                       "UPDATE money_deposits SET ledger_queue_id = $2 WHERE id = $1 RETURNING id",
                       "deposit", deposit_id, ledger_queue_id, err);
}

enum lode_code money_withdrawal_link_ledger(struct db_conn *conn, int64_t withdrawal_id,
                                            int64_t ledger_queue_id, struct lode_error *err)
{
    return link_ledger(conn,
                       "UPDATE money_withdrawals SET ledger_queue_id = $2 WHERE id = $1"
                       " RETURNING id",
                       "withdrawal", withdrawal_id, ledger_queue_id, err);
}
