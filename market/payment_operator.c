/*
 * market/payment_operator.c — the operator-credited payment adapter (see payment.h).
 *
 * Deposits: only an operator credits one, naming the external reference of the money received
 * (1 to MONEY_REFERENCE_BYTES_MAX printable ASCII characters); the same reference is refused a
 * second time. Withdrawals: the account itself or an operator asks; the money leaves the
 * account's USER balance at once, and the operator, having paid it out, settles it as paid
 * (with the payout's reference) or as failed, which refunds it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "market/payment.h"

#define OPERATOR_ADAPTER_NAME "operator"

static enum lode_code operator_deposit_credit(const struct payment_adapter *self,
                                              struct db_conn *conn,
                                              const struct payment_actor *actor,
                                              int64_t account_id, int64_t amount,
                                              const char *currency, const char *reference,
                                              struct money_deposit *out, struct lode_error *err)
{
    struct money_deposit in;

    if (!actor->operator)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %" PRId64 " may not credit deposits: only an operator",
                              actor->account_id);
    if (reference == NULL || strlen(reference) > MONEY_REFERENCE_BYTES_MAX) {
        lode_error_set(err, LODE_EINVAL,
                       "reference must be 1 to %d printable ASCII characters without spaces",
                       MONEY_REFERENCE_BYTES_MAX);
        lode_error_pointer(err, "/reference");
        return err->code;
    }
    memset(&in, 0, sizeof in);
    snprintf(in.adapter, sizeof in.adapter, "%s", self->name);
    snprintf(in.reference, sizeof in.reference, "%s", reference);
    if (money_currency_is_valid(currency))
        memcpy(in.currency, currency, 4); /* else "" and refused with the currency message */
    in.account_id = account_id;
    in.amount = amount;
    return money_deposit_credit(conn, &in, actor->account_id, 0, out, err);
}

static enum lode_code operator_withdrawal_start(const struct payment_adapter *self,
                                                struct db_conn *conn,
                                                const struct payment_actor *actor,
                                                int64_t account_id, int64_t amount,
                                                const char *currency,
                                                struct money_withdrawal *out,
                                                struct lode_error *err)
{
    struct money_withdrawal in;

    if (!actor->operator && actor->account_id != account_id)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %" PRId64 " may not withdraw from account %" PRId64
                              ": only the account itself or an operator",
                              actor->account_id, account_id);
    memset(&in, 0, sizeof in);
    snprintf(in.adapter, sizeof in.adapter, "%s", self->name);
    if (money_currency_is_valid(currency))
        memcpy(in.currency, currency, 4);
    in.account_id = account_id;
    in.amount = amount;
    return money_withdrawal_request(conn, &in, actor->account_id, 0, out, err);
}

static enum lode_code operator_withdrawal_settle(const struct payment_adapter *self,
                                                 struct db_conn *conn,
                                                 const struct payment_actor *actor,
                                                 int64_t withdrawal_id,
                                                 enum money_withdrawal_state state,
                                                 const char *reference,
                                                 struct money_withdrawal *out,
                                                 struct lode_error *err)
{
    struct money_withdrawal w;
    enum lode_code rc;

    if (!actor->operator)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %" PRId64 " may not settle withdrawals: only an operator",
                              actor->account_id);
    if ((rc = money_withdrawal_get(conn, withdrawal_id, &w, err)) != LODE_OK)
        return rc;
    if (strcmp(w.adapter, self->name) != 0)
        return lode_error_set(err, LODE_ENOTFOUND,
                              "withdrawal %" PRId64 " does not belong to the %s adapter",
                              withdrawal_id, self->name);
    return money_withdrawal_settle(conn, withdrawal_id, state, reference, actor->account_id, out,
                                   err);
}

static const struct payment_adapter operator_adapter = {
    OPERATOR_ADAPTER_NAME,
    operator_deposit_credit,
    operator_withdrawal_start,
    operator_withdrawal_settle,
};

const struct payment_adapter *payment_adapter_operator(void)
{
    return &operator_adapter;
}
