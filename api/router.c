/*
 * api/router.c — the route table (routes are data) and path matching.
 *
 * A pattern is a sequence of literal segments and {name} parameters; a last segment {*name}
 * takes the rest of the path, slashes included (tile paths). Otherwise matching is by exact
 * segment count; no two patterns of one method overlap (a unit test checks). HEAD is accepted
 * wherever GET is.
 */
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"

#define KB 1024
#define SMALL_BODY (16 * KB)

static const struct route routes[] = {
    {"GET", "/healthz", handle_healthz, 0, 1000, ROLE_PUBLIC, "process is alive"},
    {"GET", "/readyz", handle_readyz, 0, 5000, ROLE_PUBLIC,
     "database reachable and migrations current"},
    {"GET", "/metrics", handle_metrics, 0, 5000, ROLE_PUBLIC, "Prometheus metrics"},
    {"GET", "/openapi.json", handle_openapi, 0, 1000, ROLE_PUBLIC, "this API's OpenAPI document"},
    {"GET", "/v1/me", handle_me, 0, 5000, ROLE_ANY_AUTHENTICATED, "the calling account"},
    {"POST", "/v1/accounts", handle_accounts_create, SMALL_BODY, 5000, ROLE_OPERATOR,
     "create an account"},
    {"GET", "/v1/accounts", handle_accounts_list, 0, 5000, ROLE_OPERATOR, "list accounts"},
    {"GET", "/v1/accounts/{id}", handle_accounts_get, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "get an account"},
    {"POST", "/v1/accounts/{id}/tokens", handle_tokens_create, SMALL_BODY, 5000,
     ROLE_ANY_AUTHENTICATED, "issue an API token"},
    {"GET", "/v1/accounts/{id}/tokens", handle_tokens_list, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "list an account's API tokens"},
    {"DELETE", "/v1/accounts/{id}/tokens/{token_id}", handle_tokens_revoke, 0, 5000,
     ROLE_ANY_AUTHENTICATED, "revoke an API token"},
    {"POST", "/v1/accounts/{id}/keys", handle_keys_create, SMALL_BODY, 5000,
     ROLE_ANY_AUTHENTICATED, "register an Ed25519 public key"},
    {"GET", "/v1/accounts/{id}/keys", handle_keys_list, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "list an account's public keys"},
    {"GET", "/ledger/checkpoint", handle_ledger_checkpoint, 0, 5000, ROLE_PUBLIC,
     "the latest signed checkpoint (C2SP signed note)"},
    {"GET", "/ledger/tile/{*tile}", handle_ledger_tile, 0, 10000, ROLE_PUBLIC,
     "a hash tile or entry bundle (C2SP tlog-tiles)"},
    {"GET", "/v1/ledger", handle_ledger_info, 0, 5000, ROLE_PUBLIC,
     "origin, verifier key and latest checkpoint"},
    {"GET", "/v1/ledger/proofs/inclusion", handle_ledger_inclusion, 0, 10000, ROLE_PUBLIC,
     "inclusion proof of an entry"},
    {"GET", "/v1/ledger/proofs/consistency", handle_ledger_consistency, 0, 10000, ROLE_PUBLIC,
     "consistency proof between two tree sizes"},
    {"GET", "/v1/ledger/entries/{index}", handle_ledger_entry, 0, 10000, ROLE_PUBLIC,
     "one ledger entry by index"},
    {"GET", "/v1/ledger/leaves/{leaf_hash}", handle_ledger_leaf, 0, 5000, ROLE_PUBLIC,
     "the index of an entry by its leaf hash"},
    {"POST", "/v1/attestations", handle_attestations_create, 4096, 30000, ROLE_ANY_AUTHENTICATED,
     "attest a SHA-256 in the ledger"},
    {"POST", "/v1/datasets", handle_datasets_create, SMALL_BODY, 5000,
     ROLE_CONTRIBUTOR | ROLE_PUBLISHER, "create a dataset"},
    {"GET", "/v1/datasets", handle_datasets_list, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "list datasets"},
    {"GET", "/v1/datasets/{id}", handle_datasets_get, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "get a dataset"},
    {"PATCH", "/v1/datasets/{id}", handle_datasets_update, SMALL_BODY, 5000,
     ROLE_ANY_AUTHENTICATED, "change a dataset's description or policy"},
    {"POST", "/v1/datasets/{id}/items", handle_items_create, LODE_ITEM_FILE_BYTES_MAX, 60000,
     ROLE_CONTRIBUTOR | ROLE_PUBLISHER, "contribute records or a file"},
    {"GET", "/v1/items/{sha256}", handle_items_get, 0, 10000, ROLE_ANY_AUTHENTICATED,
     "provenance of an item"},
    {"GET", "/v1/items/{sha256}/content", handle_items_content, 0, 30000,
     ROLE_ANY_AUTHENTICATED, "the bytes of an item"},
    {"POST", "/v1/label-tasks", handle_label_tasks_create, SMALL_BODY + LODE_LABEL_INSTRUCTIONS_BYTES_MAX,
     5000, ROLE_ANY_AUTHENTICATED, "create a labeling task on a dataset"},
    {"GET", "/v1/label-tasks/{id}", handle_label_tasks_get, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "get a labeling task"},
    {"POST", "/v1/label-tasks/{id}/gold", handle_label_gold_set, 256 * KB, 10000,
     ROLE_ANY_AUTHENTICATED, "set gold answers of a labeling task"},
    {"GET", "/v1/label-tasks/{id}/next", handle_label_next, 0, 5000, ROLE_LABELER,
     "the next item for the calling labeler"},
    {"POST", "/v1/label-tasks/{id}/labels", handle_label_submit, SMALL_BODY, 30000, ROLE_LABELER,
     "submit a label"},
    {"GET", "/v1/label-tasks/{id}/consensus", handle_label_consensus, 0, 30000,
     ROLE_ANY_AUTHENTICATED, "consensus labels of a labeling task"},
    {"GET", "/v1/label-tasks/{id}/agreement", handle_label_agreement, 0, 30000,
     ROLE_ANY_AUTHENTICATED, "agreement and labeler quality of a labeling task"},
    {"POST", "/v1/label-tasks/{id}/consensus/snapshots", handle_label_snapshot, SMALL_BODY, 30000,
     ROLE_ANY_AUTHENTICATED, "publish a consensus snapshot in the ledger"},
    {"POST", "/v1/label-tasks/{id}/funding", handle_label_funding, SMALL_BODY, 30000,
     ROLE_ANY_AUTHENTICATED, "move money into a labeling task's budget"},
    {"POST", "/v1/label-tasks/{id}/funding/withdrawals", handle_label_funding_withdrawal,
     SMALL_BODY, 30000, ROLE_ANY_AUTHENTICATED,
     "take back what no lease reserves of a labeling task's budget"},
    {"GET", "/v1/accounts/{id}/balance", handle_money_balance, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "an account's balances per currency"},
    {"GET", "/v1/accounts/{id}/statement", handle_money_statement, 0, 10000,
     ROLE_ANY_AUTHENTICATED, "an account's journal lines, paginated"},
    {"POST", "/v1/accounts/{id}/deposits", handle_money_deposit, LODE_MONEY_BODY_BYTES_MAX, 30000,
     ROLE_OPERATOR, "credit a deposit to an account"},
    {"POST", "/v1/accounts/{id}/withdrawals", handle_money_withdraw, LODE_MONEY_BODY_BYTES_MAX,
     30000, ROLE_ANY_AUTHENTICATED, "withdraw money from an account"},
    {"GET", "/v1/withdrawals", handle_money_withdrawals_list, 0, 10000, ROLE_ANY_AUTHENTICATED,
     "list withdrawals (operators: all; others: their own)"},
    {"POST", "/v1/withdrawals/{id}/settle", handle_money_settle, LODE_MONEY_BODY_BYTES_MAX, 30000,
     ROLE_OPERATOR, "settle a withdrawal as paid or failed"},
    {"POST", "/v1/bonds", handle_bonds_post, SMALL_BODY, 30000, ROLE_PUBLISHER,
     "post a veracity bond on a dataset, item or claim"},
    {"GET", "/v1/bonds", handle_bonds_list, 0, 10000, ROLE_ANY_AUTHENTICATED, "list bonds"},
    {"GET", "/v1/bonds/{id}", handle_bonds_get, 0, 5000, ROLE_ANY_AUTHENTICATED,
     "a bond with its rounds, jurors, deadlines, outcome and ledger entries"},
    {"POST", "/v1/bonds/{id}/challenges", handle_bonds_challenge, SMALL_BODY + LODE_BOND_EVIDENCE_BYTES_MAX,
     30000, ROLE_FACT_CHECKER, "challenge a bond with a counter-stake and evidence"},
    {"POST", "/v1/bonds/{id}/commitments", handle_bonds_commit, 4096, 30000, ROLE_FACT_CHECKER,
     "commit a juror's hidden vote"},
    {"POST", "/v1/bonds/{id}/reveals", handle_bonds_reveal, 4096, 30000, ROLE_FACT_CHECKER,
     "reveal a juror's committed vote"},
    {"POST", "/v1/bonds/{id}/appeals", handle_bonds_appeal, 4096, 30000,
     ROLE_PUBLISHER | ROLE_FACT_CHECKER, "appeal a first-round ruling"},
    {"GET", "/v1/bonds/{id}/jury", handle_bonds_jury, 0, 10000, ROLE_PUBLIC,
     "the public inputs and result of a jury draw"},
    {"GET", "/v1/accounts/{id}/reputation", handle_account_reputation, 0, 10000,
     ROLE_ANY_AUTHENTICATED, "reputation scores of an account with their evidence"},
    {"GET", "/v1/reputation/config", handle_reputation_config_get, 0, 5000,
     ROLE_ANY_AUTHENTICATED, "the bond and reputation rules in force"},
    {"PUT", "/v1/reputation/config", handle_reputation_config_put, LODE_REPUTATION_CONFIG_BYTES_MAX,
     5000, ROLE_OPERATOR, "replace the bond and reputation rules"},
    {"POST", "/v1/juror-stake", handle_money_juror_stake, LODE_MONEY_BODY_BYTES_MAX, 10000,
     ROLE_FACT_CHECKER, "stake money to serve on juries"},
    {"POST", "/v1/juror-stake/withdrawals", handle_money_juror_unstake, LODE_MONEY_BODY_BYTES_MAX,
     10000, ROLE_ANY_AUTHENTICATED, "take juror stake back"},
    {"POST", "/v1/detect", handle_detect, 96 * KB, 10000, ROLE_ANY_AUTHENTICATED,
     "score a text for machine generation"},
    /* debug routes last, counted only when enabled (test servers) */
    {"GET", "/debug/sleep", handle_debug_sleep, 0, 30000, ROLE_PUBLIC,
     "sleep in PostgreSQL (test servers only)"},
};

