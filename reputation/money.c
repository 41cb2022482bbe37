/*
 * reputation/money.c — checked amounts, names, effects lists and the in-memory double-entry
 * journal (an open-addressing table of balances keyed by account kind, id and currency).
 */
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

enum lode_code reputation_amount_add(int64_t a, int64_t b, int64_t *sum_out, struct lode_error *err)
{
    int64_t sum;

    if (a < 0 || b < 0)
        return lode_error_set(err, LODE_EINVAL, "amount must not be negative");
    if (__builtin_add_overflow(a, b, &sum))
        return lode_error_set(err, LODE_EUNPROCESSABLE, "amount overflows: %lld + %lld",
                              (long long)a, (long long)b);
    *sum_out = sum;
    return LODE_OK;
}

enum lode_code reputation_amount_sub(int64_t a, int64_t b, int64_t *difference_out,
                                     struct lode_error *err)
{
    if (a < 0 || b < 0)
        return lode_error_set(err, LODE_EINVAL, "amount must not be negative");
    if (b > a)
        return lode_error_set(err, LODE_EUNPROCESSABLE, "amount would go below zero: %lld - %lld",
                              (long long)a, (long long)b);
    *difference_out = a - b;
    return LODE_OK;
}

int64_t reputation_amount_share(int64_t amount, int64_t bps)
{
    /* floor(a*b/D) = (a/D)*b + floor((a%D)*b/D) for a >= 0, 0 <= b <= D: no overflow */
    if (amount <= 0 || bps <= 0)
        return 0;
    if (bps >= REPUTATION_BPS)
        return amount;
    return (amount / REPUTATION_BPS) * bps + ((amount % REPUTATION_BPS) * bps) / REPUTATION_BPS;
}

const char *reputation_reason_name(enum reputation_reason reason)
{
    switch (reason) {
    case REPUTATION_REASON_DEPOSIT:
        return "deposit";
    case REPUTATION_REASON_WITHDRAWAL:
        return "withdrawal";
    case REPUTATION_REASON_JUROR_STAKE:
        return "juror_stake";
    case REPUTATION_REASON_JUROR_UNSTAKE:
        return "juror_unstake";
    case REPUTATION_REASON_BOND_STAKE:
        return "bond_stake";
    case REPUTATION_REASON_CHALLENGE_STAKE:
        return "challenge_stake";
    case REPUTATION_REASON_JUROR_DEPOSIT:
        return "juror_deposit";
    case REPUTATION_REASON_APPEAL_FEE:
        return "appeal_fee";
    case REPUTATION_REASON_REFUND:
        return "refund";
    case REPUTATION_REASON_WINNER_GAIN:
        return "winner_gain";
    case REPUTATION_REASON_JUROR_REFUND:
        return "juror_refund";
    case REPUTATION_REASON_JUROR_REWARD:
        return "juror_reward";
    case REPUTATION_REASON_BURN:
        return "burn";
    }
    return "unknown";
}

const char *reputation_account_kind_name(enum reputation_account_kind kind)
{
    switch (kind) {
    case REPUTATION_ACCOUNT_EXTERNAL:
        return "external";
    case REPUTATION_ACCOUNT_USER:
        return "user";
    case REPUTATION_ACCOUNT_JUROR_STAKE:
        return "juror_stake";
    case REPUTATION_ACCOUNT_ESCROW:
        return "escrow";
    case REPUTATION_ACCOUNT_BURN:
        return "burn";
    }
    return "unknown";
}

void reputation_effects_clear(struct reputation_effects *fx)
{
    fx->transfer_count = 0;
    fx->event_count = 0;
    fx->observed_count = 0;
}

/* ---- journal ---------------------------------------------------------------------------- */

struct slot {
    bool used;
    enum reputation_account_kind kind;
    uint32_t currency;
    int64_t id;
    int64_t balance;
};

struct reputation_journal {
    struct slot *slots;
    size_t capacity; /* power of two */
    size_t used;
};

struct delta {
    enum reputation_account_kind kind;
    uint32_t currency;
    int64_t id;
    int64_t change; /* net change, checked */
    int64_t debits; /* total debited, for the message */
};

static uint64_t slot_hash(enum reputation_account_kind kind, int64_t id, uint32_t currency)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)kind << 56) ^ ((uint64_t)currency << 24);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static struct slot *slot_find(const struct reputation_journal *j, enum reputation_account_kind kind,
                              int64_t id, uint32_t currency)
{
    size_t mask = j->capacity - 1;
    size_t i = (size_t)slot_hash(kind, id, currency) & mask;

    for (;;) {
        struct slot *s = &j->slots[i];
        if (!s->used || (s->kind == kind && s->id == id && s->currency == currency))
            return s;
        i = (i + 1) & mask;
    }
}

static bool journal_reserve(struct reputation_journal *j, size_t more)
{
    size_t need = j->used + more, cap = j->capacity;
    struct slot *old = j->slots, *fresh;

    if (need * 2 <= cap)
        return true;
    while (need * 2 > cap)
        cap *= 2;
    fresh = calloc(cap, sizeof *fresh);
    if (fresh == NULL)
        return false;
    j->slots = fresh;
    size_t old_cap = j->capacity;
    j->capacity = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            *slot_find(j, old[i].kind, old[i].id, old[i].currency) = old[i];
    free(old);
    return true;
}

struct reputation_journal *reputation_journal_create(void)
{
    struct reputation_journal *j = calloc(1, sizeof *j);

    if (j == NULL)
        return NULL;
    j->capacity = 64;
    j->slots = calloc(j->capacity, sizeof *j->slots);
    if (j->slots == NULL) {
        free(j);
        return NULL;
    }
    return j;
}

