/*
 * market/payment.h — the one interface through which money enters and leaves lode.
 *
 * What. A payment adapter connects the journal (storage/money_store.h) to the outside world:
 * it checks and credits deposits (EXTERNAL -> USER), starts withdrawals (USER -> EXTERNAL at
 * once, recorded as requested for the adapter to pay out) and settles them (paid, or failed
 * and refunded by a reversing posting). Each adapter decides who may do what and what a valid
 * external reference is; the journal, the deposit and withdrawal records and their invariants
 * are shared. The operator-credited adapter ("operator") is the first: an operator credits a
 * deposit with the reference of the money received (a bank transfer's id, say); an account or
 * an operator asks for a withdrawal; the operator pays it out by hand and settles it.
 *
 * Invariants. Every call runs in the caller's transaction and changes nothing when it fails
 * (the caller rolls back). One (adapter, reference) is credited at most once. A withdrawal
 * moves from requested to paid or failed exactly once; a failed one is refunded exactly once.
 *
 * Ownership. Adapters are static, immutable tables: never freed. Outputs are caller-owned.
 * Threads. Adapters keep no state: any thread, with the caller's connection.
 */
#ifndef LODE_MARKET_PAYMENT_H
#define LODE_MARKET_PAYMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "storage/db.h"
#include "storage/money_store.h"

/* Who acts: the authenticated account, and whether it holds the operator role. */
struct payment_actor {
    int64_t account_id;
    bool operator;
};

struct payment_adapter {
    const char *name; /* [a-z_]{1,31}: stored with every deposit and withdrawal */

    /* Checks and credits a deposit of amount/currency to account_id with the adapter's
     * external reference. Returns LODE_OK (out filled), LODE_EFORBIDDEN, LODE_EINVAL,
     * LODE_ENOTFOUND, LODE_ECONFLICT (reference already credited), or money_post's errors. */
    enum lode_code (*deposit_credit)(const struct payment_adapter *self, struct db_conn *conn,
                                     const struct payment_actor *actor, int64_t account_id,
                                     int64_t amount, const char *currency,
                                     const char *reference, struct money_deposit *out,
                                     struct lode_error *err);

    /* Debits account_id at once and records the withdrawal as requested. Returns LODE_OK,
     * LODE_EFORBIDDEN, LODE_EINVAL, LODE_ENOTFOUND, LODE_EUNPROCESSABLE (insufficient
     * balance), or money_post's errors. */
    enum lode_code (*withdrawal_start)(const struct payment_adapter *self, struct db_conn *conn,
                                       const struct payment_actor *actor, int64_t account_id,
                                       int64_t amount, const char *currency,
                                       struct money_withdrawal *out, struct lode_error *err);

    /* Settles a requested withdrawal of this adapter as paid (with an optional payout
     * reference) or failed (refunded). Returns LODE_OK, LODE_EFORBIDDEN, LODE_EINVAL,
     * LODE_ENOTFOUND (no such withdrawal of this adapter), LODE_ECONFLICT (already settled). */
    enum lode_code (*withdrawal_settle)(const struct payment_adapter *self, struct db_conn *conn,
                                        const struct payment_actor *actor, int64_t withdrawal_id,
                                        enum money_withdrawal_state state,
                                        const char *reference, struct money_withdrawal *out,
                                        struct lode_error *err);
};

/* The operator-credited adapter (payment_operator.c). */
const struct payment_adapter *payment_adapter_operator(void);

/* The adapter of that name, NULL for an unknown one. */
const struct payment_adapter *payment_adapter_find(const char *name);

/* The adapter deposits and withdrawals use when none is named. */
const struct payment_adapter *payment_adapter_default(void);

#endif
