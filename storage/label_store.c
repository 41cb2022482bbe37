/*
 * storage/label_store.c — labeling tasks, gold answers and labels (see label_store.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "storage/db_internal.h"
#include "storage/label_store.h"
#include "storage/money_store.h"

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
#define CLASS_SEPARATOR "\x1f" /* class names hold no control characters */

static const char *const kind_names[] = {"single_choice", "multi_label", "rating"};

const char *label_kind_name(enum label_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "unknown";
}

bool label_kind_parse(const char *name, enum label_kind *kind_out)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind_out = (enum label_kind)i;
            return true;
        }
    return false;
}

bool label_rating_canonical(const struct label_task *task, double value, double *canonical_out,
                            char text_out[LABEL_RATING_TEXT_BYTES])
{
    double steps, k, pos, grid;

    if (!isfinite(value) || !(task->rating_step > 0.0))
        return false;
    steps = nearbyint((task->rating_max - task->rating_min) / task->rating_step);
    pos = (value - task->rating_min) / task->rating_step;
    k = nearbyint(pos);
    if (!isfinite(pos) || fabs(pos - k) > 1e-6 || k < 0.0 || k > steps)
        return false;
    grid = k == steps ? task->rating_max : task->rating_min + k * task->rating_step;
    if (grid == 0.0)
        grid = 0.0; /* no "-0" */
    snprintf(text_out, LABEL_RATING_TEXT_BYTES, "%.15g", grid);
    *canonical_out = strtod(text_out, NULL);
    return true;
}

/* Is the actor allowed to manage the task's dataset? Fills id, dataset_id, kind, the rating
 * grid and class_count of *task (not the class names). */
static enum lode_code task_owner_check(struct db_conn *conn, int64_t task_id, int64_t actor_id,
                                       bool operator, struct label_task *task,
                                       struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int64_t owner;

    memset(task, 0, sizeof *task);
    db_params_init(&p);
    db_params_int64(&p, task_id);
    rc = db_query(conn,
                  "SELECT t.dataset_id, d.owner_id, cardinality(t.classes), t.kind,"
                  " coalesce(t.rating_min, 0), coalesce(t.rating_max, 0),"
                  " coalesce(t.rating_step, 0) FROM label_tasks t"
                  " JOIN datasets d ON d.id = t.dataset_id WHERE t.id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lode_error_set(err, LODE_ENOTFOUND, "label task %" PRId64 " does not exist", task_id);
        return err->code;
    }
    task->id = task_id;
    task->dataset_id = db_result_int64(res, 0, 0);
    owner = db_result_int64(res, 0, 1);
    task->owner_id = owner;
    task->class_count = (uint32_t)db_result_int64(res, 0, 2);
    if (!label_kind_parse(PQgetvalue(res, 0, 3), &task->kind))
        task->kind = LABEL_KIND_SINGLE_CHOICE;
    task->rating_min = strtod(PQgetvalue(res, 0, 4), NULL);
    task->rating_max = strtod(PQgetvalue(res, 0, 5), NULL);
    task->rating_step = strtod(PQgetvalue(res, 0, 6), NULL);
    PQclear(res);
    if (!operator && owner != actor_id)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %" PRId64 " may not manage label task %" PRId64
                              ": only the dataset's owner or an operator",
                              actor_id, task_id);
    return LODE_OK;
}

/* Binds the value of a label or gold answer as three parameters (class_index, class_set,
 * rating), NULL but the kind's; bufs holds the text of the set and the rating. */
static void params_value(struct db_params *p, const struct label_task *task,
                         const struct label_value *v, char bufs[2][32])
{
    snprintf(bufs[0], 32, "%" PRId64,
             task->kind == LABEL_KIND_MULTI_LABEL ? (int64_t)v->class_set
                                                  : (int64_t)v->class_index);
    snprintf(bufs[1], 32, "%.17g", v->rating);
    db_params_text(p, task->kind == LABEL_KIND_SINGLE_CHOICE ? bufs[0] : NULL);
    db_params_text(p, task->kind == LABEL_KIND_MULTI_LABEL ? bufs[0] : NULL);
    db_params_text(p, task->kind == LABEL_KIND_RATING ? bufs[1] : NULL);
}