void reputation_journal_destroy(struct reputation_journal *journal)
{
    if (journal == NULL)
        return;
    free(journal->slots);
    free(journal);
}

int64_t reputation_journal_balance(const struct reputation_journal *journal,
                                   struct reputation_account account, uint32_t currency)
{
    const struct slot *s = slot_find(journal, account.kind, account.id, currency);
    return s->used ? s->balance : 0;
}

enum lode_code reputation_journal_total(const struct reputation_journal *journal,
                                        enum reputation_account_kind kind, uint32_t currency,
                                        int64_t *total_out, struct lode_error *err)
{
    int64_t total = 0;

    for (size_t i = 0; i < journal->capacity; i++) {
        const struct slot *s = &journal->slots[i];
        if (!s->used || s->kind != kind || s->currency != currency)
            continue;
        if (__builtin_add_overflow(total, s->balance, &total))
            return lode_error_set(err, LODE_EUNPROCESSABLE, "total of %s accounts overflows",
                                  reputation_account_kind_name(kind));
    }
    *total_out = total;
    return LODE_OK;
}

static bool account_is_valid(struct reputation_account a)
{
    switch (a.kind) {
    case REPUTATION_ACCOUNT_EXTERNAL:
    case REPUTATION_ACCOUNT_BURN:
        return a.id == 0;
    case REPUTATION_ACCOUNT_USER:
    case REPUTATION_ACCOUNT_JUROR_STAKE:
    case REPUTATION_ACCOUNT_ESCROW:
        return a.id > 0;
    }
    return false;
}

static int delta_compare(const void *pa, const void *pb)
{
    const struct delta *a = pa, *b = pb;

    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->currency != b->currency)
        return a->currency < b->currency ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return 0;
}

static enum lode_code check_transfer(const struct reputation_transfer *t, size_t i,
                                     struct lode_error *err)
{
    if (t->amount <= 0)
        return lode_error_set(err, LODE_EINVAL, "transfer %zu: amount must be positive", i);
    if (!account_is_valid(t->from) || !account_is_valid(t->to))
        return lode_error_set(err, LODE_EINVAL, "transfer %zu: invalid account", i);
    if (t->from.kind == t->to.kind && t->from.id == t->to.id)
        return lode_error_set(err, LODE_EINVAL, "transfer %zu: accounts must differ", i);
    if (t->from.kind == REPUTATION_ACCOUNT_BURN)
        return lode_error_set(err, LODE_EINVAL, "transfer %zu: the burn account is never debited",
                              i);
    return LODE_OK;
}

enum lode_code reputation_journal_post(struct reputation_journal *journal,
                                       const struct reputation_transfer *transfers, size_t count,
                                       struct lode_error *err)
{
    struct delta stack_deltas[64], *d = stack_deltas;
    size_t n = 0, merged = 0;
    enum lode_code rc = LODE_OK;

    if (count == 0)
        return LODE_OK;
    if (count > SIZE_MAX / (2 * sizeof *d))
        return lode_error_set(err, LODE_EINVAL, "too many transfers");
    for (size_t i = 0; i < count; i++)
        if ((rc = check_transfer(&transfers[i], i, err)) != LODE_OK)
            return rc;
    if (2 * count > sizeof stack_deltas / sizeof stack_deltas[0]) {
        d = malloc(2 * count * sizeof *d);
        if (d == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not allocate the posting");
    }
    for (size_t i = 0; i < count; i++) {
        const struct reputation_transfer *t = &transfers[i];
        d[n++] = (struct delta){t->from.kind, t->currency, t->from.id, -t->amount, t->amount};
        d[n++] = (struct delta){t->to.kind, t->currency, t->to.id, t->amount, 0};
    }
    qsort(d, n, sizeof *d, delta_compare);
    for (size_t i = 0; i < n; i++) {
        if (merged > 0 && delta_compare(&d[merged - 1], &d[i]) == 0) {
            struct delta *m = &d[merged - 1];
            if (__builtin_add_overflow(m->change, d[i].change, &m->change) ||
                __builtin_add_overflow(m->debits, d[i].debits, &m->debits)) {
                rc = lode_error_set(err, LODE_EUNPROCESSABLE, "amounts overflow");
                goto free_deltas;
            }
        } else {
            d[merged++] = d[i];
        }
    }
    if (!journal_reserve(journal, merged)) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not grow the journal");
        goto free_deltas;
    }
    for (size_t i = 0; i < merged; i++) {
        const struct slot *s = slot_find(journal, d[i].kind, d[i].id, d[i].currency);
        int64_t before = s->used ? s->balance : 0, after;
        if (__builtin_add_overflow(before, d[i].change, &after)) {
            rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                                "could not post: %s account %lld would overflow",
                                reputation_account_kind_name(d[i].kind), (long long)d[i].id);
            goto free_deltas;
        }
        if (after < 0 && d[i].kind != REPUTATION_ACCOUNT_EXTERNAL) {
            rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                                "insufficient balance: %s account %lld holds %lld, needs %lld",
                                reputation_account_kind_name(d[i].kind), (long long)d[i].id,
                                (long long)before, (long long)(before - after));
            lode_error_pointer(err, "amount");
            goto free_deltas;
        }
    }
    for (size_t i = 0; i < merged; i++) {
        struct slot *s = slot_find(journal, d[i].kind, d[i].id, d[i].currency);
        if (!s->used) {
            *s = (struct slot){true, d[i].kind, d[i].currency, d[i].id, 0};
            journal->used++;
        }
        s->balance += d[i].change;
    }
free_deltas:
    if (d != stack_deltas)
        free(d);
    return rc;
}
