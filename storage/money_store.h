/*
 * storage/money_store.h — the money journal in PostgreSQL: double-entry postings over typed
 * accounts, balances that never go below zero, statements, and conservation totals.
 *
 * What. A posting is a list of transfers applied all or nothing inside the caller's
 * transaction (so a bond, a label or a deposit commits together with its money). Each transfer
 * moves `amount` > 0 minor units of one currency from one account to another and is stored as
 * two journal lines (a debit and a credit) of the same posting; the lines of every posting sum
 * to zero per currency. The balance rows are the running sums of the lines. Within a posting
 * only each account's net change counts (A pays B and B pays C in one posting works even when B
 * held nothing); the credits, and the debits, of one account in one posting must each sum to at
 * most INT64_MAX.
 *
 * Accounts. An account is (kind, id). Kinds 1-5 have the numbers and meanings of
 * `enum reputation_account_kind` (reputation/reputation.h): EXTERNAL (the outside world behind
 * the deposit adapter, id 0; the only kind allowed below zero), USER (an account's spendable
 * money; id = account id), JUROR_STAKE (money an account put up to serve on juries; id =
 * account id), ESCROW (the stakes, fees and deposits held for one bond; id = bond id), BURN
 * (money destroyed by rule; id 0; only ever credited). TASK is the budget of one labeling task
 * (id = task id), from which labels are paid.
 *
 * Currencies. Three upper-case ASCII letters ("EUR"). The pure engine carries a currency as a
 * uint32; money_currency_pack/unpack is the one mapping between the two.
 *
 * Invariants. After every committed posting: no balance of a kind other than EXTERNAL is below
 * zero; BURN was never debited; per currency the sum of all balances is zero (so user + juror
 * stake + escrow + task + burn = minus external = deposits - withdrawals). A refused posting
 * changes nothing (the caller's transaction stays usable only if the caller rolls back: the
 * caller must return the error from its db_tx function).
 *
 * Concurrency. money_post locks the balance rows it touches in one fixed order (kind, id,
 * currency), so concurrent postings never deadlock on each other and never lose an update.
 *
 * Ownership. Output arrays and strings come from the caller's arena. Threads: the caller's
 * connection and thread.
 */
#ifndef LODE_STORAGE_MONEY_STORE_H
#define LODE_STORAGE_MONEY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "reputation/reputation.h"
#include "storage/db.h"

enum money_account_kind {
    MONEY_ACCOUNT_EXTERNAL = 1,
    MONEY_ACCOUNT_USER = 2,
    MONEY_ACCOUNT_JUROR_STAKE = 3,
    MONEY_ACCOUNT_ESCROW = 4,
    MONEY_ACCOUNT_BURN = 5,
    MONEY_ACCOUNT_TASK = 6,
};

#define MONEY_REASON_BYTES_MAX 32     /* reason names: [a-z_], e.g. "bond_stake", "label_pay" */
#define MONEY_POSTING_TRANSFERS_MAX 1024

struct money_account {
    enum money_account_kind kind;
    int64_t id;
};

struct money_transfer {
    struct money_account from;
    struct money_account to;
    char currency[4]; /* "EUR" */
    int64_t amount;   /* > 0 */
    const char *reason; /* reputation_reason_name() or a name of the caller's, [a-z_]{1,31} */
};

/* What a posting belongs to, for statements and audits: ("deposit", deposit id), ("bond",
 * bond id), ("label", label id), ("task", task id) ... kind is [a-z_]{1,31}. */
struct money_context {
    const char *kind;
    int64_t id;
};

/* "user", "juror_stake", ...; NULL for an unknown kind. */
const char *money_account_kind_name(enum money_account_kind kind);

/* True for three upper-case ASCII letters. */
bool money_currency_is_valid(const char *currency);
/* "EUR" -> ('E' << 16) | ('U' << 8) | 'R'; 0 for an invalid code. */
uint32_t money_currency_pack(const char *currency);
/* The inverse; false (and "" in out) for a number that is no packed code. */
bool money_currency_unpack(uint32_t packed, char currency_out[4]);

/* An engine transfer as a journal transfer (kinds map 1:1; reason = reputation_reason_name).
 * Returns LODE_OK, LODE_EINVAL (unknown kind or currency). */
enum lode_code money_transfer_from_engine(const struct reputation_transfer *in,
                                          struct money_transfer *out, struct lode_error *err);

/* The constraint name money_post's "insufficient balance" refusal carries (that of the CHECK the
 * balances table would enforce), and the predicate callers test it with instead of the text. */
