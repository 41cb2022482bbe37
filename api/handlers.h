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

/* ledger.c */
void handle_ledger_checkpoint(struct request *req);
void handle_ledger_tile(struct request *req);
void handle_ledger_info(struct request *req);
void handle_ledger_inclusion(struct request *req);
void handle_ledger_consistency(struct request *req);
void handle_ledger_entry(struct request *req);
void handle_ledger_leaf(struct request *req);
void handle_attestations_create(struct request *req);

/* datasets.c */
void handle_datasets_create(struct request *req);
void handle_datasets_list(struct request *req);
void handle_datasets_get(struct request *req);
void handle_datasets_update(struct request *req);

/* items.c */
void handle_items_create(struct request *req);
/* Body hook of handle_items_create: streams a file upload (application/octet-stream) into an
 * incremental SHA-256 and a zstd compressor instead of keeping its bytes. */
void items_begin_body(struct request *req);
void handle_items_get(struct request *req);
void handle_items_content(struct request *req);

/* labels.c */
void handle_label_tasks_create(struct request *req);
void handle_label_tasks_get(struct request *req);
void handle_label_gold_set(struct request *req);
void handle_label_next(struct request *req);
void handle_label_submit(struct request *req);
void handle_label_consensus(struct request *req);
void handle_label_agreement(struct request *req);
void handle_label_snapshot(struct request *req);
void handle_label_funding(struct request *req);
void handle_label_funding_withdrawal(struct request *req);

/* money.c */
void handle_money_deposit(struct request *req);
void handle_money_withdraw(struct request *req);
void handle_money_settle(struct request *req);
void handle_money_withdrawals_list(struct request *req);
void handle_money_balance(struct request *req);
void handle_money_statement(struct request *req);
void handle_money_juror_stake(struct request *req);
void handle_money_juror_unstake(struct request *req);

/* bonds.c */
void handle_bonds_post(struct request *req);
void handle_bonds_list(struct request *req);
void handle_bonds_get(struct request *req);
void handle_bonds_challenge(struct request *req);
void handle_bonds_commit(struct request *req);
void handle_bonds_reveal(struct request *req);
void handle_bonds_appeal(struct request *req);
void handle_bonds_jury(struct request *req);
void handle_account_reputation(struct request *req);
void handle_reputation_config_get(struct request *req);
void handle_reputation_config_put(struct request *req);
/* The bond scheduler: every tick_ms (0 = off) a worker job advances due bonds. */
struct server;
void bonds_scheduler_start(struct server *server, int tick_ms);
void bonds_scheduler_stop(void);

/* detect.c */
void handle_detect(struct request *req);

/* test-only: sleeps in PostgreSQL (enabled by --debug-routes) */
void handle_debug_sleep(struct request *req);

#endif
