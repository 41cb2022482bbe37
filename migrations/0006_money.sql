-- 0006_money: the money journal (storage/money_store.h, docs/money.md). A posting is a set of
-- balanced journal lines; balances are the running sums of the lines; deposits and withdrawals
-- are the records of the payment adapters (market/payment.h).
-- Account kinds: 1 external, 2 user, 3 juror_stake, 4 escrow, 5 burn, 6 task.
-- Every constraint is named: storage/ reports the name, the domain turns it into a sentence.

CREATE TABLE money_postings (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT money_postings_pkey PRIMARY KEY,
    context_kind  text NOT NULL,
    context_id    bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT money_postings_context_kind_format CHECK (context_kind ~ '^[a-z_]{1,31}$')
);
CREATE INDEX money_postings_context_idx ON money_postings (context_kind, context_id);

-- One row per (account, currency) ever touched. Only the external account (the outside world
-- behind the adapters) may hold less than zero; burn and the fixed accounts have id 0.
CREATE TABLE money_balances (
    kind        smallint NOT NULL,
    account_id  bigint NOT NULL,
    currency    text NOT NULL,
    balance     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT money_balances_pkey PRIMARY KEY (kind, account_id, currency),
    CONSTRAINT money_balances_kind_known CHECK (kind BETWEEN 1 AND 6),
    CONSTRAINT money_balances_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT money_balances_id_range
        CHECK (CASE WHEN kind IN (1, 5) THEN account_id = 0 ELSE account_id > 0 END),
    CONSTRAINT money_balances_nonnegative CHECK (balance >= 0 OR kind = 1),
    CONSTRAINT money_balances_burn_nonnegative CHECK (kind <> 5 OR balance >= 0)
);

-- Two lines per transfer: the debit (delta < 0) of the source and the credit (delta > 0) of the
-- destination, each naming the other side. balance_after is the account's balance after the
-- posting (the same on every line of one account in one posting).
CREATE TABLE money_lines (
    id                 bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT money_lines_pkey PRIMARY KEY,
    posting_id         bigint NOT NULL
                       CONSTRAINT money_lines_posting_fk REFERENCES money_postings (id),
    kind               smallint NOT NULL,
    account_id         bigint NOT NULL,
    currency           text NOT NULL,
    delta              bigint NOT NULL,
    balance_after      bigint NOT NULL,
    reason             text NOT NULL,
    counterparty_kind  smallint NOT NULL,
    counterparty_id    bigint NOT NULL,
    CONSTRAINT money_lines_account_fk FOREIGN KEY (kind, account_id, currency)
        REFERENCES money_balances (kind, account_id, currency),
    CONSTRAINT money_lines_delta_nonzero CHECK (delta <> 0),
    CONSTRAINT money_lines_burn_credit_only CHECK (kind <> 5 OR delta > 0),
    CONSTRAINT money_lines_reason_format CHECK (reason ~ '^[a-z_]{1,31}$'),
    CONSTRAINT money_lines_counterparty_kind_known CHECK (counterparty_kind BETWEEN 1 AND 6)
);
CREATE INDEX money_lines_account_idx ON money_lines (kind, account_id, id);
CREATE INDEX money_lines_posting_idx ON money_lines (posting_id);

-- Money that entered through an adapter: one external reference is credited at most once.
CREATE TABLE money_deposits (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT money_deposits_pkey PRIMARY KEY,
    adapter          text NOT NULL,
    reference        text NOT NULL,
    account_id       bigint NOT NULL CONSTRAINT money_deposits_account_fk REFERENCES accounts (id),
    amount           bigint NOT NULL,
    currency         text NOT NULL,
    state            text NOT NULL DEFAULT 'credited',
    posting_id       bigint NOT NULL
                     CONSTRAINT money_deposits_posting_fk REFERENCES money_postings (id),
    credited_by      bigint CONSTRAINT money_deposits_credited_by_fk REFERENCES accounts (id),
    ledger_queue_id  bigint CONSTRAINT money_deposits_ledger_queue_fk REFERENCES ledger_queue (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT money_deposits_reference_unique UNIQUE (adapter, reference),
    CONSTRAINT money_deposits_adapter_format CHECK (adapter ~ '^[a-z_]{1,31}$'),
    CONSTRAINT money_deposits_reference_length CHECK (octet_length(reference) BETWEEN 1 AND 200),
    CONSTRAINT money_deposits_amount_positive CHECK (amount > 0),
    CONSTRAINT money_deposits_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT money_deposits_state_known CHECK (state = 'credited')
);
CREATE INDEX money_deposits_account_idx ON money_deposits (account_id, id);

-- Money that leaves through an adapter: debited at once (user -> external), then paid out by
-- the adapter or failed and refunded by a reversing posting.
CREATE TABLE money_withdrawals (
    id                 bigint GENERATED ALWAYS AS IDENTITY
                       CONSTRAINT money_withdrawals_pkey PRIMARY KEY,
    adapter            text NOT NULL,
    reference          text,
    account_id         bigint NOT NULL
                       CONSTRAINT money_withdrawals_account_fk REFERENCES accounts (id),
    amount             bigint NOT NULL,
    currency           text NOT NULL,
    state              text NOT NULL DEFAULT 'requested',
    posting_id         bigint NOT NULL
                       CONSTRAINT money_withdrawals_posting_fk REFERENCES money_postings (id),
    refund_posting_id  bigint
                       CONSTRAINT money_withdrawals_refund_posting_fk REFERENCES money_postings (id),
    requested_by       bigint CONSTRAINT money_withdrawals_requested_by_fk REFERENCES accounts (id),
    settled_by         bigint CONSTRAINT money_withdrawals_settled_by_fk REFERENCES accounts (id),
    ledger_queue_id    bigint
                       CONSTRAINT money_withdrawals_ledger_queue_fk REFERENCES ledger_queue (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz,
    CONSTRAINT money_withdrawals_adapter_format CHECK (adapter ~ '^[a-z_]{1,31}$'),
    CONSTRAINT money_withdrawals_reference_length
        CHECK (reference IS NULL OR octet_length(reference) BETWEEN 1 AND 200),
    CONSTRAINT money_withdrawals_amount_positive CHECK (amount > 0),
    CONSTRAINT money_withdrawals_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT money_withdrawals_state_known CHECK (state IN ('requested', 'paid', 'failed')),
    CONSTRAINT money_withdrawals_settled_consistent CHECK (
        (state = 'requested' AND settled_at IS NULL AND refund_posting_id IS NULL) OR
        (state = 'paid' AND settled_at IS NOT NULL AND refund_posting_id IS NULL) OR
        (state = 'failed' AND settled_at IS NOT NULL AND refund_posting_id IS NOT NULL))
);
CREATE INDEX money_withdrawals_account_idx ON money_withdrawals (account_id, id);
CREATE INDEX money_withdrawals_pending_idx ON money_withdrawals (id) WHERE state = 'requested';
