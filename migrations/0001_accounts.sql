-- 0001_accounts: accounts with roles, API tokens (stored as SHA-256 only), Ed25519 public keys,
-- and the Idempotency-Key records of POST requests.
-- Every constraint is named: storage/ reports the name, the domain turns it into a sentence.

-- The roles an account may hold; the set is closed (a new role is a new migration).
CREATE FUNCTION lode_roles_are_known(roles text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT roles <@ ARRAY['contributor', 'labeler', 'trainer', 'publisher',
                                'fact-checker', 'operator']::text[] $$;

CREATE FUNCTION lode_array_is_distinct(a text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT count(*) = count(DISTINCT x) FROM unnest(a) AS x $$;

CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT accounts_pkey PRIMARY KEY,
    name        text NOT NULL,
    roles       text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_name_length CHECK (octet_length(name) BETWEEN 1 AND 200),
    CONSTRAINT accounts_roles_nonempty CHECK (cardinality(roles) >= 1),
    CONSTRAINT accounts_roles_known CHECK (lode_roles_are_known(roles)),
    CONSTRAINT accounts_roles_distinct CHECK (lode_array_is_distinct(roles))
);

CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT api_tokens_pkey PRIMARY KEY,
    account_id    bigint NOT NULL
                  CONSTRAINT api_tokens_account_fk REFERENCES accounts (id),
    token_hash    bytea NOT NULL,
    prefix        text NOT NULL,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash),
    CONSTRAINT api_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_prefix_format CHECK (prefix ~ '^lode_[A-Za-z0-9_-]{8}$'),
    CONSTRAINT api_tokens_name_length CHECK (octet_length(name) <= 200),
    CONSTRAINT api_tokens_revoked_after_created CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX api_tokens_account_idx ON api_tokens (account_id, id);

CREATE TABLE account_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT account_keys_pkey PRIMARY KEY,
    account_id  bigint NOT NULL
                CONSTRAINT account_keys_account_fk REFERENCES accounts (id),
    public_key  bytea NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    -- a key belongs to one account for ever, revoked or not
    CONSTRAINT account_keys_public_key_unique UNIQUE (public_key),
    CONSTRAINT account_keys_public_key_length CHECK (octet_length(public_key) = 32),
    CONSTRAINT account_keys_label_length CHECK (octet_length(label) <= 200),
    CONSTRAINT account_keys_revoked_after_created CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX account_keys_account_idx ON account_keys (account_id, id);

-- One row per (account, Idempotency-Key) of a POST: claimed (status NULL) while the first
-- request runs, then completed with the response to replay. Purged after a retention period.
CREATE TABLE idempotency_keys (
    account_id    bigint NOT NULL
                  CONSTRAINT idempotency_keys_account_fk REFERENCES accounts (id),
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status        smallint,
    content_type  text,
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (account_id, key),
    CONSTRAINT idempotency_keys_key_format CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
    CONSTRAINT idempotency_keys_request_hash_length CHECK (octet_length(request_hash) = 32),
    CONSTRAINT idempotency_keys_status_range CHECK (status IS NULL OR status BETWEEN 100 AND 599),
    CONSTRAINT idempotency_keys_completed CHECK
        ((status IS NULL) = (completed_at IS NULL) AND (status IS NULL) = (body IS NULL)),
    CONSTRAINT idempotency_keys_content_type_length CHECK (octet_length(content_type) <= 127),
    CONSTRAINT idempotency_keys_body_length CHECK (octet_length(body) <= 1048576)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