#define MONEY_INSUFFICIENT_CONSTRAINT "money_balances_nonnegative"
bool money_error_is_insufficient(const struct lode_error *err);

/* Posts the transfers all or nothing in the caller's transaction (see above); *posting_id_out
 * (may be NULL) receives the posting's id. Returns LODE_OK; LODE_EINVAL (no transfers, more
 * than MONEY_POSTING_TRANSFERS_MAX, amount <= 0, a transfer to itself, bad kind, id,
 * currency or reason, BURN debited); LODE_EUNPROCESSABLE ("insufficient balance: user account
 * 2 holds 50000 EUR, needs 50001", or a balance would overflow); or the mapped database error.
 * On any error the caller must roll back. */
enum lode_code money_post(struct db_conn *conn, const struct money_transfer *transfers,
                          size_t count, const struct money_context *context,
                          int64_t *posting_id_out, struct lode_error *err);

/* The balance of one account in one currency (0 if never touched). Returns LODE_OK, LODE_EINVAL,
 * or the mapped database error. */
enum lode_code money_balance(struct db_conn *conn, struct money_account account,
                             const char *currency, int64_t *balance_out, struct lode_error *err);

/* ---- reading: balances, statements, totals ---- */

/* What one account holds in one currency: spendable (USER) and staked to serve on juries. */
struct money_holding {
    char currency[4];
    int64_t available;   /* USER balance */
    int64_t juror_stake; /* JUROR_STAKE balance */
};

/* Every currency in which the account's USER or JUROR_STAKE account was ever touched, by
 * currency. Returns LODE_OK, LODE_ENOMEM (arena), or the mapped database error. */
enum lode_code money_holdings(struct db_conn *conn, int64_t account_id, struct arena *arena,
                              struct money_holding **holdings_out, size_t *count_out,
                              struct lode_error *err);

#define MONEY_STATEMENT_LIMIT_MAX 500

/* One journal line of a statement. */
struct money_line {
    int64_t id;
    int64_t posting_id;
    struct money_account account; /* USER or JUROR_STAKE of the account */
    struct money_account counterparty;
    char currency[4];
    int64_t delta;         /* < 0 debit, > 0 credit */
    int64_t balance_after; /* the account's balance after the line's posting */
    const char *reason;
    const char *context_kind;
    int64_t context_id;
    int64_t created_at_ms;
};

/* The lines touching the account's USER and JUROR_STAKE accounts with id > after_line_id, in
 * line order, at most `limit` (1..MONEY_STATEMENT_LIMIT_MAX). *next_cursor_out is the id of
 * the last line when more may follow, 0 at the end. Returns LODE_OK, LODE_EINVAL (limit or
 * cursor), LODE_ENOMEM, or the mapped database error. */
enum lode_code money_statement(struct db_conn *conn, int64_t account_id, int64_t after_line_id,
                               int limit, struct arena *arena, struct money_line **lines_out,
                               size_t *count_out, int64_t *next_cursor_out,
                               struct lode_error *err);

/* Per-currency sums over every balance row, by kind, and over every journal line; for audits
 * and tests. Conservation holds when `all` and `lines` are zero and `external` equals
 * withdrawals_paid_or_pending - deposits (as a negative number: minus the money inside). */
struct money_total {
    char currency[4];
    int64_t by_kind[7]; /* indexed by enum money_account_kind; [0] unused */
    int64_t all;        /* sum of every balance: 0 */
    int64_t lines;      /* sum of every line's delta: 0 */
    int64_t deposits;   /* sum of money_deposits */
    int64_t withdrawals; /* sum of money_withdrawals not failed */
    bool lines_match;   /* every balance equals the sum of its account's lines */
};

/* Returns LODE_OK, LODE_EUNPROCESSABLE (a sum overflows bigint), LODE_ENOMEM, or the mapped
 * database error. */
enum lode_code money_totals(struct db_conn *conn, struct arena *arena,
                            struct money_total **totals_out, size_t *count_out,
                            struct lode_error *err);

/* ---- deposits and withdrawals (the records behind market/payment.h) ---- */

#define MONEY_ADAPTER_BYTES_MAX 31
#define MONEY_REFERENCE_BYTES_MAX 200

enum money_withdrawal_state {
    MONEY_WITHDRAWAL_REQUESTED = 1,
    MONEY_WITHDRAWAL_PAID,
    MONEY_WITHDRAWAL_FAILED,
};

