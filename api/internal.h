/*
 * api/internal.h — types shared by the files of the api module (not a public contract).
 *
 * Ownership: a `struct loop` owns its connections; a connection owns its requests; a request
 * owns an arena holding everything it allocates (headers, body, response). A request whose
 * database job is in flight when its stream or connection goes away is marked orphaned and
 * freed by the job's completion instead. Everything here is touched only by the loop thread
 * that owns it, except the completion queue (mutex) and the metrics (atomics).
 */
#ifndef LODE_API_INTERNAL_H
#define LODE_API_INTERNAL_H

#include <event2/event.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/limits.h"
#include "storage/account_store.h"
#include "storage/db.h"

struct server;
struct loop;
struct conn;
struct request;
struct route;

/* ---- requests ---- */

struct http_header {
    const char *name; /* lower case */
    const char *value;
};

/* Where a body goes instead of req->body: a route's body hook (router_begin_body) installs one
 * while the headers are read, and request_append_body hands it each chunk as it arrives (on the
 * loop thread), after checking the route's limit on raw bytes; req->body_len still counts them.
 * write returns LODE_OK, or an error code with err filled (the request then answers it). */
struct body_sink {
    enum lode_code (*write)(void *state, const char *data, size_t len, struct lode_error *err);
    void *state; /* in the request's arena */
};

#define ROUTE_PARAMS_MAX 4
#define RESPONSE_HEADERS_MAX 16

struct request {
    struct arena *arena;
    struct conn *conn;      /* NULL once orphaned */
    struct server *server;
    struct loop *loop;
    struct request *next_in_conn;
    int32_t stream_id;      /* HTTP/2 stream, 0 for HTTP/1.1 */

    /* request line and headers */
    const char *method;
    const char *target;     /* raw request target */
    const char *path;       /* percent-decoded path, no query */
    const char *query;      /* raw query string after '?', or "" */
    const char *authority;
    struct http_header headers[LODE_HEADER_COUNT_MAX];
    int header_count;
    size_t header_bytes;
    enum lode_code early_error; /* set while reading: answered once the request is complete */
    struct lode_error early_err;

    /* body */
    char *body;
    size_t body_len;
    size_t body_cap;
    size_t body_limit;
    bool body_too_large;
    struct body_sink sink; /* write == NULL: the body is kept in `body` */

    /* routing */
    const struct route *route;
    int route_index;
    const char *params[ROUTE_PARAMS_MAX];
    int param_count;
    struct principal principal;
    bool authenticated;

    /* response */
    int status;
    const char *resp_content_type;
    struct http_header resp_headers[RESPONSE_HEADERS_MAX];
    int resp_header_count;
    const char *resp_body;
    size_t resp_body_len;
    size_t resp_body_sent; /* HTTP/2 data provider offset */
    bool responded;
    bool ledger_waiting;     /* on its loop's ledger waiter list */
    size_t discarded_bytes; /* HTTP/2: body bytes dropped after an early response */
    bool reset_sent;

    /* lifecycle */
    char request_id[33];
    uint64_t start_ns;
    bool in_flight;          /* a database job holds this request */
    bool orphaned;           /* its stream or connection is gone */
    struct event *deadline;  /* route timeout */
    struct db_job job;
    struct arena *job_arena; /* for allocations on the worker: the loop may still answer meanwhile */
    void (*continuation)(struct request *req); /* runs on the loop after the job */
    void *user;              /* handler state */
    struct request *next_done; /* completion queue link */
};

/* Response helpers (request.c). Each sends the response: call exactly one per request. */
void reply_json(struct request *req, int status, json_t *body); /* steals body; NULL = no body */
void reply_text(struct request *req, int status, const char *content_type, const char *body,
                size_t len);
void reply_problem(struct request *req, const struct lode_error *err);
void reply_empty(struct request *req, int status);
void reply_header(struct request *req, const char *name, const char *value);

