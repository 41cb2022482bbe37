/*
 * tests/unit/storage/test_accounts.c — accounts, tokens, keys and Idempotency-Key records on a
 * scratch database migrated with the embedded migrations.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "scratch_db.h"
#include "storage/account_store.h"
#include "storage/db_internal.h"
#include "storage/idempotency_store.h"
#include "test_main.h"

static struct db_conn *conn;

static void test_roles(void)
{
    CU_ASSERT_EQUAL(account_role_parse("contributor"), ROLE_CONTRIBUTOR);
    CU_ASSERT_EQUAL(account_role_parse("fact-checker"), ROLE_FACT_CHECKER);
    CU_ASSERT_EQUAL(account_role_parse("operator"), ROLE_OPERATOR);
    CU_ASSERT_EQUAL(account_role_parse("Operator"), 0);
    CU_ASSERT_EQUAL(account_role_parse(""), 0);
    CU_ASSERT_EQUAL(account_role_parse(NULL), 0);
    CU_ASSERT_STRING_EQUAL(account_role_name(ROLE_TRAINER), "trainer");
    CU_ASSERT_PTR_NULL(account_role_name(ROLE_TRAINER | ROLE_LABELER));
    CU_ASSERT_PTR_NULL(account_role_name(0));
    for (unsigned bit = 1; bit <= ROLE_OPERATOR; bit <<= 1)
        CU_ASSERT_EQUAL(account_role_parse(account_role_name(bit)), bit);
}

static void test_accounts(void)
{
    struct lode_error err = {0};
    struct account a, b, got, list[4];
    int n = -1;

    CU_ASSERT_EQUAL(account_create(conn, "Ada", ROLE_OPERATOR | ROLE_LABELER, &a, &err), LODE_OK);
    CU_ASSERT(a.id > 0);
    CU_ASSERT_STRING_EQUAL(a.name, "Ada");
    CU_ASSERT_EQUAL(a.roles, ROLE_OPERATOR | ROLE_LABELER);
    CU_ASSERT(a.created_at_ms > 0);
    CU_ASSERT_EQUAL(account_create(conn, "Bob \xc3\xa9", ROLE_ALL_MASK, &b, &err), LODE_OK);
    CU_ASSERT_EQUAL(b.roles, ROLE_ALL_MASK);

    CU_ASSERT_EQUAL(account_get(conn, a.id, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.id, a.id);
    CU_ASSERT_EQUAL(got.roles, a.roles);
    CU_ASSERT_EQUAL(got.created_at_ms, a.created_at_ms);
    CU_ASSERT_EQUAL(account_get(conn, b.id + 1000, &got, &err), LODE_ENOTFOUND);

    CU_ASSERT_EQUAL(account_list(conn, 0, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(list[0].id, a.id);
    CU_ASSERT_EQUAL(list[1].id, b.id);
    CU_ASSERT_STRING_EQUAL(list[1].name, "Bob \xc3\xa9");
    CU_ASSERT_EQUAL(account_list(conn, a.id, 1, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(list[0].id, b.id);
    CU_ASSERT_EQUAL(account_list(conn, 0, 0, list, &n, &err), LODE_EINVAL);

    /* bad input never reaches the database */
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CU_ASSERT_EQUAL(account_create(conn, "x", 0, &got, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(account_create(conn, "x", 1u << 6, &got, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(account_create(conn, "", ROLE_TRAINER, &got, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(account_create(conn, "a\nb", ROLE_TRAINER, &got, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(account_create(conn, long_name, ROLE_TRAINER, &got, &err), LODE_EINVAL);
    long_name[200] = '\0';
    CU_ASSERT_EQUAL(account_create(conn, long_name, ROLE_TRAINER, &got, &err), LODE_OK);
    /* invalid UTF-8 is refused by PostgreSQL as a data exception */
    CU_ASSERT_EQUAL(account_create(conn, "bad \xff", ROLE_TRAINER, &got, &err), LODE_EINVAL);

    /* the schema's own rules, reported by constraint name */
    CU_ASSERT_EQUAL(
        db_exec(conn, "INSERT INTO accounts (name, roles) VALUES ('z', '{pilot}')", &err),
        LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.constraint, "accounts_roles_known");
    CU_ASSERT_EQUAL(db_exec(conn, "INSERT INTO accounts (name, roles) VALUES ('z', '{}')", &err),
                    LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.constraint, "accounts_roles_nonempty");
    CU_ASSERT_EQUAL(db_exec(conn,
                            "INSERT INTO accounts (name, roles)"
                            " VALUES ('z', '{labeler,labeler}')",
                            &err),
                    LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.constraint, "accounts_roles_distinct");
}

static int64_t count_where_hash(const char *token)
{
    uint8_t hash[32];
    struct db_params p;
    PGresult *res = NULL;
    struct lode_error err = {0};
    int64_t n = -1;

    crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token));
    db_params_init(&p);
    db_params_bytes(&p, hash, sizeof hash);
    if (db_query(conn, "SELECT count(*) FROM api_tokens WHERE token_hash = $1", &p, &res, &err) ==
        LODE_OK)
        n = db_result_int64(res, 0, 0);
    PQclear(res);
    return n;
}

static void last_used_text(int64_t token_id, char *out, size_t cap)
{
    struct db_params p;
    PGresult *res = NULL;
    struct lode_error err = {0};

    out[0] = '\0';
    db_params_init(&p);
    db_params_int64(&p, token_id);
    if (db_query(conn, "SELECT last_used_at::text FROM api_tokens WHERE id = $1", &p, &res, &err) ==
            LODE_OK &&
        PQntuples(res) == 1)
        db_result_text(res, 0, 0, out, cap);
    PQclear(res);
}

static void test_tokens(void)
{
    struct lode_error err = {0};
    struct account acct, other;
    struct api_token t1, t2, list[4];
    char text1[TOKEN_TEXT_BYTES], text2[TOKEN_TEXT_BYTES], bad[TOKEN_TEXT_BYTES + 8];
    struct principal who;
    int n = -1;

    CU_ASSERT_EQUAL_FATAL(
        account_create(conn, "tok", ROLE_CONTRIBUTOR | ROLE_PUBLISHER, &acct, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(account_create(conn, "other", ROLE_TRAINER, &other, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(token_create(conn, acct.id, "laptop", &t1, text1, &err), LODE_OK);
    CU_ASSERT_EQUAL(strlen(text1), 48);
    CU_ASSERT_EQUAL(strncmp(text1, "lode_", 5), 0);
    CU_ASSERT_EQUAL(strspn(text1 + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"),
                    43);
    CU_ASSERT_EQUAL(strlen(t1.prefix), 13);
    CU_ASSERT_EQUAL(strncmp(t1.prefix, text1, 13), 0);
    CU_ASSERT_EQUAL(t1.account_id, acct.id);
    CU_ASSERT_STRING_EQUAL(t1.name, "laptop");
    CU_ASSERT_EQUAL(t1.last_used_at_ms, 0);
    CU_ASSERT_EQUAL(t1.revoked_at_ms, 0);
    CU_ASSERT_EQUAL_FATAL(token_create(conn, acct.id, "ci", &t2, text2, &err), LODE_OK);
    CU_ASSERT_STRING_NOT_EQUAL(text1, text2);

    /* only the hash is stored */
    CU_ASSERT_EQUAL(count_where_hash(text1), 1);
    CU_ASSERT_EQUAL(count_where_hash(text2), 1);

    CU_ASSERT_EQUAL(token_authenticate(conn, text1, &who, &err), LODE_OK);
    CU_ASSERT_EQUAL(who.account_id, acct.id);
    CU_ASSERT_EQUAL(who.token_id, t1.id);
    CU_ASSERT_EQUAL(who.roles, ROLE_CONTRIBUTOR | ROLE_PUBLISHER);

    /* last use is recorded, and not rewritten within the minute */
    char used1[64], used2[64];
    last_used_text(t1.id, used1, sizeof used1);
    CU_ASSERT_NOT_EQUAL(used1[0], '\0');
    CU_ASSERT_EQUAL(token_authenticate(conn, text1, &who, &err), LODE_OK);
    last_used_text(t1.id, used2, sizeof used2);
    CU_ASSERT_STRING_EQUAL(used1, used2);
    /* ... but is once it is older than that */
    struct db_params p;
    db_params_init(&p);
    db_params_int64(&p, t1.id);
    CU_ASSERT_EQUAL(db_query(conn,
                             "UPDATE api_tokens SET last_used_at = last_used_at - interval '2 min',"
                             " created_at = created_at - interval '1 hour' WHERE id = $1",
                             &p, NULL, &err),
                    LODE_OK);
    last_used_text(t1.id, used1, sizeof used1);
    CU_ASSERT_EQUAL(token_authenticate(conn, text1, &who, &err), LODE_OK);
    last_used_text(t1.id, used2, sizeof used2);
    CU_ASSERT_STRING_NOT_EQUAL(used1, used2);

    CU_ASSERT_EQUAL(token_list(conn, acct.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(list[0].id, t2.id); /* newest first */
    CU_ASSERT_EQUAL(list[1].id, t1.id);
    CU_ASSERT(list[1].last_used_at_ms > 0);
    CU_ASSERT_EQUAL(list[0].last_used_at_ms, 0);
    CU_ASSERT_EQUAL(token_list(conn, other.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 0);

    /* revocation */
    CU_ASSERT_EQUAL(token_revoke(conn, other.id, t1.id, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(token_revoke(conn, acct.id, t1.id, &err), LODE_OK);
    CU_ASSERT_EQUAL(token_revoke(conn, acct.id, t1.id, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(token_revoke(conn, acct.id, t2.id + 1000, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(token_authenticate(conn, text1, &who, &err), LODE_EUNAUTH);
    CU_ASSERT_EQUAL(who.account_id, 0);
    CU_ASSERT_EQUAL(token_authenticate(conn, text2, &who, &err), LODE_OK);
    CU_ASSERT_EQUAL(token_list(conn, acct.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT(list[1].revoked_at_ms > 0);
    CU_ASSERT_EQUAL(list[0].revoked_at_ms, 0);

    /* malformed and unknown tokens */
    CU_ASSERT_EQUAL(token_authenticate(conn, NULL, &who, &err), LODE_EUNAUTH);
    CU_ASSERT_EQUAL(token_authenticate(conn, "", &who, &err), LODE_EUNAUTH);
    CU_ASSERT_EQUAL(token_authenticate(conn, "lode_", &who, &err), LODE_EUNAUTH);
    CU_ASSERT_EQUAL(token_authenticate(conn, "Bearer x", &who, &err), LODE_EUNAUTH);
    memcpy(bad, text2, sizeof text2);
    bad[0] = 'L';
    CU_ASSERT_EQUAL(token_authenticate(conn, bad, &who, &err), LODE_EUNAUTH);
    memcpy(bad, text2, sizeof text2);
    bad[20] = '+'; /* standard base64, not base64url */
    CU_ASSERT_EQUAL(token_authenticate(conn, bad, &who, &err), LODE_EUNAUTH);
    memcpy(bad, text2, sizeof text2);
    strcat(bad, "A"); /* too long */
    CU_ASSERT_EQUAL(token_authenticate(conn, bad, &who, &err), LODE_EUNAUTH);
    memcpy(bad, text2, sizeof text2);
    bad[47] = bad[47] == 'B' ? 'A' : 'B'; /* well-formed or not, unknown either way */
    CU_ASSERT_EQUAL(token_authenticate(conn, bad, &who, &err), LODE_EUNAUTH);
    memcpy(bad, text2, sizeof text2);
    bad[10] = bad[10] == 'a' ? 'b' : 'a'; /* well-formed, unknown */
    CU_ASSERT_EQUAL(token_authenticate(conn, bad, &who, &err), LODE_EUNAUTH);
    CU_ASSERT_EQUAL(err.code, LODE_EUNAUTH);

    /* tokens need an account and a name */
    CU_ASSERT_EQUAL(token_create(conn, other.id + 1000, "x", &t1, text1, &err), LODE_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(err.constraint, "api_tokens_account_fk");
    CU_ASSERT_STRING_EQUAL(text1, "");
    CU_ASSERT_EQUAL(token_create(conn, acct.id, "a\tb", &t1, text1, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(token_create(conn, acct.id, "", &t1, text1, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(t1.name, "");
    CU_ASSERT_EQUAL(token_authenticate(conn, text1, &who, &err), LODE_OK);
    CU_ASSERT_EQUAL(token_list(conn, acct.id, 5000, list, &n, &err), LODE_EINVAL);
}

static void test_keys(void)
{
    struct lode_error err = {0};
    struct account a, b;
    struct account_key k1, k2, found, list[4];
    uint8_t pk1[32], pk2[32], sk[64];
    int n = -1;

    crypto_sign_keypair(pk1, sk);
    crypto_sign_keypair(pk2, sk);
    CU_ASSERT_EQUAL_FATAL(account_create(conn, "keys-a", ROLE_CONTRIBUTOR, &a, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(account_create(conn, "keys-b", ROLE_CONTRIBUTOR, &b, &err), LODE_OK);

    CU_ASSERT_EQUAL(key_register(conn, a.id, pk1, "laptop", &k1, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(k1.public_key, pk1, 32), 0);
    CU_ASSERT_EQUAL(k1.account_id, a.id);
    CU_ASSERT_STRING_EQUAL(k1.label, "laptop");
    CU_ASSERT_EQUAL(key_register(conn, a.id, pk2, NULL, &k2, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(k2.label, "");

    CU_ASSERT_EQUAL(key_register(conn, a.id, pk1, "again", &found, &err), LODE_ECONFLICT);
    CU_ASSERT_STRING_EQUAL(err.constraint, "account_keys_public_key_unique");
    CU_ASSERT_EQUAL(key_register(conn, b.id, pk1, "stolen", &found, &err), LODE_ECONFLICT);
    CU_ASSERT_STRING_EQUAL(err.constraint, "account_keys_public_key_unique");
    CU_ASSERT_STRING_EQUAL(err.message, "the public key is already registered");
    uint8_t pk3[32];
    crypto_sign_keypair(pk3, sk);
    CU_ASSERT_EQUAL(key_register(conn, b.id + 1000, pk3, "x", &found, &err), LODE_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(err.constraint, "account_keys_account_fk");
    CU_ASSERT_EQUAL(key_register(conn, b.id, pk2, "a\x01", &found, &err), LODE_EINVAL);

    CU_ASSERT_EQUAL(key_find(conn, pk1, &found, &err), LODE_OK);
    CU_ASSERT_EQUAL(found.id, k1.id);
    CU_ASSERT_EQUAL(found.account_id, a.id);
    CU_ASSERT_EQUAL(memcmp(found.public_key, pk1, 32), 0);
    uint8_t unknown[32] = {1};
    CU_ASSERT_EQUAL(key_find(conn, unknown, &found, &err), LODE_ENOTFOUND);

    CU_ASSERT_EQUAL(key_list(conn, a.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(list[0].id, k1.id); /* oldest first */
    CU_ASSERT_EQUAL(list[1].id, k2.id);
    CU_ASSERT_EQUAL(key_list(conn, b.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 0);

    /* a revoked key is not found, and stays taken */
    struct db_params p;
    db_params_init(&p);
    db_params_int64(&p, k2.id);
    CU_ASSERT_EQUAL(
        db_query(conn, "UPDATE account_keys SET revoked_at = now() WHERE id = $1", &p, NULL, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(key_find(conn, pk2, &found, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(key_register(conn, b.id, pk2, "x", &found, &err), LODE_ECONFLICT);
}

static void test_idempotency(void)
{
    struct lode_error err = {0};
    struct arena *arena = arena_create(0);
    struct account a;
    struct idempotency_response r;
    uint8_t h1[32], h2[32];
    const uint8_t body[] = "{\"id\":7}";

    CU_ASSERT_EQUAL_FATAL(account_create(conn, "idem", ROLE_CONTRIBUTOR, &a, &err), LODE_OK);
    idempotency_request_hash("POST", "/v1/things", body, sizeof body - 1, h1);
    idempotency_request_hash("POST", "/v1/things", body, sizeof body - 2, h2);
    CU_ASSERT_NOT_EQUAL(memcmp(h1, h2, 32), 0);

    CU_ASSERT_TRUE(idempotency_key_is_valid("abc-123"));
    CU_ASSERT_FALSE(idempotency_key_is_valid(""));
    CU_ASSERT_FALSE(idempotency_key_is_valid("a b"));
    CU_ASSERT_FALSE(idempotency_key_is_valid("\xc3\xa9"));
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "a b", h1, &r, &err), LODE_EINVAL);

    /* first request claims the key */
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k1", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 0);
    /* the same request while the first runs: conflict; a different one: unprocessable */
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k1", h1, &r, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k1", h2, &r, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(
        idempotency_finish(conn, a.id, "k1", 201, "application/json", body, sizeof body - 1, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(
        idempotency_finish(conn, a.id, "k1", 201, "application/json", body, sizeof body - 1, &err),
        LODE_ENOTFOUND);
    /* a retry replays the stored response */
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k1", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
    CU_ASSERT_EQUAL(r.body_bytes, sizeof body - 1);
    CU_ASSERT_EQUAL(memcmp(r.body, body, sizeof body - 1), 0);
    /* keys are per account */
    struct account b;
    CU_ASSERT_EQUAL_FATAL(account_create(conn, "idem-b", ROLE_CONTRIBUTOR, &b, &err), LODE_OK);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, b.id, "k1", h2, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 0);
    /* released claims can be claimed again; empty bodies are kept as such */
    CU_ASSERT_EQUAL(idempotency_release(conn, b.id, "k1", &err), LODE_OK);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, b.id, "k1", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(idempotency_finish(conn, b.id, "k1", 204, NULL, NULL, 0, &err), LODE_OK);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, b.id, "k1", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 204);
    CU_ASSERT_EQUAL(r.body_bytes, 0);
    /* a stale claim (its request died) is taken over */
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k2", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(db_exec(conn,
                            "UPDATE idempotency_keys SET created_at = now() - interval '1 hour'"
                            " WHERE key = 'k2'",
                            &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k2", h1, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, a.id, "k2", h1, &r, &err), LODE_ECONFLICT);
    /* bad responses */
    CU_ASSERT_EQUAL(idempotency_finish(conn, a.id, "k2", 99, NULL, NULL, 0, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(
        idempotency_finish(conn, a.id, "k2", 200, NULL, body, IDEMPOTENCY_BODY_BYTES_MAX + 1, &err),
        LODE_ETOOBIG);
    CU_ASSERT_EQUAL(idempotency_begin(conn, arena, b.id + 1000, "k", h1, &r, &err), LODE_ENOTFOUND);
    /* purge by age */
    int64_t deleted = -1;
    CU_ASSERT_EQUAL(idempotency_purge(conn, 3600, &deleted, &err), LODE_OK);
    CU_ASSERT_EQUAL(deleted, 0);
    CU_ASSERT_EQUAL(db_exec(conn,
                            "UPDATE idempotency_keys SET created_at = now() - interval '2 days'"
                            " WHERE key = 'k1'",
                            &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(idempotency_purge(conn, IDEMPOTENCY_RETENTION_S, &deleted, &err), LODE_OK);
    CU_ASSERT_EQUAL(deleted, 2);
    CU_ASSERT_EQUAL(idempotency_purge(conn, -1, &deleted, &err), LODE_EINVAL);
    arena_destroy(arena);
}

static const struct test_case account_cases[] = {
    {"roles", test_roles},
    {"accounts", test_accounts},
    {"tokens", test_tokens},
    {"keys", test_keys},
    {"idempotency keys", test_idempotency},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/accounts", account_cases},
    {NULL, NULL},
};

int main(void)
{
    char url[SCRATCH_URL_BYTES];
    struct lode_error err = {0};
    int rc;

    scratch_db_init();
    scratch_db_create(url);
    conn = scratch_db_connect(url);
    if (db_migrate(conn, NULL, &err) != LODE_OK) {
        fprintf(stderr, "could not migrate: %s (%s)\n", err.message, err.log_detail);
        db_conn_close(conn);
        scratch_db_cleanup();
        return 1;
    }
    rc = test_main(suites);
    db_conn_close(conn);
    scratch_db_cleanup();
    return rc;
}