/* Whether v is a valid value for the task's kind. */
static bool value_valid(const struct label_task *task, const struct label_value *v)
{
    double canonical;
    char text[LABEL_RATING_TEXT_BYTES];

    switch (task->kind) {
    case LABEL_KIND_SINGLE_CHOICE:
        return v->class_index < task->class_count;
    case LABEL_KIND_MULTI_LABEL:
        return task->class_count >= 64 || (v->class_set >> task->class_count) == 0;
    case LABEL_KIND_RATING:
        return label_rating_canonical(task, v->rating, &canonical, text) &&
               canonical == v->rating;
    }
    return false;
}

enum lode_code label_task_create(struct db_conn *conn, int64_t actor_id, bool operator,
                                 struct label_task *task, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t joined_len = 1;
    char *joined, *w;
    int64_t owner;

    db_params_init(&p);
    db_params_int64(&p, task->dataset_id);
    rc = db_query(conn, "SELECT owner_id FROM datasets WHERE id = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lode_error_set(err, LODE_ENOTFOUND, "dataset %" PRId64 " does not exist",
                       task->dataset_id);
        lode_error_pointer(err, "/dataset");
        return err->code;
    }
    owner = db_result_int64(res, 0, 0);
    PQclear(res);
    if (!operator && owner != actor_id) {
        lode_error_set(err, LODE_EFORBIDDEN,
                       "account %" PRId64 " may not create a label task on dataset %" PRId64
                       ": only its owner or an operator",
                       actor_id, task->dataset_id);
        lode_error_pointer(err, "/dataset");
        return err->code;
    }
    for (uint32_t i = 0; i < task->class_count; i++)
        joined_len += strlen(task->classes[i]) + 1;
    joined = malloc(joined_len);
    if (joined == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the class names");
    w = joined;
    for (uint32_t i = 0; i < task->class_count; i++) {
        size_t n = strlen(task->classes[i]);
        if (i > 0)
            *w++ = CLASS_SEPARATOR[0];
        memcpy(w, task->classes[i], n);
        w += n;
    }
    *w = '\0';
    db_params_init(&p);
    db_params_int64(&p, task->dataset_id);
    db_params_int64(&p, actor_id);
    db_params_text(&p, joined);
    db_params_text(&p, task->instructions);
    db_params_int64(&p, task->overlap);
    db_params_int64(&p, task->max_overlap);
    db_params_int64(&p, task->pay_per_label);
    db_params_text(&p, task->currency);
    {
        char share[32], grid[100];
        snprintf(share, sizeof share, "%.17g", task->gold_share);
        snprintf(grid, sizeof grid, "{%.17g,%.17g,%.17g}", task->rating_min, task->rating_max,
                 task->rating_step);
        db_params_text(&p, share);
        db_params_text(&p, label_kind_name(task->kind));
        db_params_text(&p, task->kind == LABEL_KIND_RATING ? grid : NULL);
        db_params_int64(&p, task->lease_seconds > 0 ? task->lease_seconds
                                                    : LABEL_LEASE_SECONDS_DEFAULT);
        rc = db_query(conn,
                      "INSERT INTO label_tasks (dataset_id, creator_id, classes, instructions,"
                      " overlap, max_overlap, pay_per_label, currency, gold_share, kind,"
                      " rating_min, rating_max, rating_step, lease_seconds)"
                      " SELECT $1, $2, CASE WHEN $3 = '' THEN '{}'::text[]"
                      " ELSE string_to_array($3, E'\\x1f') END, $4, $5::integer,"
                      " $6::integer, $7, $8, $9::double precision, $10, g[1], g[2], g[3],"
                      " $12::integer FROM (SELECT $11::double precision[] AS g) AS grid"
                      " RETURNING id, " MS("created_at"),
                      &p, &res, err);
    }
    free(joined);
    if (rc != LODE_OK)
        return rc;
    task->id = db_result_int64(res, 0, 0);
    task->created_at_ms = db_result_int64(res, 0, 1);
    task->creator_id = actor_id;
    task->owner_id = owner;
    PQclear(res);
    return LODE_OK;
}

