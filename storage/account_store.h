/*
 * storage/account_store.h — accounts, roles, API tokens and Ed25519 public keys.
 *
 * Tokens are 32 random bytes shown once as "lode_" + base64url (no padding); only their
 * SHA-256 is stored. Roles are a set per account. Keys are raw 32-byte Ed25519 public keys,
 * unique across lode (a key belongs to one account). All functions run on the caller's
 * connection and thread; strings written to *_out structures are copied into caller buffers.
 */
#ifndef LODE_STORAGE_ACCOUNT_STORE_H
#define LODE_STORAGE_ACCOUNT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "storage/db.h"

enum account_role {
    ROLE_CONTRIBUTOR = 1 << 0,
    ROLE_LABELER = 1 << 1,
    ROLE_TRAINER = 1 << 2,
    ROLE_PUBLISHER = 1 << 3,
    ROLE_FACT_CHECKER = 1 << 4,
    ROLE_OPERATOR = 1 << 5,
};
#define ROLE_ALL_MASK 0x3f

/* "contributor" -> ROLE_CONTRIBUTOR ...; 0 for an unknown name. */
unsigned account_role_parse(const char *name);
/* The name of a single role bit, or NULL. */
const char *account_role_name(unsigned role);

#define ACCOUNT_NAME_BYTES 201
#define TOKEN_TEXT_BYTES 64   /* "lode_" + 43 base64url chars + NUL fits */
#define TOKEN_PREFIX_BYTES 16 /* first characters kept for display: "lode_AbCdEfGh" */

struct account {
    int64_t id;
    char name[ACCOUNT_NAME_BYTES];
    unsigned roles;          /* bit set of enum account_role */
    int64_t created_at_ms;   /* Unix epoch milliseconds */
};

struct api_token {
    int64_t id;
    int64_t account_id;
    char name[ACCOUNT_NAME_BYTES];
    char prefix[TOKEN_PREFIX_BYTES];
    int64_t created_at_ms;
    int64_t last_used_at_ms; /* 0 = never */
    int64_t revoked_at_ms;   /* 0 = active */
};

struct account_key {
    int64_t id;
    int64_t account_id;
    uint8_t public_key[32];
    char label[ACCOUNT_NAME_BYTES];
    int64_t created_at_ms;
    int64_t revoked_at_ms;   /* 0 = active */
};

/* The caller a valid token resolves to. */
struct principal {
    int64_t account_id;
    unsigned roles;
    int64_t token_id;
};

/* Creates an account. Returns LODE_OK, LODE_EINVAL (no roles, bad name). */
enum lode_code account_create(struct db_conn *conn, const char *name, unsigned roles,
                              struct account *out, struct lode_error *err);

/* Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code account_get(struct db_conn *conn, int64_t id, struct account *out,
                           struct lode_error *err);

/* Lists accounts with id > after_id, ascending, at most `limit` (1 to 1000, else LODE_EINVAL);
 * *count_out receives how many. */
enum lode_code account_list(struct db_conn *conn, int64_t after_id, int limit,
                            struct account *out, int *count_out, struct lode_error *err);

/* Issues a token for the account; the plain token text is written once to token_text_out
 * (TOKEN_TEXT_BYTES); name may be NULL or empty. Returns LODE_OK, LODE_ENOTFOUND (no account),
 * LODE_EINVAL (name over 200 bytes or with control characters). */
enum lode_code token_create(struct db_conn *conn, int64_t account_id, const char *name,
                            struct api_token *out, char *token_text_out,
                            struct lode_error *err);

/* Tokens of an account (active and revoked), newest first, at most `limit` (1 to 1000). */
enum lode_code token_list(struct db_conn *conn, int64_t account_id, int limit,
                          struct api_token *out, int *count_out, struct lode_error *err);

/* Revokes a token of that account. Returns LODE_OK, LODE_ENOTFOUND, LODE_ECONFLICT (already). */
enum lode_code token_revoke(struct db_conn *conn, int64_t account_id, int64_t token_id,
                            struct lode_error *err);

/* True when text has a token's form: "lode_" and exactly 43 base64url characters that decode
 * canonically to 32 bytes. Pure; any thread (lets a caller refuse garbage without a query). */
bool token_text_is_well_formed(const char *text);

/* Resolves "lode_..." text to a principal and records last use (at most once a minute).
 * Returns LODE_OK, or LODE_EUNAUTH for a malformed, unknown or revoked token. */
enum lode_code token_authenticate(struct db_conn *conn, const char *token_text,
                                  struct principal *out, struct lode_error *err);

/* Registers a public key; label may be NULL or empty. Returns LODE_OK, LODE_ENOTFOUND (no
 * account), LODE_ECONFLICT (key already registered, to this or another account, even if
 * revoked), LODE_EINVAL (label over 200 bytes or with control characters). */
enum lode_code key_register(struct db_conn *conn, int64_t account_id, const uint8_t pk[32],
                            const char *label, struct account_key *out, struct lode_error *err);

/* Keys of an account (active and revoked), oldest first, at most `limit` (1 to 1000). */
enum lode_code key_list(struct db_conn *conn, int64_t account_id, int limit,
                        struct account_key *out, int *count_out, struct lode_error *err);

/* Finds an active key by its bytes. Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code key_find(struct db_conn *conn, const uint8_t pk[32], struct account_key *out,
                        struct lode_error *err);

#endif