/* Status and problem type for an error code. */
int api_status_for(enum lode_code code);
/* The reason phrase of a status code ("Not Found"). */
const char *api_status_reason(int status);
/* After a database job: false if it succeeded; otherwise answers its problem and returns true. */
bool request_job_failed(struct request *req);

/* Request helpers (request.c). */
const char *request_header(const struct request *req, const char *lower_name);

/* Whether an Accept-Encoding field value (RFC 9110 section 12.5.3) accepts the content coding
 * `coding` (lower case): named with a weight above 0, or covered by "*" with one. Codings are
 * compared case-insensitively; a malformed element or weight counts as not accepting; values
 * over ACCEPT_ENCODING_BYTES_MAX are not read (false). NULL value: false. */
#define ACCEPT_ENCODING_BYTES_MAX 1024
bool http_accepts_coding(const char *value, const char *coding);
/* Looks up a query parameter (percent-decoded into the arena); NULL when absent.
 * Returns false (and fills err) for a malformed query. */
bool request_query(struct request *req, const char *name, const char **value_out,
                   struct lode_error *err);
/* Parses route parameter i as a positive int64 id; fills err with a 404-worthy message. */
enum lode_code request_param_id(struct request *req, int i, int64_t *id_out,
                                struct lode_error *err);
/* The Idempotency-Key header checked for form (1 to IDEMPOTENCY_KEY_BYTES_MAX printable ASCII
 * characters). *key_out is NULL when the header is absent; that is an error only when
 * `required` (money-moving requests). Returns false with a 400 problem in err. */
bool request_idempotency_key(struct request *req, bool required, const char **key_out,
                             struct lode_error *err);
/* On a worker: claims the key for the caller's account or finds the response to replay
 * (storage/idempotency_store.h, idempotency_begin), with the house message for a key whose first
 * request still runs (LODE_ECONFLICT). */
struct idempotency_response;
enum lode_code request_idempotency_claim(struct db_conn *conn, struct request *req,
                                         const char *key, const uint8_t request_hash[32],
                                         struct idempotency_response *out,
                                         struct lode_error *err);
/* On a worker, inside the request's transaction: records `body` (compact JSON) as the 201
 * answer to replay for `key` of account_id (idempotency_finish). body NULL (it could not be
 * built) is LODE_ENOMEM. */
enum lode_code request_idempotency_finish_json(struct db_conn *conn, int64_t account_id,
                                               const char *key, const json_t *body,
                                               struct lode_error *err);
/* Parses the body as a JSON object under the route's limits. */
json_t *request_json_body(struct request *req, struct lode_error *err);
/* The same, owned by the request (request_own_json), with no member outside `fields`
 * (NULL-terminated; json_object_check_fields). NULL with the problem in err. */
json_t *request_json_fields(struct request *req, const char *const *fields,
                            struct lode_error *err);
/* Renderers shared by the handlers: an RFC 3339 UTC time from Unix milliseconds (null for 0),
 * lower-case hex and padded base64 of bytes. */
json_t *json_time_ms(int64_t ms);
json_t *json_hex(const uint8_t *bytes, size_t len);
json_t *json_base64(const uint8_t *bytes, size_t len);

/* Releases the JSON value when the request ends. */
void request_own_json(struct request *req, json_t *value);
/* The same from a database job (`run`): the value goes with req->job_arena, which outlives an
 * answer the loop gives meanwhile (deadline). */
void request_job_own_json(struct request *req, json_t *value);

/* Runs `run` on a database worker, then `continuation` on the loop. On a full queue answers
 * 503 itself. While the job runs the loop may answer the request (its deadline passed), so
 * `run` allocates only from req->job_arena, never from req->arena. */
void request_run_db(struct request *req,
                    enum lode_code (*run)(struct db_conn *conn, struct db_job *job),
                    void (*continuation)(struct request *req));

/* Called by protocol adapters. */
struct request *request_new(struct conn *conn, int32_t stream_id);
void request_free(struct request *req);
bool request_add_header(struct request *req, const char *name, size_t name_len,
                        const char *value, size_t value_len);
