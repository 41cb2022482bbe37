/*
 * storage/idempotency_store.h — Idempotency-Key records for POST requests.
 *
 * A client that retries a POST with the same Idempotency-Key must get the first response
 * again, not a second effect. Records are per account: (account_id, key) is unique. The
 * request is identified by a SHA-256 over method, path and body (idempotency_request_hash);
 * reusing a key for a different request is refused.
 *
 * Flow for api/:
 *   1. idempotency_begin(): either claims the key (out->status == 0: run the request), or
 *      returns the stored response to replay (out->status != 0), or refuses (a request with
 *      that key still runs: LODE_ECONFLICT; the key was used for another request:
 *      LODE_EUNPROCESSABLE).
 *   2. after the handler: idempotency_finish() stores the response (any status the client
 *      should see again, 2xx and 4xx alike); when the request failed in a way worth retrying
 *      (5xx, 503 busy), idempotency_release() drops the claim so a retry runs afresh.
 * Calling begin and finish on the same connection inside the handler's own db_tx() makes the
 * record commit or roll back together with the effect; concurrent requests with the same key
 * then wait on the row and replay the committed response. Called outside a transaction, a
 * claim that was never finished (the process died) is taken over after
 * IDEMPOTENCY_CLAIM_TIMEOUT_S. idempotency_purge() removes records past their retention.
 *
 * Ownership: a replayed body is copied into the caller's arena. Threads: the caller's
 * connection and thread only.
 */
#ifndef LODE_STORAGE_IDEMPOTENCY_STORE_H
#define LODE_STORAGE_IDEMPOTENCY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "storage/db.h"

#define IDEMPOTENCY_KEY_BYTES_MAX 255         /* printable ASCII, no spaces */
#define IDEMPOTENCY_BODY_BYTES_MAX (1u << 20) /* largest response body kept for replay */
#define IDEMPOTENCY_CONTENT_TYPE_BYTES 128
#define IDEMPOTENCY_CLAIM_TIMEOUT_S 120     /* an unfinished claim older than this is stale */
#define IDEMPOTENCY_RETENTION_S (24 * 3600) /* suggested purge age */

struct idempotency_response {
    int status; /* 0 = claimed, nothing to replay */
    char content_type[IDEMPOTENCY_CONTENT_TYPE_BYTES];
    const uint8_t *body; /* in the caller's arena */
    size_t body_bytes;
};

/* True for 1 to IDEMPOTENCY_KEY_BYTES_MAX printable ASCII characters (0x21-0x7e). */
bool idempotency_key_is_valid(const char *key);

/* SHA-256 over method, NUL, path, NUL, body: what identifies "the same request". */
void idempotency_request_hash(const char *method, const char *path, const uint8_t *body,
                              size_t body_bytes, uint8_t hash_out[32]);

/* Claims the key or finds the response to replay (see above). Returns LODE_OK, LODE_EINVAL
 * (malformed key), LODE_ENOTFOUND (no such account), LODE_ECONFLICT (still running; retry
 * later), LODE_EUNPROCESSABLE (key used for a different request), LODE_ENOMEM (arena), or the
 * mapped database error. */
enum lode_code idempotency_begin(struct db_conn *conn, struct arena *arena, int64_t account_id,
                                 const char *key, const uint8_t request_hash[32],
                                 struct idempotency_response *out, struct lode_error *err);

/* Stores the response of a claimed key. Returns LODE_OK, LODE_EINVAL (status outside 100-599
 * or content type too long), LODE_ETOOBIG (body over IDEMPOTENCY_BODY_BYTES_MAX),
 * LODE_ENOTFOUND (no unfinished claim for that key), or the mapped database error. */
enum lode_code idempotency_finish(struct db_conn *conn, int64_t account_id, const char *key,
                                  int status, const char *content_type, const uint8_t *body,
                                  size_t body_bytes, struct lode_error *err);

/* Drops an unfinished claim (no-op when there is none). Returns LODE_OK or the mapped error. */
enum lode_code idempotency_release(struct db_conn *conn, int64_t account_id, const char *key,
                                   struct lode_error *err);

/* Deletes records created more than older_than_s seconds ago; *deleted_out (may be NULL)
 * receives how many. Returns LODE_OK, LODE_EINVAL (negative age), or the mapped error. */
enum lode_code idempotency_purge(struct db_conn *conn, int64_t older_than_s, int64_t *deleted_out,
                                 struct lode_error *err);

#endif
