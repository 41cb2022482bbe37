/*
 * storage/bond_store.c — bonds through the engine, the journal and the ledger in one
 * transaction (storage/bond_store.h).
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "core/json.h"
#include "ledger/entry.h"
#include "storage/bond_store.h"
#include "storage/db_internal.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"

#define JUROR_STAKE_KIND 3 /* money_balances.kind of JUROR_STAKE accounts */

/* ---- names and hashes ---- */

const char *bond_subject_kind_name(enum bond_subject_kind kind)
{
    switch (kind) {
    case BOND_SUBJECT_DATASET:
        return "dataset";
    case BOND_SUBJECT_ITEM:
        return "item";
    case BOND_SUBJECT_CLAIM:
        return "claim";
    }
    return "unknown";
}

bool bond_subject_kind_parse(const char *name, enum bond_subject_kind *kind_out)
{
    for (int k = BOND_SUBJECT_DATASET; k <= BOND_SUBJECT_CLAIM; k++)
        if (strcmp(name, bond_subject_kind_name((enum bond_subject_kind)k)) == 0) {
            *kind_out = (enum bond_subject_kind)k;
            return true;
        }
    return false;
}

const char *bond_entry_type(enum reputation_event_type type)
{
    switch (type) {
    case REPUTATION_EVENT_BOND_POSTED:
        return "bond.posted";
    case REPUTATION_EVENT_CHALLENGE_FILED:
        return "challenge.filed";
    case REPUTATION_EVENT_JUROR_DRAWN:
        return "juror.drawn";
    case REPUTATION_EVENT_VOTE_COMMITTED:
        return "vote.committed";
    case REPUTATION_EVENT_VOTE_REVEALED:
        return "vote.revealed";
    case REPUTATION_EVENT_ROUND_DECIDED:
        return "round.decided";
    case REPUTATION_EVENT_APPEAL_FILED:
        return "appeal.filed";
    case REPUTATION_EVENT_JUROR_SETTLED:
        return "juror.settled";
    case REPUTATION_EVENT_BOND_RESOLVED:
        return "bond.resolved";
    }
    return "unknown";
}

static void put_be64(uint8_t *out, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
}

void bond_pool_hash(int64_t bond_id, int round, const struct reputation_juror *pool, size_t count,
                    uint8_t hash_out[REPUTATION_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    uint8_t head[sizeof BOND_POOL_HASH_TAG - 1 + 9];
    uint8_t member[24];

    memcpy(head, BOND_POOL_HASH_TAG, sizeof BOND_POOL_HASH_TAG - 1);
    put_be64(head + sizeof BOND_POOL_HASH_TAG - 1, bond_id);
    head[sizeof head - 1] = (uint8_t)round;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, head, sizeof head);
    for (size_t i = 0; i < count; i++) {
        put_be64(member, pool[i].account);
        put_be64(member + 8, pool[i].stake);
        put_be64(member + 16, pool[i].factor_bps);
        crypto_hash_sha256_update(&st, member, sizeof member);
    }
    crypto_hash_sha256_final(&st, hash_out);
}

/* ---- configuration ---- */

enum lode_code bond_config_get(struct db_conn *conn, struct reputation_config *cfg_out,
                               int64_t *version_out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc = db_query(conn, "SELECT params::text, version FROM reputation_config",
                                 NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "could not find the reputation configuration");
    }
    rc = reputation_config_parse(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), cfg_out,
                                 err);
    if (rc == LODE_OK && version_out != NULL)
        *version_out = db_result_int64(res, 0, 1);
    PQclear(res);
    if (rc != LODE_OK)
        return lode_error_set(err, LODE_EINTERNAL, "could not read the stored configuration: %s",
                              err->message);
    return LODE_OK;
}

/* Serialises a configuration or an engine state (compact JSON, malloc'd). */
static char *dump_json(json_t *obj, struct lode_error *err)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL)
        lode_error_set(err, LODE_ENOMEM, "could not encode the bond");
    return text;
}

enum lode_code bond_config_put(struct db_conn *conn, const struct reputation_config *cfg,
                               int64_t actor_id, int64_t *version_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc = reputation_config_check(cfg, err);
    char *text;

    if (rc != LODE_OK)
        return rc;
    text = dump_json(reputation_config_json(cfg), err);
    if (text == NULL)
        return err->code;
    db_params_init(&p);
    db_params_text(&p, text);
    if (actor_id > 0)
        db_params_int64(&p, actor_id);
    else
        db_params_text(&p, NULL);
    rc = db_query(conn,
                  "UPDATE reputation_config SET params = $1::jsonb, version = version + 1,"
                  " updated_by = $2, updated_at = now() RETURNING version",
                  &p, &res, err);
    free(text);
    if (rc != LODE_OK)
        return rc;
    if (version_out != NULL && PQntuples(res) == 1)
        *version_out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

/* ---- loading and storing a bond ---- */

#define ROW_COLUMNS                                                                                \
    "b.currency, b.subject_kind, b.subject_ref, b.version, coalesce(b.next_deadline_ms, -1),"      \
    " coalesce(b.draw_queue_id, 0), coalesce(b.draw_error, ''),"                                   \
    " (extract(epoch from b.created_at) * 1000)::bigint, b.config::text, b.engine::text"

static enum lode_code row_read(const PGresult *res, int i, struct bond_row *row,
                               struct lode_error *err)
{
    char kind[16];
    int64_t deadline;
    enum lode_code rc;

    memset(row, 0, sizeof *row);
    db_result_text(res, i, 0, row->currency, sizeof row->currency);
    db_result_text(res, i, 1, kind, sizeof kind);
    if (!bond_subject_kind_parse(kind, &row->subject_kind))
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored bond's subject kind");
    db_result_text(res, i, 2, row->subject_ref, sizeof row->subject_ref);
    row->version = db_result_int64(res, i, 3);
    deadline = db_result_int64(res, i, 4);
    row->next_deadline_ms = deadline < 0 ? INT64_MAX : deadline;
    row->draw_queue_id = db_result_int64(res, i, 5);
    db_result_text(res, i, 6, row->draw_error, sizeof row->draw_error);
    row->created_at_ms = db_result_int64(res, i, 7);
    rc = reputation_config_parse(PQgetvalue(res, i, 8), (size_t)PQgetlength(res, i, 8),
                                 &row->config, err);
    if (rc == LODE_OK)
        rc = reputation_bond_parse(PQgetvalue(res, i, 9), (size_t)PQgetlength(res, i, 9),
                                   &row->engine, err);
    if (rc != LODE_OK)
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored bond: %s",
                              err->message);
    return LODE_OK;
}

static enum lode_code row_load(struct db_conn *conn, int64_t id, bool for_update,
                               struct bond_row *row, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn,
                  for_update ? "SELECT " ROW_COLUMNS " FROM bonds b WHERE b.id = $1 FOR UPDATE"
                             : "SELECT " ROW_COLUMNS " FROM bonds b WHERE b.id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "bond %lld does not exist", (long long)id);
    }
    rc = row_read(res, 0, row, err);
    PQclear(res);
    return rc;
}

enum lode_code bond_get(struct db_conn *conn, int64_t bond_id, struct bond_row *row_out,
                        struct lode_error *err)
{
    return row_load(conn, bond_id, false, row_out, err);
}