#define DEBUG_ROUTE_COUNT 1

/* Routes whose bodies may be streamed: the hook decides per request (from its headers) whether
 * to install a body sink. */
static const struct {
    void (*handler)(struct request *req);
    void (*begin_body)(struct request *req);
} body_hooks[] = {
    {handle_items_create, items_begin_body},
};

void router_begin_body(struct request *req)
{
    for (size_t i = 0; i < sizeof body_hooks / sizeof body_hooks[0]; i++)
        if (req->route->handler == body_hooks[i].handler) {
            body_hooks[i].begin_body(req);
            return;
        }
}

static bool debug_enabled;

void router_enable_debug(bool on)
{
    debug_enabled = on;
}

const struct route *router_routes(size_t *count_out)
{
    *count_out = sizeof routes / sizeof routes[0] - (debug_enabled ? 0 : DEBUG_ROUTE_COUNT);
    return routes;
}

/* Compares one pattern with a path; fills params on success. */
static bool pattern_matches(struct arena *arena, const char *pattern, const char *path,
                            const char **params, int *param_count)
{
    const char *p = pattern, *s = path;
    int n = 0;

    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend != NULL ? (size_t)(pend - p) : strlen(p);
        size_t slen = send != NULL ? (size_t)(send - s) : strlen(s);
        if (plen > 1 && p[0] == '{' && p[1] == '*') { /* the rest of the path */
            size_t rest = strlen(s);
            if (rest == 0 || n >= ROUTE_PARAMS_MAX)
                return false;
            params[n++] = arena != NULL ? arena_strndup(arena, s, rest) : "";
            *param_count = n;
            return true;
        }
        if (plen > 0 && p[0] == '{') {
            if (slen == 0 || n >= ROUTE_PARAMS_MAX)
                return false;
            params[n++] = arena != NULL ? arena_strndup(arena, s, slen) : "";
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*p != '\0' || *s != '\0')
        return false;
    *param_count = n;
    return true;
}

enum route_match router_match(struct arena *arena, const char *method, const char *path,
                              int *index_out, const char **params_out, int *param_count_out,
                              char *allow_out, size_t allow_cap)
{
    size_t count;
    const struct route *table = router_routes(&count);
    bool path_seen = false;
    bool is_head = strcmp(method, "HEAD") == 0;

    allow_out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int pc = 0;
        if (!pattern_matches(NULL, table[i].pattern, path, params_out, &pc))
            continue;
        if (strcmp(table[i].method, method) == 0 ||
            (is_head && strcmp(table[i].method, "GET") == 0)) {
            pattern_matches(arena, table[i].pattern, path, params_out, param_count_out);
            *index_out = (int)i;
            return ROUTE_FOUND;
        }
        path_seen = true;
        size_t used = strlen(allow_out);
        snprintf(allow_out + used, allow_cap - used, "%s%s", used > 0 ? ", " : "",
                 table[i].method);
        if (strcmp(table[i].method, "GET") == 0) {
            used = strlen(allow_out);
            snprintf(allow_out + used, allow_cap - used, ", HEAD");
        }
    }
    return path_seen ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}