bool request_append_body(struct request *req, const char *data, size_t len);
void request_dispatch(struct request *req); /* the request is complete: route it */
/* The stream or connection is gone; frees now unless a job holds it. */
void request_abandon(struct request *req);

/* ---- routes ---- */

#define ROLE_PUBLIC 0u
#define ROLE_ANY_AUTHENTICATED 0x80000000u

struct route {
    const char *method;
    const char *pattern; /* "/v1/accounts/{id}/keys" */
    void (*handler)(struct request *req);
    size_t body_limit;
    int timeout_ms;
    unsigned roles;      /* ROLE_PUBLIC, ROLE_ANY_AUTHENTICATED, or a mask of account roles */
    const char *summary;
};

const struct route *router_routes(size_t *count_out);
/* Runs the route's body hook, if it has one, once its headers are known (it may install
 * req->sink); a hook answers nothing itself and reports failures through req->early_err. */
void router_begin_body(struct request *req);
void router_enable_debug(bool on);
void request_headers_done(struct request *req);
void request_drain_completions(evutil_socket_t fd, short what, void *arg);

enum route_match { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_NO_METHOD };

/* Matches method and decoded path; on ROUTE_FOUND fills index and params (arena-allocated).
 * On ROUTE_NO_METHOD writes the allowed methods ("GET, POST") to allow_out. */
enum route_match router_match(struct arena *arena, const char *method, const char *path,
                              int *index_out, const char **params_out, int *param_count_out,
                              char *allow_out, size_t allow_cap);

/* ---- connections ---- */

enum conn_proto { PROTO_UNKNOWN, PROTO_H1, PROTO_H2 };

struct conn {
    struct loop *loop;
    struct bufferevent *bev;
    enum conn_proto proto;
    bool tls;
    bool closing;      /* close once pending output is written */
    char remote[NI_MAXHOST + NI_MAXSERV + 2];
    struct request *requests; /* live requests on this connection */
    struct conn *prev, *next;  /* loop's list */
    void *proto_state;         /* struct h2_state or struct h1_state */
    struct event *header_timer; /* HTTP/1.1: headers must arrive in time */
    struct event *close_event;  /* deferred close, so callbacks never free their caller */
};

/* Protocol adapter entry points. */
bool h2_start(struct conn *c);               /* session created; false on failure */
void h2_on_read(struct conn *c);
void h2_send_response(struct request *req);
void h2_stream_done(struct conn *c);          /* flush after a response */
void h2_shutdown(struct conn *c);             /* GOAWAY */
void h2_free(struct conn *c);

bool h1_start(struct conn *c);
void h1_on_read(struct conn *c);
void h1_send_response(struct request *req);
void h1_shutdown(struct conn *c);
void h1_free(struct conn *c);

/* Closes now and frees the connection; its requests are abandoned (orphaned while a job holds
 * them). Never called from inside a protocol callback: those use conn_close_after_write. */
void conn_close(struct conn *c);
void conn_close_after_write(struct conn *c);

/* ---- loops and the server ---- */

struct loop {
    struct server *server;
    struct event_base *base;
    pthread_t thread;
    int index;
    struct evconnlistener *listeners[2];
    struct conn *conns;
    int conn_count;
    pthread_mutex_t done_lock;
    struct request *done_head, *done_tail; /* completed database jobs */
    struct event *done_event;
    struct event *shutdown_event;
    struct event *reap_timer;
    bool shutting_down;
    /* requests waiting for their ledger entry to be integrated (api/ledger.c) */
    struct request *ledger_waiters;
    unsigned ledger_generation; /* bumped at every wake */
    struct event *ledger_wake;  /* activated from the sequencer's thread */
    struct event *ledger_poll;  /* fallback poll while there are waiters */
};

struct server {
    struct api_config config;
    struct db_pool *pool;
    struct ssl_ctx_st *ssl_ctx;
    struct loop *loops;
    int loop_count;
    atomic_int conn_total;
    atomic_bool shutting_down;
    atomic_int loops_running;
    int listen_fds[2];
    struct ledger_sequencer *sequencer;
    struct detector_model *detector; /* NULL when no model could be loaded */
    struct maintenance *maintenance;  /* periodic database upkeep (server.c) */
    const char *ledger_origin;
    const char *ledger_vkey;
};