enum lode_code bond_save(struct db_conn *conn, struct bond_row *row, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char *engine;
    int64_t deadline = reputation_bond_next_deadline(&row->engine);

    engine = dump_json(reputation_bond_json(&row->engine), err);
    if (engine == NULL)
        return err->code;
    db_params_init(&p);
    db_params_int64(&p, row->engine.id);
    db_params_int64(&p, row->version);
    db_params_text(&p, reputation_bond_state_name(row->engine.state));
    db_params_text(&p, reputation_outcome_name(row->engine.outcome));
    if (deadline == INT64_MAX)
        db_params_text(&p, NULL);
    else
        db_params_int64(&p, deadline);
    if (row->draw_queue_id > 0)
        db_params_int64(&p, row->draw_queue_id);
    else
        db_params_text(&p, NULL);
    db_params_text(&p, engine);
    if (row->engine.challenger > 0)
        db_params_int64(&p, row->engine.challenger);
    else
        db_params_text(&p, NULL);
    rc = db_query(conn,
                  "UPDATE bonds SET state = $3, outcome = $4, next_deadline_ms = $5,"
                  " draw_queue_id = $6, engine = $7::jsonb, challenger_id = $8,"
                  " version = version + 1, draw_error = NULL, draw_retry_ms = 0,"
                  " updated_at = now() WHERE id = $1 AND version = $2 RETURNING version",
                  &p, &res, err);
    free(engine);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lode_error_set(err, LODE_ECONFLICT, "could not store bond %lld: it changed "
                                                   "meanwhile; retry",
                              (long long)row->engine.id);
    }
    row->version = db_result_int64(res, 0, 0);
    row->next_deadline_ms = deadline;
    row->draw_error[0] = '\0';
    PQclear(res);
    return LODE_OK;
}

/* ---- effects: money, ledger entries, observations ---- */