/* "requested", "paid", "failed"; NULL otherwise. And the inverse (0 for an unknown name). */
const char *money_withdrawal_state_name(enum money_withdrawal_state state);
enum money_withdrawal_state money_withdrawal_state_parse(const char *name);

struct money_deposit {
    int64_t id;
    char adapter[MONEY_ADAPTER_BYTES_MAX + 1];
    char reference[MONEY_REFERENCE_BYTES_MAX + 1];
    int64_t account_id;
    int64_t amount;
    char currency[4];
    int64_t posting_id;
    int64_t created_at_ms;
};

struct money_withdrawal {
    int64_t id;
    char adapter[MONEY_ADAPTER_BYTES_MAX + 1];
    char reference[MONEY_REFERENCE_BYTES_MAX + 1]; /* "" until paid with a reference */
    int64_t account_id;
    int64_t amount;
    char currency[4];
    enum money_withdrawal_state state;
    int64_t posting_id;
    int64_t refund_posting_id; /* 0 unless failed */
    int64_t created_at_ms;
    int64_t settled_at_ms; /* 0 while requested */
};

/* Credits a deposit: records (adapter, reference) and posts EXTERNAL -> USER(account) with
 * reason "deposit" in the caller's transaction. in->adapter, reference, account_id, amount and
 * currency are read; the rest of *out is filled. credited_by and ledger_queue_id may be 0.
 * Returns LODE_OK; LODE_EINVAL (a field out of range); LODE_ENOTFOUND (no such account);
 * LODE_ECONFLICT (that reference was already credited); or money_post's errors. */
enum lode_code money_deposit_credit(struct db_conn *conn, const struct money_deposit *in,
                                    int64_t credited_by, int64_t ledger_queue_id,
                                    struct money_deposit *out, struct lode_error *err);

/* Starts a withdrawal: posts USER(account) -> EXTERNAL with reason "withdrawal" and records it
 * as requested. Reads in->adapter, account_id, amount, currency. Returns LODE_OK; LODE_EINVAL;
 * LODE_ENOTFOUND; LODE_EUNPROCESSABLE (insufficient balance); or money_post's errors. */
enum lode_code money_withdrawal_request(struct db_conn *conn, const struct money_withdrawal *in,
                                        int64_t requested_by, int64_t ledger_queue_id,
                                        struct money_withdrawal *out, struct lode_error *err);

/* Settles a requested withdrawal as PAID (reference may be NULL) or FAILED (refunded by a
 * reversing posting EXTERNAL -> USER, reason "withdrawal_refund"). Returns LODE_OK;
 * LODE_EINVAL (state or reference); LODE_ENOTFOUND; LODE_ECONFLICT (already settled); or
 * money_post's errors. */
enum lode_code money_withdrawal_settle(struct db_conn *conn, int64_t withdrawal_id,
                                       enum money_withdrawal_state state, const char *reference,
                                       int64_t settled_by, struct money_withdrawal *out,
                                       struct lode_error *err);

/* Binds a deposit or withdrawal to the ledger_queue row of its entry (enqueued after it, since
 * the entry names its id). Returns LODE_OK, LODE_ENOTFOUND, or the mapped database error. */
enum lode_code money_deposit_link_ledger(struct db_conn *conn, int64_t deposit_id,
                                         int64_t ledger_queue_id, struct lode_error *err);
enum lode_code money_withdrawal_link_ledger(struct db_conn *conn, int64_t withdrawal_id,
                                            int64_t ledger_queue_id, struct lode_error *err);

/* Withdrawals with id > after_id, ascending, at most `limit` (1..MONEY_STATEMENT_LIMIT_MAX):
 * all, or those in `state` (0 = any) and of `account_id` (0 = any). *next_cursor_out is the
 * last id when more may follow, else 0. Returns LODE_OK, LODE_EINVAL, LODE_ENOMEM, or the
 * mapped database error. */
enum lode_code money_withdrawals_list(struct db_conn *conn, enum money_withdrawal_state state,
                                      int64_t account_id, int64_t after_id, int limit,
                                      struct arena *arena, struct money_withdrawal **out,
                                      size_t *count_out, int64_t *next_cursor_out,
                                      struct lode_error *err);

/* Reads one withdrawal. Returns LODE_OK, LODE_ENOTFOUND, or the mapped database error. */
enum lode_code money_withdrawal_get(struct db_conn *conn, int64_t withdrawal_id,
                                    struct money_withdrawal *out, struct lode_error *err);

#endif
