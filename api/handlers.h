/*
 * api/handlers.h — the request handlers, one per route (see router.c for the table).
 *
 * A handler parses its input, calls one domain or store function (on a database worker through
 * request_run_db when it needs PostgreSQL) and renders the result or a problem. Handlers never
 * free: everything they allocate belongs to the request's arena.
 */
#ifndef LODE_API_HANDLERS_H
#define LODE_API_HANDLERS_H

struct request;

/* system.c */
void handle_healthz(struct request *req);
void handle_readyz(struct request *req);
void handle_metrics(struct request *req);
void handle_openapi(struct request *req);

/* accounts.c */
void handle_me(struct request *req);
void handle_accounts_create(struct request *req);
void handle_accounts_list(struct request *req);
void handle_accounts_get(struct request *req);
void handle_tokens_create(struct request *req);
void handle_tokens_list(struct request *req);
void handle_tokens_revoke(struct request *req);
void handle_keys_create(struct request *req);
void handle_keys_list(struct request *req);

/* test-only: sleeps in PostgreSQL (enabled by --debug-routes) */
void handle_debug_sleep(struct request *req);

#endif