/* Copies a result field into the arena. */
static const char *field_dup(struct arena *arena, const PGresult *res, int row, int col)
{
    return arena_strndup(arena, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

enum lode_code label_task_get(struct db_conn *conn, int64_t id, struct arena *arena,
                              struct label_task *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    memset(out, 0, sizeof *out);
    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn,
                  "SELECT t.id, t.dataset_id, t.creator_id, d.owner_id, t.instructions,"
                  " t.overlap, t.max_overlap, t.pay_per_label, t.currency, t.gold_share, "
                  MS("t.created_at") ","
                  " (SELECT count(*) FROM items i WHERE i.dataset_id = t.dataset_id"
                  "   AND i.status = 'accepted'),"
                  " (SELECT count(*) FROM label_gold g WHERE g.task_id = t.id),"
                  " (SELECT count(*) FROM labels l WHERE l.task_id = t.id),"
                  " t.kind, coalesce(t.rating_min, 0), coalesce(t.rating_max, 0),"
                  " coalesce(t.rating_step, 0), t.lease_seconds"
                  " FROM label_tasks t JOIN datasets d ON d.id = t.dataset_id WHERE t.id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lode_error_set(err, LODE_ENOTFOUND, "label task %" PRId64 " does not exist", id);
        return err->code;
    }
    out->id = db_result_int64(res, 0, 0);
    out->dataset_id = db_result_int64(res, 0, 1);
    out->creator_id = db_result_int64(res, 0, 2);
    out->owner_id = db_result_int64(res, 0, 3);
    out->instructions = field_dup(arena, res, 0, 4);
    out->overlap = (int)db_result_int64(res, 0, 5);
    out->max_overlap = (int)db_result_int64(res, 0, 6);
    out->pay_per_label = db_result_int64(res, 0, 7);
    db_result_text(res, 0, 8, out->currency, sizeof out->currency);
    out->gold_share = strtod(PQgetvalue(res, 0, 9), NULL);
    out->created_at_ms = db_result_int64(res, 0, 10);
    out->item_count = db_result_int64(res, 0, 11);
    out->gold_count = db_result_int64(res, 0, 12);
    out->label_count = db_result_int64(res, 0, 13);
    if (!label_kind_parse(PQgetvalue(res, 0, 14), &out->kind))
        out->kind = LABEL_KIND_SINGLE_CHOICE;
    out->rating_min = strtod(PQgetvalue(res, 0, 15), NULL);
    out->rating_max = strtod(PQgetvalue(res, 0, 16), NULL);
    out->rating_step = strtod(PQgetvalue(res, 0, 17), NULL);
    out->lease_seconds = (int)db_result_int64(res, 0, 18);
    PQclear(res);
    rc = money_balance(conn, (struct money_account){MONEY_ACCOUNT_TASK, out->id}, out->currency,
                       &out->budget, err);
    if (rc != LODE_OK)
        return rc;
    if (out->instructions == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task");

    rc = db_query(conn,
                  "SELECT c FROM label_tasks t, unnest(t.classes) WITH ORDINALITY AS u(c, k)"
                  " WHERE t.id = $1 ORDER BY k",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    out->classes = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof *out->classes);
    if (out->classes == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task");
    }
    for (int i = 0; i < n; i++) {
        out->classes[i] = field_dup(arena, res, i, 0);
        if (out->classes[i] == NULL) {
            PQclear(res);
            return lode_error_set(err, LODE_ENOMEM, "could not hold the task");
        }
    }
    out->class_count = (uint32_t)n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code label_gold_set(struct db_conn *conn, int64_t task_id, int64_t actor_id,
                              bool operator, const int64_t *items,
                              const struct label_value *values, size_t count,
                              struct lode_error *err)
{
    struct label_task task;
    enum lode_code rc;

    rc = task_owner_check(conn, task_id, actor_id, operator, &task, err);
    if (rc != LODE_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        struct db_params p;
        PGresult *res = NULL;
        char ptr[LODE_ERROR_NAME_MAX], bufs[2][32];

        if (!value_valid(&task, &values[i])) {
            lode_error_set(err, LODE_EINVAL, "gold %zu is not a valid %s answer of the task", i,
                           label_kind_name(task.kind));
            snprintf(ptr, sizeof ptr, "/gold/%zu/label", i);
            lode_error_pointer(err, ptr);
            return err->code;
        }
        db_params_init(&p);
        db_params_int64(&p, task_id);
        db_params_int64(&p, items[i]);
        db_params_int64(&p, task.dataset_id);
        params_value(&p, &task, &values[i], bufs);
        rc = db_query(conn,
                      "INSERT INTO label_gold (task_id, item_id, class_index, class_set, rating)"
                      " SELECT $1, i.id, $4::integer, $5::bigint, $6::double precision"
                      " FROM items i"
                      " WHERE i.id = $2 AND i.dataset_id = $3 AND i.status = 'accepted'"
                      " ON CONFLICT ON CONSTRAINT label_gold_pkey"
                      " DO UPDATE SET class_index = EXCLUDED.class_index,"
                      " class_set = EXCLUDED.class_set, rating = EXCLUDED.rating",
                      &p, &res, err);
        if (rc != LODE_OK)
            return rc;
        if (strcmp(PQcmdTuples(res), "1") != 0) {
            PQclear(res);
            lode_error_set(err, LODE_EUNPROCESSABLE,
                           "item %" PRId64 " is not an accepted item of the task's dataset",
                           items[i]);
            snprintf(ptr, sizeof ptr, "/gold/%zu/item", i);
            lode_error_pointer(err, ptr);
            return err->code;
        }
        PQclear(res);
    }
    return LODE_OK;
}

/* The advisory lock class of label_next (two-key form: its keys never meet the one-key locks
 * used elsewhere); the second key is the task id folded into an int4. */
#define NEXT_LOCK_CLASS 0x4c4e /* "LN" */
/* Takes that lock, with the task id as $1 and NEXT_LOCK_CLASS as $2. */
#define NEXT_LOCK_SQL "pg_advisory_xact_lock($2::integer, ($1 % 2147483647)::integer)"

/* Candidates: accepted items of the task's dataset this labeler has not labeled; $3 = 1 gold
 * items, $3 = 0 the others while their labels plus others' live leases are short of overlap
 * (or, disagreed on, short of max_overlap). A label's value, whatever the kind, is compared as
 * text: class index, class set or canonical rating. */
static const char next_sql[] =
    "WITH per_value AS (SELECT item_id,"
    "   coalesce(class_index::text, class_set::text, rating::text) AS v, count(*) AS k"
    "   FROM labels WHERE task_id = $1 GROUP BY 1, 2),"
    " stats AS (SELECT item_id, sum(k) AS n, max(k) AS top FROM per_value GROUP BY item_id),"
    " leased AS (SELECT item_id, count(*) AS r FROM label_leases WHERE task_id = $1"
    "   AND labeler_id <> $2 AND expires_at > now() GROUP BY item_id)"
    " SELECT i.id, encode(i.sha256, 'hex'), i.media_type"
    " FROM label_tasks t JOIN items i ON i.dataset_id = t.dataset_id"
    " LEFT JOIN stats s ON s.item_id = i.id"
    " LEFT JOIN leased r ON r.item_id = i.id"
    " LEFT JOIN label_gold g ON g.task_id = t.id AND g.item_id = i.id"
    " WHERE t.id = $1 AND i.status = 'accepted'"
    "   AND NOT EXISTS (SELECT 1 FROM labels m WHERE m.task_id = $1 AND m.item_id = i.id"
    "                   AND m.labeler_id = $2)"
    "   AND CASE WHEN $3::integer = 1 THEN g.item_id IS NOT NULL"
    "       ELSE g.item_id IS NULL AND (coalesce(s.n, 0) + coalesce(r.r, 0) < t.overlap"
    "            OR (s.n + coalesce(r.r, 0) < t.max_overlap"
    "                AND s.top::float8 / s.n < $4::float8)) END"
    " ORDER BY coalesce(s.n, 0) + coalesce(r.r, 0), md5(i.id::text || ':' || $2::text), i.id"
    " LIMIT 1";

static void offer_read(const PGresult *res, struct label_offer *out)
{
    out->item_id = db_result_int64(res, 0, 0);
    db_result_text(res, 0, 1, out->sha256, sizeof out->sha256);
    db_result_text(res, 0, 2, out->media_type, sizeof out->media_type);
}

static enum lode_code next_from(struct db_conn *conn, int64_t task_id, int64_t labeler_id,
                                bool gold, struct label_offer *out, bool *found_out,
                                struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char agreement[32];

    snprintf(agreement, sizeof agreement, "%.17g", LABEL_REQUEUE_AGREEMENT);
    db_params_init(&p);
    db_params_int64(&p, task_id);
    db_params_int64(&p, labeler_id);
    db_params_int64(&p, gold ? 1 : 0);
    db_params_text(&p, agreement);
    rc = db_query(conn, next_sql, &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *found_out = PQntuples(res) > 0;
    if (*found_out)
        offer_read(res, out);
    PQclear(res);
    return LODE_OK;
}

struct next_args {
    int64_t task_id, labeler_id;
    bool want_gold;
    struct label_offer *out;
    bool *found_out;
    bool unaffordable;
};

/* Takes label_next's lock on the task for the rest of the caller's transaction, in a
 * statement of its own: what the caller reads next sees everything committed before the lock
 * was granted. */
static enum lode_code task_next_lock(struct db_conn *conn, int64_t task_id,
                                     struct lode_error *err)
{
    struct db_params p;

    db_params_init(&p);
    db_params_int64(&p, task_id);
    db_params_int64(&p, NEXT_LOCK_CLASS);
    return db_query(conn, "SELECT " NEXT_LOCK_SQL, &p, NULL, err);
}

/* Live leases of the task held by labelers other than except_labeler (0: all). A statement of
 * its own, so that under READ COMMITTED it sees every lease committed before the caller got
 * label_next's lock (a statement that takes the lock reads from a snapshot older than it). */
static enum lode_code live_leases(struct db_conn *conn, int64_t task_id, int64_t except_labeler,
                                  int64_t *count_out, struct lode_error *err)
{
    struct db_params p;

    db_params_init(&p);
    db_params_int64(&p, task_id);
    db_params_int64(&p, except_labeler);
    return db_query_int64(conn,
                          "SELECT count(*) FROM label_leases"
                          " WHERE task_id = $1 AND labeler_id <> $2 AND expires_at > now()",
                          &p, count_out, err);
}

/* Can the task's budget pay one label more than the other labelers' live leases (each may
 * turn into a paid label)? Run under label_next's lock. */
static enum lode_code budget_covers(struct db_conn *conn, int64_t task_id, int64_t labeler_id,
                                    int64_t pay, const char *currency, bool *covers_out,
                                    struct lode_error *err)
{
    enum lode_code rc;
    int64_t budget = 0, leased;

    *covers_out = true;
    if (pay <= 0)
        return LODE_OK;
    rc = money_balance(conn, (struct money_account){MONEY_ACCOUNT_TASK, task_id}, currency,
                       &budget, err);
    if (rc == LODE_OK)
        rc = live_leases(conn, task_id, labeler_id, &leased, err);
    if (rc != LODE_OK)
        return rc;
    *covers_out = budget / pay >= leased + 1;
    return LODE_OK;
}

static enum lode_code next_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct next_args *a = arg;
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int lease_seconds;
    int64_t pay;
    char currency[4];
    bool covers = true;

    *a->found_out = false;
    a->unaffordable = false;
    db_params_init(&p);
    db_params_int64(&p, a->task_id);
    db_params_int64(&p, NEXT_LOCK_CLASS);
    rc = db_query(conn,
                  "SELECT lease_seconds, pay_per_label, currency,"
                  " " NEXT_LOCK_SQL
                  " FROM label_tasks WHERE id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "label task %" PRId64 " does not exist",
                              a->task_id);
    }
    lease_seconds = (int)db_result_int64(res, 0, 0);
    pay = db_result_int64(res, 0, 1);
    db_result_text(res, 0, 2, currency, sizeof currency);
    PQclear(res);
    db_params_init(&p);
    db_params_int64(&p, a->task_id);
    rc = db_query(conn, "DELETE FROM label_leases WHERE task_id = $1 AND expires_at <= now()",
                  &p, NULL, err);
    if (rc != LODE_OK)
        return rc;
    /* the caller's own live lease first: asking again does not reserve a second item */
    db_params_int64(&p, a->labeler_id);
    rc = db_query(conn,
                  "SELECT i.id, encode(i.sha256, 'hex'), i.media_type FROM label_leases l"
                  " JOIN items i ON i.id = l.item_id"
                  " WHERE l.task_id = $1 AND l.labeler_id = $2 AND i.status = 'accepted'"
                  " ORDER BY l.expires_at, i.id LIMIT 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *a->found_out = PQntuples(res) > 0;
    if (*a->found_out)
        offer_read(res, a->out);
    PQclear(res);
    if (*a->found_out)
        return LODE_OK;
    rc = budget_covers(conn, a->task_id, a->labeler_id, pay, currency, &covers, err);
    a->unaffordable = rc == LODE_OK && !covers;
    if (rc != LODE_OK || a->unaffordable)
        return rc;
    if (a->want_gold) {
        rc = next_from(conn, a->task_id, a->labeler_id, true, a->out, a->found_out, err);
        if (rc != LODE_OK)
            return rc;
    }
    if (!*a->found_out) {
        rc = next_from(conn, a->task_id, a->labeler_id, false, a->out, a->found_out, err);
        if (rc != LODE_OK)
            return rc;
    }
    if (!*a->found_out && !a->want_gold) {
        rc = next_from(conn, a->task_id, a->labeler_id, true, a->out, a->found_out, err);
        if (rc != LODE_OK)
            return rc;
    }
    if (!*a->found_out)
        return LODE_OK;
    /* a lease the caller still holds is on an item no longer offered (quarantined, say): it
     * must not go on counting against the overlap and the budget */
    rc = db_query(conn, "DELETE FROM label_leases WHERE task_id = $1 AND labeler_id = $2", &p,
                  NULL, err);
    if (rc != LODE_OK)
        return rc;
    db_params_int64(&p, a->out->item_id);
    db_params_int64(&p, lease_seconds);
    return db_query(conn,
                    "INSERT INTO label_leases (task_id, labeler_id, item_id, expires_at)"
                    " VALUES ($1, $2, $3, now() + make_interval(secs => $4::integer))"
                    " ON CONFLICT ON CONSTRAINT label_leases_pkey"
                    " DO UPDATE SET expires_at = EXCLUDED.expires_at",
                    &p, NULL, err);
}

/* A paid label without the caller's live lease on its item may spend only budget no other
 * labeler's live lease holds; taken under label_next's lock so the two never race.
 * LODE_OK or LODE_ECONFLICT ("task budget exhausted"). */
static enum lode_code label_budget_reserve(struct db_conn *conn, const struct label_task *task,
                                           int64_t item_id, int64_t labeler_id,
                                           struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    bool own, covers = true;

    rc = task_next_lock(conn, task->id, err);
    if (rc != LODE_OK)
        return rc;
    /* after the lock: it sees a lease another /next deleted while we waited */
    db_params_init(&p);
    db_params_int64(&p, task->id);
    db_params_int64(&p, labeler_id);
    db_params_int64(&p, item_id);
    rc = db_query(conn,
                  "SELECT EXISTS (SELECT 1 FROM label_leases WHERE task_id = $1 AND labeler_id = $2"
                  " AND item_id = $3 AND expires_at > now())",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    own = db_result_bool(res, 0, 0);
    PQclear(res);
    if (own)
        return LODE_OK; /* /next reserved this label's pay */
    rc = budget_covers(conn, task->id, labeler_id, task->pay_per_label, task->currency, &covers,
                       err);
    if (rc != LODE_OK || covers)
        return rc;
    lode_error_set(err, LODE_ECONFLICT,
                   "task budget exhausted: what label task %" PRId64 " holds is reserved for"
                   " items leased to other labelers",
                   task->id);
    lode_error_pointer(err, "/item");
    return err->code;
}

enum lode_code label_budget_free(struct db_conn *conn, const struct label_task *task,
                                 int64_t *budget_out, int64_t *free_out, struct lode_error *err)
{
    enum lode_code rc;
    int64_t leased = 0, reserved = 0;

    rc = task_next_lock(conn, task->id, err);
    /* a task that pays nothing per label reserves nothing, however many leases it has */
    if (rc == LODE_OK && task->pay_per_label > 0)
        rc = live_leases(conn, task->id, 0, &leased, err);
    if (rc == LODE_OK)
        rc = money_balance(conn, (struct money_account){MONEY_ACCOUNT_TASK, task->id},
                           task->currency, budget_out, err);
    if (rc != LODE_OK)
        return rc;
    if (__builtin_mul_overflow(leased, task->pay_per_label, &reserved))
        reserved = INT64_MAX;
    *free_out = *budget_out > reserved ? *budget_out - reserved : 0;
    return LODE_OK;
}

enum lode_code label_next(struct db_conn *conn, int64_t task_id, int64_t labeler_id,
                          bool want_gold, struct label_offer *out, bool *found_out,
                          bool *unaffordable_out, struct lode_error *err)
{
    struct next_args a = {task_id, labeler_id, want_gold, out, found_out, false};
    enum lode_code rc;

    *found_out = false;
    rc = db_tx(conn, DB_READ_COMMITTED, next_tx, &a, err);
    if (unaffordable_out != NULL)
        *unaffordable_out = rc == LODE_OK && a.unaffordable;
    return rc;
}

enum lode_code label_item_check(struct db_conn *conn, const struct label_task *task,
                                int64_t item_id, char sha256_out[65], struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, item_id);
    db_params_int64(&p, task->dataset_id);
    rc = db_query(conn,
                  "SELECT encode(sha256, 'hex') FROM items"
                  " WHERE id = $1 AND dataset_id = $2 AND status = 'accepted'",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lode_error_set(err, LODE_EUNPROCESSABLE,
                       "item %" PRId64 " is not an item of label task %" PRId64, item_id,
                       task->id);
        lode_error_pointer(err, "/item");
        return err->code;
    }
    db_result_text(res, 0, 0, sha256_out, 65);
    PQclear(res);
    return LODE_OK;
}

enum lode_code label_insert(struct db_conn *conn, const struct label_task *task, int64_t item_id,
                            int64_t labeler_id, const struct label_value *value,
                            const uint8_t nonce[LABEL_NONCE_BYTES], int64_t queue_id,
                            int64_t *label_id_out, int64_t *created_at_ms_out,
                            struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char bufs[2][32];

    if (!value_valid(task, value)) {
        lode_error_set(err, LODE_EINVAL, "the label is not a valid %s answer of label task %" PRId64,
                       label_kind_name(task->kind), task->id);
        lode_error_pointer(err, "/label");
        return err->code;
    }
    if (task->pay_per_label > 0) {
        rc = label_budget_reserve(conn, task, item_id, labeler_id, err);
        if (rc != LODE_OK)
            return rc;
    }
    db_params_init(&p);
    db_params_int64(&p, task->id);
    db_params_int64(&p, item_id);
    db_params_int64(&p, labeler_id);
    db_params_int64(&p, queue_id);
    db_params_bytes(&p, nonce, LABEL_NONCE_BYTES);
    params_value(&p, task, value, bufs);
    rc = db_query(conn,
                  "INSERT INTO labels (task_id, item_id, labeler_id, ledger_queue_id, nonce,"
                  " class_index, class_set, rating) VALUES ($1, $2, $3, $4, $5, $6::integer,"
                  " $7::bigint, $8::double precision) RETURNING id, "
                  MS("created_at"),
                  &p, &res, err);
    if (rc == LODE_ECONFLICT && strcmp(err->constraint, "labels_once_per_labeler") == 0) {
        lode_error_set(err, LODE_ECONFLICT,
                       "account %" PRId64 " already labeled item %" PRId64 " in this task",
                       labeler_id, item_id);
        lode_error_pointer(err, "/item");
        return err->code;
    }
    if (rc != LODE_OK)
        return rc;
    *label_id_out = db_result_int64(res, 0, 0);
    *created_at_ms_out = db_result_int64(res, 0, 1);
    PQclear(res);
    db_params_init(&p);
    db_params_int64(&p, task->id);
    db_params_int64(&p, labeler_id);
    db_params_int64(&p, item_id);
    return db_query(conn,
                    "DELETE FROM label_leases WHERE task_id = $1 AND labeler_id = $2"
                    " AND item_id = $3",
                    &p, NULL, err);
}

/* Index of id in a sorted array, or UINT32_MAX. */
static uint32_t dense_find(const int64_t *ids, uint32_t count, int64_t id)
{
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else if (ids[mid] > id)
            hi = mid;
        else
            return mid;
    }
    return UINT32_MAX;
}

/* Reads column 0 of every row as a sorted id list into the arena. */
static enum lode_code ids_read(const PGresult *res, struct arena *arena, int64_t **ids_out,
                               uint32_t *count_out, struct lode_error *err)
{
    int n = PQntuples(res);
    int64_t *ids = arena_calloc(arena, (size_t)(n > 0 ? n : 1), sizeof *ids);

    if (ids == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task's labels");
    for (int i = 0; i < n; i++)
        ids[i] = db_result_int64(res, i, 0);
    *ids_out = ids;
    *count_out = (uint32_t)n;
    return LODE_OK;
}

enum lode_code label_answers_load(struct db_conn *conn, const struct label_task *task,
                                  struct arena *arena, struct label_answers *out,
                                  struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    memset(out, 0, sizeof *out);
    if (task->label_count > LODE_LABEL_TASK_ANSWERS_MAX ||
        task->item_count > LODE_LABEL_TASK_ITEMS_MAX)
        return lode_error_set(err, LODE_ETOOBIG,
                              "label task %" PRId64 " has more labels or items than one request"
                              " aggregates (%d labels, %d items)",
                              task->id, LODE_LABEL_TASK_ANSWERS_MAX, LODE_LABEL_TASK_ITEMS_MAX);
    /* the engine keeps a posterior per item and class: bound that, not just the counts, so a
     * task too large for one request's memory is a 413 and never a 503 to retry forever */
    if (task->item_count * (int64_t)(task->class_count > 2 ? task->class_count : 2) >
        LODE_LABEL_TASK_CELLS_MAX)
        return lode_error_set(err, LODE_ETOOBIG,
                              "label task %" PRId64 " has more items times classes than one"
                              " request aggregates (%d)",
                              task->id, LODE_LABEL_TASK_CELLS_MAX);
    db_params_init(&p);
    db_params_int64(&p, task->dataset_id);
    rc = db_query(conn,
                  "SELECT id FROM items WHERE dataset_id = $1 AND status = 'accepted' ORDER BY id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    rc = ids_read(res, arena, &out->item_ids, &out->item_count, err);
    PQclear(res);
    if (rc != LODE_OK)
        return rc;

    db_params_init(&p);
    db_params_int64(&p, task->id);
    rc = db_query(conn, "SELECT DISTINCT labeler_id FROM labels WHERE task_id = $1 ORDER BY 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    rc = ids_read(res, arena, &out->labeler_ids, &out->labeler_count, err);
    PQclear(res);
    if (rc != LODE_OK)
        return rc;

    rc = db_query(conn,
                  "SELECT item_id, labeler_id, coalesce(class_index, 0), id,"
                  " coalesce(class_set, 0), coalesce(rating, 0) FROM labels WHERE task_id = $1"
                  " ORDER BY id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    out->answer_item = arena_calloc(arena, (size_t)n + 1, sizeof *out->answer_item);
    out->answer_labeler = arena_calloc(arena, (size_t)n + 1, sizeof *out->answer_labeler);
    out->answer_class = arena_calloc(arena, (size_t)n + 1, sizeof *out->answer_class);
    out->answer_set = arena_calloc(arena, (size_t)n + 1, sizeof *out->answer_set);
    out->answer_rating = arena_calloc(arena, (size_t)n + 1, sizeof *out->answer_rating);
    if (out->answer_item == NULL || out->answer_labeler == NULL || out->answer_class == NULL ||
        out->answer_set == NULL || out->answer_rating == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task's labels");
    }
    for (int i = 0; i < n; i++) {
        uint32_t item = dense_find(out->item_ids, out->item_count, db_result_int64(res, i, 0));
        uint32_t who = dense_find(out->labeler_ids, out->labeler_count,
                                  db_result_int64(res, i, 1));
        int64_t id = db_result_int64(res, i, 3);
        if (id > out->last_label_id)
            out->last_label_id = id;
        if (item == UINT32_MAX || who == UINT32_MAX)
            continue; /* an item quarantined after it was labeled */
        out->answer_item[out->answer_count] = item;
        out->answer_labeler[out->answer_count] = who;
        out->answer_class[out->answer_count] = (uint32_t)db_result_int64(res, i, 2);
        out->answer_set[out->answer_count] = (uint64_t)db_result_int64(res, i, 4);
        out->answer_rating[out->answer_count] = strtod(PQgetvalue(res, i, 5), NULL);
        out->answer_count++;
    }
    PQclear(res);

    rc = db_query(conn,
                  "SELECT item_id, coalesce(class_index, 0), coalesce(class_set, 0),"
                  " coalesce(rating, 0) FROM label_gold WHERE task_id = $1 ORDER BY item_id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    out->gold_item = arena_calloc(arena, (size_t)n + 1, sizeof *out->gold_item);
    out->gold_class = arena_calloc(arena, (size_t)n + 1, sizeof *out->gold_class);
    out->gold_set = arena_calloc(arena, (size_t)n + 1, sizeof *out->gold_set);
    out->gold_rating = arena_calloc(arena, (size_t)n + 1, sizeof *out->gold_rating);
    if (out->gold_item == NULL || out->gold_class == NULL || out->gold_set == NULL ||
        out->gold_rating == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task's gold answers");
    }
    for (int i = 0; i < n; i++) {
        uint32_t item = dense_find(out->item_ids, out->item_count, db_result_int64(res, i, 0));
        if (item == UINT32_MAX)
            continue;
        out->gold_item[out->gold_count] = item;
        out->gold_class[out->gold_count] = (uint32_t)db_result_int64(res, i, 1);
        out->gold_set[out->gold_count] = (uint64_t)db_result_int64(res, i, 2);
        out->gold_rating[out->gold_count] = strtod(PQgetvalue(res, i, 3), NULL);
        out->gold_count++;
    }
    PQclear(res);
    return LODE_OK;
}