/* ---- rate limits (ratelimit.c) ---- */

/* Takes one token from the account's bucket (burst size, refill rate). Returns false when
 * empty, with the seconds until a token is back. */
bool ratelimit_take(int64_t account_id, double burst, double per_second, int *remaining_out,
                    int *retry_after_s_out);

/* ---- the ledger (ledger.c) ---- */

void ledger_wake_waiters(evutil_socket_t fd, short what, void *arg);
void ledger_forget_waiter(struct request *req);
/* Queues `entry` (stolen) in the ledger and answers 201 with its receipt once integrated. */
void ledger_append_and_reply(struct request *req, json_t *entry);

/* Where one committed ledger entry landed: its index and leaf hash, and its inclusion proof
 * (in the request's arena) against the checkpoint handed to the callback with it. */
struct ledger_receipt {
    uint64_t index;
    uint8_t leaf_hash[32];
    uint8_t (*proof)[32];
    size_t proof_count;
};

/* Waits until every queued entry (queue ids of committed ledger_queue rows, in queue order;
 * copied) is integrated, then calls done on the loop with one receipt per id and the
 * checkpoint covering all of them as JSON (done owns it); done must reply. The ledger takes
 * over req->user; the caller's own state travels as `state`. Failures reply with a problem
 * and never call done. */
void ledger_await_receipts(struct request *req, const int64_t *queue_ids, size_t count,
                           void *state,
                           void (*done)(struct request *req, void *state,
                                        const struct ledger_receipt *receipts, size_t count,
                                        json_t *checkpoint));

/* Renderers for the ledger parts of responses: a proof as base64 hashes, and one receipt as
 * {index, leaf_hash, checkpoint (stolen), inclusion_proof}. */
json_t *ledger_proof_json(const uint8_t (*proof)[32], size_t count);
json_t *ledger_receipt_json(const struct ledger_receipt *r, json_t *checkpoint);

/* The answer of a money-moving POST (api/money.c, api/label_funding.c): the JSON response
 * stored with its Idempotency-Key, built now or replayed, and the ledger entry whose receipt it
 * waits for. The transaction fills it; recorded_reply_keep() after db_tx, recorded_reply_send()
 * on the loop. */
struct idempotency_response;
struct recorded_reply {
    json_t *body;     /* with "ledger_queue_id" while it waits */
    bool replayed;
    int64_t queue_id; /* 0: no ledger entry */
};

/* Forgets an earlier attempt of the transaction (db_tx may run it again). */
void recorded_reply_reset(struct recorded_reply *r);
/* Takes the stored response of a replay as the answer; LODE_EINTERNAL when it cannot be read. */
enum lode_code recorded_reply_replay(struct recorded_reply *r,
                                     const struct idempotency_response *replay,
                                     struct lode_error *err);
/* After db_tx returned rc (on the worker): the body is dropped on failure, else released with
 * the request. */
void recorded_reply_keep(struct request *req, struct recorded_reply *r, enum lode_code rc);
/* Answers 201 with a copy of the body, its "ledger_queue_id" replaced by the entry's receipt
 * ("ledger") once that is in, with `idempotent-replayed: true` for a replay. */
void recorded_reply_send(struct request *req, struct recorded_reply *r);

/* ---- metrics (metrics.c) ---- */

void metrics_init(size_t route_count);
void metrics_record(int route_index, int status, uint64_t duration_ns);
void metrics_connection(int delta);
/* Renders Prometheus text into the arena. */
char *metrics_render(struct arena *arena, struct server *server, size_t *len_out);

/* ---- the embedded OpenAPI document (generated at build time) ---- */

extern const char lode_openapi_json[];
extern const size_t lode_openapi_json_len;

uint64_t monotonic_ns(void);

#endif