static enum lode_code post_transfers(struct db_conn *conn, int64_t bond_id,
                                     const struct reputation_effects *fx, struct lode_error *err)
{
    struct money_transfer *mt;
    struct money_context ctx = {"bond", bond_id};
    enum lode_code rc = LODE_OK;

    if (fx->transfer_count == 0)
        return LODE_OK;
    mt = calloc(fx->transfer_count, sizeof *mt);
    if (mt == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the transfers");
    for (size_t i = 0; rc == LODE_OK && i < fx->transfer_count; i++)
        rc = money_transfer_from_engine(&fx->transfers[i], &mt[i], err);
    if (rc == LODE_OK)
        rc = money_post(conn, mt, fx->transfer_count, &ctx, NULL, err);
    free(mt);
    return rc;
}

static bool put_new(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static json_t *hex_json(const uint8_t *bytes, size_t len)
{
    char hex[2 * 64 + 1];
    if (len > 64)
        return NULL;
    hex_encode(bytes, len, hex);
    return json_string(hex);
}

/* The ledger entry of one event: the engine's body, the dotted type, the pool hash of a filing
 * and the checkpoint of a draw. */
static json_t *event_entry(const struct reputation_bond *b, const struct reputation_event *e,
                           const struct reputation_effects *fx,
                           const uint8_t pool_hash[REPUTATION_HASH_BYTES], size_t pool_count)
{
    json_t *obj = reputation_event_json(e, fx);
    bool ok = obj != NULL && put_new(obj, "type", json_string(bond_entry_type(e->type)));

    if (ok && (e->type == REPUTATION_EVENT_CHALLENGE_FILED ||
               e->type == REPUTATION_EVENT_APPEAL_FILED) && pool_hash != NULL)
        ok = put_new(obj, "pool", hex_json(pool_hash, REPUTATION_HASH_BYTES)) &&
             put_new(obj, "pool_members", json_integer((json_int_t)pool_count));
    if (ok && e->type == REPUTATION_EVENT_JUROR_DRAWN && e->round >= 0 && e->round < 2) {
        const struct reputation_round *r = &b->rounds[e->round];
        ok = put_new(obj, "checkpoint_size", json_integer((json_int_t)r->checkpoint_size)) &&
             put_new(obj, "checkpoint_root", hex_json(r->checkpoint_root, REPUTATION_HASH_BYTES));
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static enum lode_code record_entry(struct db_conn *conn, int64_t bond_id, const char *type,
                                   json_t *entry, int64_t *queue_id_out, struct lode_error *err)
{
    struct db_params p;
    char *bytes = NULL;
    size_t len = 0;
    enum lode_code rc = ledger_entry_encode(entry, &bytes, &len, err);

    json_decref(entry);
    if (rc != LODE_OK)
        return rc;
    rc = ledger_enqueue(conn, (const uint8_t *)bytes, len, queue_id_out, err);
    if (rc == LODE_OK) {
        db_params_init(&p);
        db_params_int64(&p, bond_id);
        db_params_text(&p, type);
        db_params_int64(&p, *queue_id_out);
        db_params_text(&p, bytes);
        rc = db_query(conn,
                      "INSERT INTO bond_entries (bond_id, type, ledger_queue_id, entry)"
                      " VALUES ($1, $2, $3, $4)",
                      &p, NULL, err);
    }
    free(bytes);
    return rc;
}

static enum lode_code record_observations(struct db_conn *conn, int64_t bond_id,
                                          const struct reputation_effects *fx, int64_t now_ms,
                                          struct lode_error *err)
{
    enum lode_code rc = LODE_OK;
    for (size_t i = 0; rc == LODE_OK && i < fx->observed_count; i++) {
        const struct reputation_observed *o = &fx->observed[i];
        struct db_params p;
        db_params_init(&p);
        db_params_int64(&p, o->account);
        db_params_text(&p, reputation_role_name(reputation_observation_role(o->observation)));
        db_params_text(&p, reputation_observation_name(o->observation));
        db_params_int64(&p, now_ms);
        db_params_int64(&p, bond_id);
        rc = db_query(conn,
                      "INSERT INTO reputation_observations (account_id, role, observation,"
                      " at_ms, bond_id) VALUES ($1, $2, $3, $4, $5)",
                      &p, NULL, err);
    }
    return rc;
}

/* Posts, records and observes everything in fx for the row's new engine state. A filing's
 * entry becomes the row's draw_queue_id. */
static enum lode_code apply_effects(struct db_conn *conn, struct bond_row *row,
                                    const struct reputation_effects *fx,
                                    const uint8_t *pool_hash, size_t pool_count, int64_t now_ms,
                                    struct bond_step *step, struct lode_error *err)
{
    enum lode_code rc = post_transfers(conn, row->engine.id, fx, err);

    for (size_t i = 0; rc == LODE_OK && i < fx->event_count; i++) {
        const struct reputation_event *e = &fx->events[i];
        json_t *entry = event_entry(&row->engine, e, fx, pool_hash, pool_count);
        int64_t queue_id = 0;
        if (entry == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not build the ledger entry");
        rc = record_entry(conn, row->engine.id, bond_entry_type(e->type), entry, &queue_id, err);
        if (rc != LODE_OK)
            break;
        if (step->queue_count < sizeof step->queue_ids / sizeof step->queue_ids[0])
            step->queue_ids[step->queue_count++] = queue_id;
        if (e->type == REPUTATION_EVENT_CHALLENGE_FILED ||
            e->type == REPUTATION_EVENT_APPEAL_FILED)
            row->draw_queue_id = queue_id;
    }
    if (rc == LODE_OK)
        rc = record_observations(conn, row->engine.id, fx, now_ms, err);
    if (rc == LODE_OK && row->engine.state != REPUTATION_BOND_AWAITING_DRAW)
        row->draw_queue_id = 0;
    return rc;
}

/* ---- steps ---- */

struct step {
    struct bond_row *row;
    struct bond_step *out;
    struct reputation_effects *fx;
    struct reputation_bond next;
    bool advanced; /* step_begin applied a passed deadline */
};

/* Applies, in this transaction, the deadlines that passed at now_ms and the scheduler has not
 * applied yet; false (nothing to do) when none has passed. */
static bool catch_up(struct db_conn *conn, struct step *s, int64_t now_ms, enum lode_code *rc_out,
                     struct lode_error *err)
{
    if (reputation_bond_next_deadline(&s->row->engine) > now_ms)
        return false;
    reputation_effects_clear(s->fx);
    *rc_out = reputation_bond_advance(&s->row->config, &s->row->engine, now_ms, &s->next, s->fx,
                                      err);
    if (*rc_out == LODE_OK) {
        s->row->engine = s->next;
        s->advanced = true;
        *rc_out = apply_effects(conn, s->row, s->fx, NULL, 0, now_ms, s->out, err);
    }
    reputation_effects_clear(s->fx);
    return true;
}

/* Loads the bond for update; with `advance`, applies the deadlines that passed at now_ms.
 * Actions load without advancing: the engine judges their own deadlines (a challenge after the
 * window is "gone", not "already resolved"); only when it finds the bond in the wrong phase
 * and a deadline has passed do they catch up and try again (action_retry). */
static enum lode_code step_begin(struct db_conn *conn, int64_t id, int64_t now_ms, bool advance,
                                 struct step *s, struct lode_error *err)
{
    enum lode_code rc;

    memset(s->out, 0, sizeof *s->out);
    s->fx = malloc(sizeof *s->fx);
    if (s->fx == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the effects");
    reputation_effects_clear(s->fx);
    rc = row_load(conn, id, true, s->row, err);
    if (rc != LODE_OK)
        return rc;
    if (advance)
        catch_up(conn, s, now_ms, &rc, err);
    return rc;
}

/* After an action the engine refused as out of phase: true when passed deadlines were applied
 * (then the caller tries the action again on the caught-up bond), with *rc the outcome. */
static bool action_retry(struct db_conn *conn, struct step *s, int64_t now_ms, enum lode_code *rc,
                         struct lode_error *err)
{
    if (*rc != LODE_ECONFLICT)
        return false;
    if (!catch_up(conn, s, now_ms, rc, err))
        return false;
    return *rc == LODE_OK;
}

static void step_end(struct step *s)
{
    free(s->fx);
    s->fx = NULL;
}

/* Applies an engine result held in s->next/s->fx and stores the bond. */
static enum lode_code step_commit(struct db_conn *conn, struct step *s, const uint8_t *pool_hash,
                                  size_t pool_count, int64_t now_ms, struct lode_error *err)
{
    enum lode_code rc;
    s->row->engine = s->next;
    rc = apply_effects(conn, s->row, s->fx, pool_hash, pool_count, now_ms, s->out, err);
    if (rc == LODE_OK)
        rc = bond_save(conn, s->row, err);
    return rc;
}

/* ---- reputation records derived on read ---- */

struct obs_row {
    int64_t account;
    int64_t at_ms;
    enum reputation_observation obs;
};

static bool observation_parse(const char *name, enum reputation_observation *out)
{
    for (int o = 0; o < REPUTATION_OBS_COUNT; o++)
        if (strcmp(name, reputation_observation_name((enum reputation_observation)o)) == 0) {
            *out = (enum reputation_observation)o;
            return true;
        }
    return false;
}

static int obs_cmp(const void *a, const void *b)
{
    const struct obs_row *x = a, *y = b;
    if (x->account != y->account)
        return x->account < y->account ? -1 : 1;
    return (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

/* Appends the rows (account, observation name, at_ms) of a query to a growing array. */
static enum lode_code obs_collect(struct db_conn *conn, const char *sql,
                                  const struct db_params *p, struct obs_row **rows,
                                  size_t *count, size_t *cap, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc = db_query(conn, sql, p, &res, err);
    int n;

    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        struct obs_row r;
        if (!observation_parse(PQgetvalue(res, i, 1), &r.obs))
            continue;
        r.account = db_result_int64(res, i, 0);
        r.at_ms = db_result_int64(res, i, 2);
        if (*count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            struct obs_row *grown = realloc(*rows, ncap * sizeof *grown);
            if (grown == NULL) {
                PQclear(res);
                return lode_error_set(err, LODE_ENOMEM, "could not hold the observations");
            }
            *rows = grown;
            *cap = ncap;
        }
        (*rows)[(*count)++] = r;
    }
    PQclear(res);
    return LODE_OK;
}

/* Replays the sorted observations of one account into its records (times clamped to now). */
static enum lode_code obs_replay(const struct reputation_config *cfg, const struct obs_row *rows,
                                 size_t count, int64_t now_ms, struct reputation_record *records,
                                 struct lode_error *err)
{
    for (int r = 0; r < REPUTATION_ROLE_COUNT; r++)
        reputation_record_init(&records[r], (enum reputation_role)r);
    for (size_t i = 0; i < count; i++) {
        enum reputation_role role = reputation_observation_role(rows[i].obs);
        int64_t at = rows[i].at_ms < now_ms ? rows[i].at_ms : now_ms;
        enum lode_code rc;
        if (at < records[role].updated_at_ms)
            at = records[role].updated_at_ms;
        rc = reputation_observe(cfg, &records[role], rows[i].obs, at, err);
        if (rc != LODE_OK)
            return rc;
    }
    return LODE_OK;
}

#define LABEL_EVIDENCE_SQL                                                                         \
    "WITH mine AS (SELECT l.task_id, l.item_id, l.class_index, l.class_set, l.rating,"             \
    "   (extract(epoch from l.created_at) * 1000)::bigint AS at_ms FROM labels l"                  \
    "   WHERE l.labeler_id = $1),"                                                                  \
    " votes AS (SELECT l.task_id, l.item_id, l.class_index, l.class_set, l.rating, count(*) AS n"   \
    "   FROM labels l JOIN mine m USING (task_id, item_id)"                                        \
    "   GROUP BY l.task_id, l.item_id, l.class_index, l.class_set, l.rating),"                     \
    " ranked AS (SELECT v.*, sum(v.n) OVER w AS total, rank() OVER (PARTITION BY v.task_id,"       \
    "   v.item_id ORDER BY v.n DESC) AS rk, count(*) OVER w AS kinds FROM votes v"                 \
    "   WINDOW w AS (PARTITION BY v.task_id, v.item_id)),"                                         \
    " top AS (SELECT task_id, item_id, class_index, class_set, rating, total FROM ranked r"        \
    "   WHERE rk = 1 AND (SELECT count(*) FROM ranked q WHERE q.task_id = r.task_id"               \
    "   AND q.item_id = r.item_id AND q.rk = 1) = 1)"                                              \
    " SELECT $1::bigint, CASE WHEN g.item_id IS NOT NULL THEN"                                     \
    "   CASE WHEN (m.class_index, m.class_set, m.rating) IS NOT DISTINCT FROM"                     \
    "   (g.class_index, g.class_set, g.rating) THEN 'label_gold_correct'"                          \
    "   ELSE 'label_gold_wrong' END"                                                               \
    "  WHEN t.total >= 3 THEN CASE WHEN (m.class_index, m.class_set, m.rating) IS NOT DISTINCT"    \
    "   FROM (t.class_index, t.class_set, t.rating) THEN 'label_consensus_agree'"                  \
    "   ELSE 'label_consensus_disagree' END END, m.at_ms"                                          \
    " FROM mine m LEFT JOIN label_gold g ON g.task_id = m.task_id AND g.item_id = m.item_id"       \
    " LEFT JOIN top t ON t.task_id = m.task_id AND t.item_id = m.item_id"                          \
    " WHERE g.item_id IS NOT NULL OR t.total >= 3"

enum lode_code bond_reputation_records(struct db_conn *conn, int64_t account_id,
                                       const struct reputation_config *cfg, int64_t now_ms,
                                       struct reputation_record *records_out,
                                       struct lode_error *err)
{
    struct obs_row *rows = NULL;
    size_t count = 0, cap = 0;
    struct db_params p;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, account_id);
    rc = obs_collect(conn,
                     "SELECT account_id, observation, at_ms FROM reputation_observations"
                     " WHERE account_id = $1",
                     &p, &rows, &count, &cap, err);
    if (rc == LODE_OK)
        rc = obs_collect(conn,
                         "SELECT contributor_id, CASE WHEN synthetic_flagged THEN 'item_synthetic'"
                         " ELSE 'item_duplicate' END,"
                         " (extract(epoch from created_at) * 1000)::bigint FROM items"
                         " WHERE contributor_id = $1 AND (synthetic_flagged OR"
                         " dedupe_verdict <> 'distinct')",
                         &p, &rows, &count, &cap, err);
    if (rc == LODE_OK)
        rc = obs_collect(conn, LABEL_EVIDENCE_SQL, &p, &rows, &count, &cap, err);
    if (rc == LODE_OK) {
        if (count > 1)
            qsort(rows, count, sizeof *rows, obs_cmp);
        rc = obs_replay(cfg, rows, count, now_ms, records_out, err);
    }
    free(rows);
    return rc;
}

/* ---- pool snapshots ---- */

/* Appends "v" to a PostgreSQL array literal being built in *buf. */
static bool array_add(char **buf, size_t *len, size_t *cap, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%s%" PRId64, *len > 1 ? "," : "", v);
    if (*len + (size_t)n + 2 > *cap) {
        size_t ncap = (*cap + (size_t)n + 2) * 2;
        char *grown = realloc(*buf, ncap);
        if (grown == NULL)
            return false;
        *buf = grown;
        *cap = ncap;
    }
    memcpy(*buf + *len, num, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = '}';
    (*buf)[*len + 1] = '\0';
    return true;
}

struct int_array {
    char *text;
    size_t len, cap;
};

static bool int_array_init(struct int_array *a)
{
    a->cap = 64;
    a->text = malloc(a->cap);
    if (a->text == NULL)
        return false;
    memcpy(a->text, "{}", 3);
    a->len = 1;
    return true;
}

/* Fixes the pool snapshot of a round: members with juror stake >= juror_stake_min in the
 * bond's currency, each with its reputation factor as of now; records it and its hash. The
 * balance rows are read FOR SHARE, so a concurrent juror-stake withdrawal either commits
 * first (and the snapshot sees it) or waits and then sees the snapshot's lock. */
/* Refuses a filing whose snapshot could never seat a jury: fewer eligible members than seats
 * (the draw's own rule, docs/reputation.md step 5), so no bond waits for a draw that cannot
 * happen with both parties' money in escrow; a renewal is refused by the same rule (and the
 * scheduler tries it again later). LODE_OK or LODE_EUNPROCESSABLE. */
static enum lode_code pool_check_seats(const struct bond_row *row, int round, int64_t challenger,
                                       bool renew, const struct reputation_juror *pool,
                                       size_t count, struct lode_error *err)
{
    const struct reputation_config *cfg = &row->config;
    const char *what = renew ? "renew the pool of" : round == 0 ? "accept the challenge of"
                                                                 : "accept the appeal of";
    int64_t seats = round == 0 ? cfg->jury_seats : cfg->appeal_jury_seats;
    int64_t deposit = round == 0 ? cfg->seat_deposit : cfg->appeal_seat_deposit;
    int64_t excluded[2] = {row->engine.publisher, challenger};
    int64_t *weights, total = 0, eligible = 0;
    enum lode_code rc;

    if (count < (size_t)seats)
        return lode_error_set(err, LODE_EUNPROCESSABLE,
                              "could not %s bond %lld: %zu jurors have staked %s,"
                              " the jury needs %lld seats",
                              what, (long long)row->engine.id,
                              count, row->currency, (long long)seats);
    weights = calloc(count, sizeof *weights);
    if (weights == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the pool");
    rc = reputation_jury_weights(cfg, pool, count, excluded, 2, deposit, weights, &total, err);
    for (size_t i = 0; rc == LODE_OK && i < count; i++)
        eligible += weights[i] > 0;
    free(weights);
    if (rc == LODE_OK && eligible < seats)
        rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                            "could not %s bond %lld: %lld jurors are eligible to"
                            " sit (stake of at least %lld %s, not a party), the jury needs %lld"
                            " seats",
                            what, (long long)row->engine.id,
                            (long long)eligible, (long long)deposit, row->currency,
                            (long long)seats);
    return rc;
}

/* With `renew`, the round's undrawn snapshot is replaced by the new one (its members and its
 * hash), so the jury endpoint and the draw always read the latest. */
static enum lode_code pool_take(struct db_conn *conn, const struct bond_row *row, int round,
                                int64_t challenger, bool renew, int64_t now_ms,
                                uint8_t hash_out[REPUTATION_HASH_BYTES], size_t *count_out,
                                struct lode_error *err)
{
    struct reputation_juror *pool = NULL;
    struct obs_row *obs = NULL;
    size_t count = 0, obs_count = 0, obs_cap = 0, k = 0;
    struct int_array acc = {0}, stake = {0}, factor = {0};
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_text(&p, row->currency);
    db_params_int64(&p, row->config.juror_stake_min);
    rc = db_query(conn,
                  "SELECT account_id, balance FROM money_balances WHERE kind = 3 AND currency = $1"
                  " AND balance >= $2 ORDER BY account_id LIMIT 1000000 FOR SHARE",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    count = (size_t)PQntuples(res);
    pool = calloc(count > 0 ? count : 1, sizeof *pool);
    if (pool == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the pool");
    }
    for (size_t i = 0; i < count; i++) {
        pool[i].account = db_result_int64(res, (int)i, 0);
        pool[i].stake = db_result_int64(res, (int)i, 1);
    }
    PQclear(res);
    rc = obs_collect(conn,
                     "SELECT o.account_id, o.observation, o.at_ms FROM reputation_observations o"
                     " JOIN money_balances m ON m.kind = 3 AND m.account_id = o.account_id"
                     " AND m.currency = $1 AND m.balance >= $2 WHERE o.role = 'fact_checker'",
                     &p, &obs, &obs_count, &obs_cap, err);
    if (rc != LODE_OK)
        goto out;
    if (obs_count > 1)
        qsort(obs, obs_count, sizeof *obs, obs_cmp);
    for (size_t i = 0; i < count; i++) {
        struct reputation_record rec[REPUTATION_ROLE_COUNT];
        struct reputation_score score;
        size_t start;
        while (k < obs_count && obs[k].account < pool[i].account)
            k++;
        start = k;
        while (k < obs_count && obs[k].account == pool[i].account)
            k++;
        rc = obs_replay(&row->config, obs + start, k - start, now_ms, rec, err);
        if (rc == LODE_OK)
            rc = reputation_score_compute(&row->config, &rec[REPUTATION_ROLE_FACT_CHECKER],
                                          now_ms, &score, err);
        if (rc != LODE_OK)
            goto out;
        pool[i].factor_bps = reputation_juror_factor_bps(&row->config, &score, pool[i].stake);
    }
    rc = pool_check_seats(row, round, challenger, renew, pool, count, err);
    if (rc != LODE_OK)
        goto out;
    bond_pool_hash(row->engine.id, round, pool, count, hash_out);
    if (renew) {
        db_params_init(&p);
        db_params_int64(&p, row->engine.id);
        db_params_int64(&p, round);
        rc = db_query(conn, "DELETE FROM bond_pool_members WHERE bond_id = $1 AND round = $2",
                      &p, NULL, err);
        if (rc == LODE_OK)
            rc = db_query(conn,
                          "DELETE FROM bond_pools WHERE bond_id = $1 AND round = $2 AND NOT drawn",
                          &p, NULL, err);
        if (rc != LODE_OK)
            goto out;
    }
    db_params_init(&p);
    db_params_int64(&p, row->engine.id);
    db_params_int64(&p, round);
    db_params_bytes(&p, hash_out, REPUTATION_HASH_BYTES);
    db_params_int64(&p, (int64_t)count);
    rc = db_query(conn,
                  "INSERT INTO bond_pools (bond_id, round, sha256, member_count)"
                  " VALUES ($1, $2, $3, $4)",
                  &p, NULL, err);
    if (rc != LODE_OK || count == 0)
        goto out;
    if (!int_array_init(&acc) || !int_array_init(&stake) || !int_array_init(&factor)) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the pool");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        if (!array_add(&acc.text, &acc.len, &acc.cap, pool[i].account) ||
            !array_add(&stake.text, &stake.len, &stake.cap, pool[i].stake) ||
            !array_add(&factor.text, &factor.len, &factor.cap, pool[i].factor_bps)) {
            rc = lode_error_set(err, LODE_ENOMEM, "could not hold the pool");
            goto out;
        }
    db_params_init(&p);
    db_params_int64(&p, row->engine.id);
    db_params_int64(&p, round);
    db_params_text(&p, acc.text);
    db_params_text(&p, stake.text);
    db_params_text(&p, factor.text);
    rc = db_query(conn,
                  "INSERT INTO bond_pool_members (bond_id, round, account_id, stake, factor_bps)"
                  " SELECT $1, $2, a, s, f FROM unnest($3::bigint[], $4::bigint[], $5::bigint[])"
                  " AS u(a, s, f)",
                  &p, NULL, err);
out:
    free(acc.text);
    free(stake.text);
    free(factor.text);
    free(obs);
    free(pool);
    if (rc == LODE_OK)
        *count_out = count;
    return rc;
}

enum lode_code bond_pool_get(struct db_conn *conn, int64_t bond_id, int round,
                             struct arena *arena, struct reputation_juror **pool_out,
                             size_t *count_out, uint8_t hash_out[REPUTATION_HASH_BYTES],
                             bool *drawn_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t n;

    db_params_init(&p);
    db_params_int64(&p, bond_id);
    db_params_int64(&p, round);
    rc = db_query(conn, "SELECT encode(sha256, 'hex'), drawn FROM bond_pools"
                        " WHERE bond_id = $1 AND round = $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "bond %lld has no pool for round %d",
                              (long long)bond_id, round);
    }
    db_result_hex(res, 0, 0, hash_out, REPUTATION_HASH_BYTES);
    *drawn_out = db_result_bool(res, 0, 1);
    PQclear(res);
    rc = db_query(conn, "SELECT account_id, stake, factor_bps FROM bond_pool_members"
                        " WHERE bond_id = $1 AND round = $2 ORDER BY account_id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = (size_t)PQntuples(res);
    *pool_out = arena != NULL ? arena_calloc(arena, n > 0 ? n : 1, sizeof **pool_out)
                              : calloc(n > 0 ? n : 1, sizeof **pool_out);
    if (*pool_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the pool");
    }
    for (size_t i = 0; i < n; i++) {
        (*pool_out)[i].account = db_result_int64(res, (int)i, 0);
        (*pool_out)[i].stake = db_result_int64(res, (int)i, 1);
        (*pool_out)[i].factor_bps = db_result_int64(res, (int)i, 2);
    }
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code bond_juror_stake_locked(struct db_conn *conn, int64_t account_id,
                                       const char *currency, int64_t *locked_out,
                                       struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_text(&p, currency);
    rc = db_query(conn,
                  "SELECT coalesce(max(m.stake), 0) FROM bond_pool_members m"
                  " JOIN bond_pools p ON p.bond_id = m.bond_id AND p.round = m.round"
                  " JOIN bonds b ON b.id = m.bond_id"
                  " WHERE m.account_id = $1 AND b.currency = $2 AND NOT p.drawn"
                  " AND b.state = 'awaiting_draw'",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *locked_out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

/* ---- actions ---- */

/* Checks that a dataset or item named as a subject exists. */
static enum lode_code subject_check(struct db_conn *conn, const struct bond_post_request *rq,
                                    struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    bool found;

    if (rq->subject_kind == BOND_SUBJECT_CLAIM)
        return LODE_OK;
    db_params_init(&p);
    db_params_text(&p, rq->subject_ref);
    if (rq->subject_kind == BOND_SUBJECT_DATASET) {
        char *end = NULL;
        long long id = strtoll(rq->subject_ref, &end, 10);
        if (end == rq->subject_ref || *end != '\0' || id <= 0)
            return lode_error_set(err, LODE_EINVAL, "a dataset subject must be a dataset id");
        rc = db_query(conn, "SELECT 1 FROM datasets WHERE id = $1::bigint", &p, &res, err);
    } else {
        uint8_t sha[32];
        size_t n = 0;
        if (strlen(rq->subject_ref) != 64 ||
            !hex_decode(rq->subject_ref, 64, sha, sizeof sha, &n) || n != 32)
            return lode_error_set(err, LODE_EINVAL,
                                  "an item subject must be the item's SHA-256 in hex");
        rc = db_query(conn, "SELECT 1 FROM items WHERE sha256 = decode($1, 'hex') LIMIT 1", &p,
                      &res, err);
    }
    if (rc != LODE_OK)
        return rc;
    found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return lode_error_set(err, LODE_ENOTFOUND, "the %s \"%.80s\" named as subject does not"
                                                   " exist",
                              bond_subject_kind_name(rq->subject_kind), rq->subject_ref);
    return LODE_OK;
}

enum lode_code bond_post(struct db_conn *conn, const struct bond_post_request *rq, int64_t now_ms,
                         struct bond_row *row_out, struct bond_step *step_out,
                         struct lode_error *err)
{
    struct reputation_bond_params params;
    struct reputation_effects *fx;
    crypto_hash_sha256_state st;
    const char *kind = bond_subject_kind_name(rq->subject_kind);
    struct db_params p;
    PGresult *res = NULL;
    char *engine = NULL, *config = NULL;
    enum lode_code rc;

    memset(step_out, 0, sizeof *step_out);
    memset(row_out, 0, sizeof *row_out);
    if (!money_currency_is_valid(rq->currency))
        return lode_error_set(err, LODE_EINVAL, "currency must be three upper-case letters");
    if (rq->subject_ref == NULL || rq->subject_ref[0] == '\0' ||
        strlen(rq->subject_ref) > LODE_BOND_SUBJECT_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "subject reference must be 1 to %d bytes",
                              LODE_BOND_SUBJECT_BYTES_MAX);
    rc = subject_check(conn, rq, err);
    if (rc != LODE_OK)
        return rc;
    rc = bond_config_get(conn, &row_out->config, NULL, err);
    if (rc != LODE_OK)
        return rc;
    rc = db_query(conn, "SELECT nextval(pg_get_serial_sequence('bonds', 'id'))", NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    memset(&params, 0, sizeof params);
    params.id = db_result_int64(res, 0, 0);
    PQclear(res);
    params.currency = money_currency_pack(rq->currency);
    params.publisher = rq->publisher;
    params.amount = rq->amount;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)kind, strlen(kind));
    crypto_hash_sha256_update(&st, (const uint8_t *)":", 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)rq->subject_ref, strlen(rq->subject_ref));
    crypto_hash_sha256_final(&st, params.subject);
    params.statement = rq->statement;
    params.window_ms = rq->window_ms;
    fx = malloc(sizeof *fx);
    if (fx == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the effects");
    reputation_effects_clear(fx);
    rc = reputation_bond_post(&row_out->config, &params, now_ms, &row_out->engine, fx, err);
    if (rc != LODE_OK)
        goto out;
    memcpy(row_out->currency, rq->currency, 4);
    row_out->subject_kind = rq->subject_kind;
    snprintf(row_out->subject_ref, sizeof row_out->subject_ref, "%s", rq->subject_ref);
    row_out->version = 1;
    row_out->next_deadline_ms = reputation_bond_next_deadline(&row_out->engine);
    row_out->created_at_ms = now_ms;
    engine = dump_json(reputation_bond_json(&row_out->engine), err);
    config = engine != NULL ? dump_json(reputation_config_json(&row_out->config), err) : NULL;
    if (config == NULL) {
        rc = err->code;
        goto out;
    }
    db_params_init(&p);
    db_params_int64(&p, params.id);
    db_params_int64(&p, rq->publisher);
    db_params_text(&p, rq->currency);
    db_params_int64(&p, rq->amount);
    db_params_text(&p, kind);
    db_params_text(&p, rq->subject_ref);
    db_params_bytes(&p, params.subject, sizeof params.subject);
    db_params_text(&p, rq->statement);
    db_params_text(&p, reputation_bond_state_name(row_out->engine.state));
    db_params_int64(&p, row_out->next_deadline_ms);
    db_params_text(&p, config);
    db_params_text(&p, engine);
    rc = db_query(conn,
                  "INSERT INTO bonds (id, publisher_id, currency, amount, subject_kind,"
                  " subject_ref, subject_sha256, statement, state, next_deadline_ms, config,"
                  " engine) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb,"
                  " $12::jsonb)",
                  &p, NULL, err);
    if (rc == LODE_OK)
        rc = apply_effects(conn, row_out, fx, NULL, 0, now_ms, step_out, err);
out:
    free(engine);
    free(config);
    free(fx);
    return rc;
}

/* The size of the latest checkpoint (0 before the first): what a filing records, so the draw
 * waits for a later checkpoint. */
static enum lode_code ledger_size_now(struct db_conn *conn, int64_t *size_out,
                                      struct lode_error *err)
{
    struct ledger_checkpoint *cp = malloc(sizeof *cp); /* about 4 KiB: not on the stack */
    enum lode_code rc;

    *size_out = 0;
    if (cp == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the checkpoint");
    rc = ledger_checkpoint_latest(conn, cp, err);
    if (rc == LODE_OK)
        *size_out = (int64_t)cp->size;
    free(cp);
    return rc == LODE_ENOTFOUND ? LODE_OK : rc;
}

enum lode_code bond_challenge(struct db_conn *conn, int64_t bond_id, int64_t challenger,
                              int64_t stake, const char *evidence, int64_t now_ms,
                              struct bond_row *row_out, struct bond_step *step_out,
                              struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    uint8_t evidence_hash[REPUTATION_HASH_BYTES], pool_hash[REPUTATION_HASH_BYTES];
    int64_t ledger_size = 0;
    size_t pool_count = 0;
    struct db_params p;
    enum lode_code rc;

    if (evidence == NULL || evidence[0] == '\0' || strlen(evidence) > LODE_BOND_EVIDENCE_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "evidence must be 1 to %d bytes",
                              LODE_BOND_EVIDENCE_BYTES_MAX);
    crypto_hash_sha256(evidence_hash, (const uint8_t *)evidence, strlen(evidence));
    rc = step_begin(conn, bond_id, now_ms, false, &s, err);
    if (rc == LODE_OK)
        rc = ledger_size_now(conn, &ledger_size, err);
    if (rc != LODE_OK)
        goto out;
    rc = reputation_bond_challenge(&row_out->config, &row_out->engine, challenger, stake,
                                   evidence_hash, ledger_size, now_ms, &s.next, s.fx, err);
    if (action_retry(conn, &s, now_ms, &rc, err))
        rc = reputation_bond_challenge(&row_out->config, &row_out->engine, challenger, stake,
                                       evidence_hash, ledger_size, now_ms, &s.next, s.fx, err);
    if (rc == LODE_ECONFLICT && row_out->engine.state == REPUTATION_BOND_RESOLVED &&
        row_out->engine.challenger == 0 && now_ms >= row_out->engine.window_end_ms)
        /* the scheduler closed the window before this request: still a late challenge */
        rc = lode_error_set(err, LODE_EGONE, "challenge window of bond %lld closed at %lld",
                            (long long)bond_id, (long long)row_out->engine.window_end_ms);
    if (rc != LODE_OK)
        goto out;
    rc = pool_take(conn, row_out, 0, challenger, false, now_ms, pool_hash, &pool_count, err);
    if (rc != LODE_OK)
        goto out;
    rc = step_commit(conn, &s, pool_hash, pool_count, now_ms, err);
    if (rc != LODE_OK)
        goto out;
    db_params_init(&p);
    db_params_int64(&p, bond_id);
    db_params_text(&p, evidence);
    rc = db_query(conn, "UPDATE bonds SET evidence = $2 WHERE id = $1", &p, NULL, err);
out:
    step_end(&s);
    return rc;
}

enum lode_code bond_commit(struct db_conn *conn, int64_t bond_id, int64_t juror,
                           const uint8_t commitment[REPUTATION_HASH_BYTES], int64_t now_ms,
                           struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    enum lode_code rc = step_begin(conn, bond_id, now_ms, false, &s, err);
    if (rc == LODE_OK)
        rc = reputation_bond_commit(&row_out->config, &row_out->engine, juror, commitment, now_ms,
                                    &s.next, s.fx, err);
    if (action_retry(conn, &s, now_ms, &rc, err))
        rc = reputation_bond_commit(&row_out->config, &row_out->engine, juror, commitment, now_ms,
                                    &s.next, s.fx, err);
    if (rc == LODE_OK)
        rc = step_commit(conn, &s, NULL, 0, now_ms, err);
    step_end(&s);
    return rc;
}

enum lode_code bond_reveal(struct db_conn *conn, int64_t bond_id, int64_t juror,
                           enum reputation_vote vote, const uint8_t salt[REPUTATION_SALT_BYTES],
                           int64_t now_ms, struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    enum lode_code rc = step_begin(conn, bond_id, now_ms, false, &s, err);
    if (rc == LODE_OK)
        rc = reputation_bond_reveal(&row_out->config, &row_out->engine, juror, vote, salt, now_ms,
                                    &s.next, s.fx, err);
    if (action_retry(conn, &s, now_ms, &rc, err))
        rc = reputation_bond_reveal(&row_out->config, &row_out->engine, juror, vote, salt, now_ms,
                                    &s.next, s.fx, err);
    if (rc == LODE_OK)
        rc = step_commit(conn, &s, NULL, 0, now_ms, err);
    step_end(&s);
    return rc;
}

enum lode_code bond_appeal(struct db_conn *conn, int64_t bond_id, int64_t appellant,
                           int64_t now_ms, struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    uint8_t pool_hash[REPUTATION_HASH_BYTES];
    int64_t ledger_size = 0;
    size_t pool_count = 0;
    enum lode_code rc = step_begin(conn, bond_id, now_ms, false, &s, err);

    if (rc != LODE_OK) {
        step_end(&s);
        return rc;
    }
    rc = ledger_size_now(conn, &ledger_size, err);
    if (rc == LODE_OK)
        rc = reputation_bond_appeal(&row_out->config, &row_out->engine, appellant, ledger_size,
                                    now_ms, &s.next, s.fx, err);
    if (action_retry(conn, &s, now_ms, &rc, err))
        rc = reputation_bond_appeal(&row_out->config, &row_out->engine, appellant, ledger_size,
                                    now_ms, &s.next, s.fx, err);
    if (rc == LODE_ECONFLICT && row_out->engine.state == REPUTATION_BOND_RESOLVED &&
        row_out->engine.round_count == 1 && row_out->engine.appeal_deadline_ms > 0 &&
        now_ms >= row_out->engine.appeal_deadline_ms)
        rc = lode_error_set(err, LODE_EGONE, "appeal window of bond %lld closed at %lld",
                            (long long)bond_id, (long long)row_out->engine.appeal_deadline_ms);
    if (rc == LODE_OK)
        rc = pool_take(conn, row_out, 1, row_out->engine.challenger, false, now_ms, pool_hash,
                       &pool_count, err);
    if (rc == LODE_OK)
        rc = step_commit(conn, &s, pool_hash, pool_count, now_ms, err);
    step_end(&s);
    return rc;
}

/* step_begin for a bond whose newest round awaits its jury draw; *round_out is that round.
 * LODE_ECONFLICT when no round awaits a draw (s still wants step_end). */
static enum lode_code draw_step_begin(struct db_conn *conn, int64_t bond_id, int64_t now_ms,
                                      struct step *s, int *round_out, struct lode_error *err)
{
    enum lode_code rc = step_begin(conn, bond_id, now_ms, false, s, err);

    if (rc != LODE_OK)
        return rc;
    if (s->row->engine.state != REPUTATION_BOND_AWAITING_DRAW)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld awaits no draw", (long long)bond_id);
    *round_out = s->row->engine.round_count - 1;
    return LODE_OK;
}

enum lode_code bond_draw(struct db_conn *conn, int64_t bond_id, uint64_t checkpoint_size,
                         const uint8_t checkpoint_root[REPUTATION_HASH_BYTES], int64_t now_ms,
                         struct bond_row *row_out, struct bond_step *step_out,
                         struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    struct reputation_juror *pool = NULL;
    uint8_t hash[REPUTATION_HASH_BYTES];
    size_t count = 0;
    bool drawn = false;
    struct db_params p;
    int round = 0;
    enum lode_code rc = draw_step_begin(conn, bond_id, now_ms, &s, &round, err);

    if (rc != LODE_OK)
        goto out;
    rc = bond_pool_get(conn, bond_id, round, NULL, &pool, &count, hash, &drawn, err);
    if (rc == LODE_OK)
        rc = reputation_bond_draw(&row_out->config, &row_out->engine, pool, count,
                                  checkpoint_size, checkpoint_root, now_ms, &s.next, s.fx, err);
    if (rc == LODE_OK)
        rc = step_commit(conn, &s, NULL, 0, now_ms, err);
    if (rc == LODE_OK) {
        db_params_init(&p);
        db_params_int64(&p, bond_id);
        db_params_int64(&p, round);
        rc = db_query(conn, "UPDATE bond_pools SET drawn = true WHERE bond_id = $1 AND round = $2",
                      &p, NULL, err);
    }
out:
    free(pool);
    step_end(&s);
    return rc;
}

/* Renews the filing of the round awaiting its draw after a refused draw: a fresh pool snapshot
 * (current stakes and factors, the same eligibility rule and seating check) replaces the
 * undrawn one, and a "pool.renewed" entry (bond, round, at_ms, pool, pool_members, reason)
 * becomes the round's filing entry, so the draw waits for a checkpoint that covers it and its
 * seed cannot be known when the snapshot is taken. Stored with the compare-and-set. Returns
 * LODE_OK, LODE_ECONFLICT (no round awaits a draw, or the bond changed meanwhile),
 * LODE_EUNPROCESSABLE (the jury cannot be seated now), or the mapped error. */
static enum lode_code pool_renew(struct db_conn *conn, int64_t bond_id, int64_t now_ms,
                                 struct bond_row *row_out, struct bond_step *step_out,
                                 struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    uint8_t hash[REPUTATION_HASH_BYTES];
    char reason[sizeof row_out->draw_error];
    size_t count = 0;
    int64_t queue_id = 0;
    json_t *entry;
    int round = 0;
    enum lode_code rc = draw_step_begin(conn, bond_id, now_ms, &s, &round, err);

    if (rc != LODE_OK)
        goto out;
    snprintf(reason, sizeof reason, "%s",
             row_out->draw_error[0] != '\0' ? row_out->draw_error : "the draw was refused");
    rc = pool_take(conn, row_out, round, row_out->engine.challenger, true, now_ms, hash, &count,
                   err);
    if (rc != LODE_OK)
        goto out;
    entry = json_pack("{s:s, s:I, s:i, s:I, s:o, s:I, s:s}", "type", "pool.renewed", "bond",
                      (json_int_t)bond_id, "round", round, "at_ms", (json_int_t)now_ms, "pool",
                      hex_json(hash, sizeof hash), "pool_members", (json_int_t)count, "reason",
                      reason);
    if (entry == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not build the ledger entry");
        goto out;
    }
    rc = record_entry(conn, bond_id, "pool.renewed", entry, &queue_id, err);
    if (rc != LODE_OK)
        goto out;
    if (step_out->queue_count < sizeof step_out->queue_ids / sizeof step_out->queue_ids[0])
        step_out->queue_ids[step_out->queue_count++] = queue_id;
    row_out->draw_queue_id = queue_id;
    rc = bond_save(conn, row_out, err);
out:
    step_end(&s);
    return rc;
}

enum lode_code bond_advance(struct db_conn *conn, int64_t bond_id, int64_t now_ms,
                            struct bond_row *row_out, struct bond_step *step_out,
                            struct lode_error *err)
{
    struct step s = {.row = row_out, .out = step_out};
    enum lode_code rc = step_begin(conn, bond_id, now_ms, true, &s, err);

    /* step_begin applied the passed deadlines; store them if there were any */
    if (rc == LODE_OK && s.advanced)
        rc = bond_save(conn, row_out, err);
    step_end(&s);
    return rc;
}

/* ---- the scheduler's tick ---- */

struct tick_state {
    int64_t now_ms;
    int64_t retry_ms;
    bool found;
    bool stored;
    struct bond_row *row;
    struct bond_step *step;
};

static enum lode_code tick_one(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct tick_state *t = arg;
    struct db_params p;
    PGresult *res = NULL;
    int64_t id, queue_id;
    uint64_t cp_size = 0;
    uint8_t root[REPUTATION_HASH_BYTES] = {0};
    struct lode_error step_err;
    bool draw = false, renew = false;
    enum lode_code rc;

    t->found = false;
    t->stored = false;
    db_params_init(&p);
    db_params_int64(&p, t->now_ms);
    rc = db_query(conn,
                  "SELECT b.id, b.state = 'awaiting_draw', coalesce(b.draw_queue_id, 0),"
                  " b.draw_error IS NOT NULL FROM bonds b WHERE b.state <> 'resolved'"
                  " AND b.draw_retry_ms <= $1 AND"
                  " (b.next_deadline_ms <= $1 OR (b.state = 'awaiting_draw' AND EXISTS (SELECT 1"
                  " FROM ledger_queue q JOIN ledger_checkpoints c ON c.size > q.ledger_index"
                  " WHERE q.id = b.draw_queue_id)))"
                  " ORDER BY b.next_deadline_ms NULLS FIRST, b.id LIMIT 1"
                  " FOR UPDATE OF b SKIP LOCKED",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return LODE_OK;
    }
    t->found = true;
    id = db_result_int64(res, 0, 0);
    draw = db_result_bool(res, 0, 1);
    queue_id = db_result_int64(res, 0, 2);
    /* the last attempt was refused: the same snapshot and seed would fail the same way, so
     * this one renews the round's filing instead (and the draw waits for a new checkpoint) */
    renew = draw && db_result_bool(res, 0, 3);
    PQclear(res);
    if (draw && !renew) {
        db_params_init(&p);
        db_params_int64(&p, queue_id);
        rc = db_query(conn,
                      "SELECT c.size, encode(c.root, 'hex') FROM ledger_queue q"
                      " JOIN ledger_checkpoints c ON c.size > q.ledger_index WHERE q.id = $1"
                      " ORDER BY c.size LIMIT 1",
                      &p, &res, err);
        if (rc != LODE_OK)
            return rc;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return LODE_OK;
        }
        cp_size = (uint64_t)db_result_int64(res, 0, 0);
        db_result_hex(res, 0, 1, root, sizeof root);
        PQclear(res);
    }
    /* a step the engine or the journal refuses (too few jurors, a juror's stake gone) must not
     * hold up the bonds behind it: it is rolled back, noted on the bond and retried later */
    rc = db_exec(conn, "SAVEPOINT bond_step", err);
    if (rc != LODE_OK)
        return rc;
    memset(&step_err, 0, sizeof step_err);
    if (renew)
        rc = pool_renew(conn, id, t->now_ms, t->row, t->step, &step_err);
    else if (draw)
        rc = bond_draw(conn, id, cp_size, root, t->now_ms, t->row, t->step, &step_err);
    else
        rc = bond_advance(conn, id, t->now_ms, t->row, t->step, &step_err);
    if (rc != LODE_OK && rc != LODE_EUNAVAIL && rc != LODE_ETIMEOUT && rc != LODE_EIO) {
        /* anything but a lost or busy database is this bond's own trouble; the note is
         * public, so a journal refusal (which names a juror's balance) is stated generally */
        const char *note = money_error_is_insufficient(&step_err)
                               ? "a drawn juror's stake no longer covers its seats"
                               : step_err.message;
        rc = db_exec(conn, "ROLLBACK TO SAVEPOINT bond_step", err);
        if (rc != LODE_OK)
            return rc;
        db_params_init(&p);
        db_params_int64(&p, id);
        db_params_text(&p, note);
        db_params_int64(&p, t->now_ms + t->retry_ms);
        return db_query(conn, "UPDATE bonds SET draw_error = $2, draw_retry_ms = $3 WHERE id = $1",
                        &p, NULL, err);
    }
    if (rc != LODE_OK) {
        *err = step_err;
        return rc;
    }
    t->stored = true;
    return LODE_OK;
}

enum lode_code bond_tick(struct db_conn *conn, int64_t now_ms, int max, int64_t retry_ms,
                         int *stepped_out, struct lode_error *err)
{
    struct tick_state t = {.now_ms = now_ms, .retry_ms = retry_ms};
    enum lode_code rc = LODE_OK;
    int stepped = 0;

    t.row = malloc(sizeof *t.row);
    t.step = malloc(sizeof *t.step);
    if (t.row == NULL || t.step == NULL) {
        free(t.row);
        free(t.step);
        return lode_error_set(err, LODE_ENOMEM, "could not hold a bond");
    }
    for (int i = 0; i < max; i++) {
        rc = db_tx(conn, DB_READ_COMMITTED, tick_one, &t, err);
        if (rc != LODE_OK || !t.found)
            break;
        if (t.stored)
            stepped++;
    }
    free(t.row);
    free(t.step);
    if (stepped_out != NULL)
        *stepped_out = stepped;
    return rc;
}

/* ---- lists ---- */

enum lode_code bond_list(struct db_conn *conn, int64_t cursor, int limit, const char *state,
                         const uint8_t *subject_sha256, struct arena *arena, int64_t **ids_out,
                         size_t *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t n;

    db_params_init(&p);
    db_params_int64(&p, cursor);
    db_params_int64(&p, limit);
    db_params_text(&p, state);
    if (subject_sha256 != NULL)
        db_params_bytes(&p, subject_sha256, 32);
    else
        db_params_text(&p, NULL);
    rc = db_query(conn,
                  "SELECT id FROM bonds WHERE id > $1 AND ($3::text IS NULL OR state = $3)"
                  " AND ($4::bytea IS NULL OR subject_sha256 = $4) ORDER BY id LIMIT $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = (size_t)PQntuples(res);
    *ids_out = arena_calloc(arena, n > 0 ? n : 1, sizeof **ids_out);
    if (*ids_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the list");
    }
    for (size_t i = 0; i < n; i++)
        (*ids_out)[i] = db_result_int64(res, (int)i, 0);
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code bond_entries(struct db_conn *conn, int64_t bond_id, struct arena *arena,
                            struct bond_entry **entries_out, size_t *count_out,
                            struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t n;

    db_params_init(&p);
    db_params_int64(&p, bond_id);
    rc = db_query(conn,
                  "SELECT e.type, e.entry, e.ledger_queue_id, coalesce(q.ledger_index, -1)"
                  " FROM bond_entries e JOIN ledger_queue q ON q.id = e.ledger_queue_id"
                  " WHERE e.bond_id = $1 ORDER BY e.id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = (size_t)PQntuples(res);
    *entries_out = arena_calloc(arena, n > 0 ? n : 1, sizeof **entries_out);
    if (*entries_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the entries");
    }
    for (size_t i = 0; i < n; i++) {
        struct bond_entry *e = &(*entries_out)[i];
        e->type = arena_strdup(arena, PQgetvalue(res, (int)i, 0));
        e->entry = arena_strdup(arena, PQgetvalue(res, (int)i, 1));
        e->queue_id = db_result_int64(res, (int)i, 2);
        e->index = db_result_int64(res, (int)i, 3);
        if (e->type == NULL || e->entry == NULL) {
            PQclear(res);
            return lode_error_set(err, LODE_ENOMEM, "could not hold the entries");
        }
    }
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}
