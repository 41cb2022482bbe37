/*
 * tests/unit/storage/test_labels.c — storage/label_store.h against a scratch database: task
 * creation and ownership, gold answers, assignment (no repeats, gold first when asked, overlap
 * and adaptive re-queue), one label per (item, labeler), and the dense answer load.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "scratch_db.h"
#include "storage/account_store.h"
#include "storage/db_internal.h"
#include "storage/label_store.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"
#include "test_main.h"

#define ITEMS 4

static char db_url[SCRATCH_URL_BYTES];
static struct db_conn *conn;
static struct account owner, stranger, lab[4];
static int64_t dataset_id, other_dataset_id, items[ITEMS], foreign_item;

/* Setup steps run outside any suite: a failure stops the binary. */
static void setup_check(enum lode_code rc, const struct lode_error *err)
{
    if (rc != LODE_OK) {
        fprintf(stderr, "could not set up: %s (%s)\n", err->message, err->log_detail);
        abort();
    }
}

static int64_t queue_one(void)
{
    static const char entry[] = "{\"type\":\"label.submitted\"}";
    struct lode_error err;
    int64_t id = 0;
    setup_check(ledger_enqueue(conn, (const uint8_t *)entry, sizeof entry - 1, &id, &err), &err);
    return id;
}

/* An accepted item in a dataset, inserted directly (the contribution path is tested elsewhere). */
static int64_t item_insert(int64_t dataset, int n)
{
    struct lode_error err;
    struct db_params p;
    PGresult *res = NULL;
    uint8_t sha[32] = {0};
    int64_t id;

    sha[0] = (uint8_t)n;
    sha[1] = (uint8_t)dataset;
    db_params_init(&p);
    db_params_bytes(&p, sha, sizeof sha);
    setup_check(db_query(conn,
                         "INSERT INTO blobs (sha256, codec, raw_bytes, data)"
                         " VALUES ($1, 'zstd', 0, '\\x')",
                         &p, NULL, &err),
                &err);
    db_params_int64(&p, dataset);
    db_params_int64(&p, owner.id);
    db_params_int64(&p, queue_one());
    setup_check(db_query(conn,
                         "INSERT INTO items (dataset_id, contributor_id, sha256, media_type,"
                         " status, dedupe_verdict, ledger_queue_id)"
                         " VALUES ($2, $3, $1, 'text/plain', 'accepted', 'distinct', $4)"
                         " RETURNING id",
                         &p, &res, &err),
                &err);
    id = db_result_int64(res, 0, 0);
    PQclear(res);
    return id;
}

static void test_tasks_and_gold(void)
{
    static const char *const classes[] = {"cat", "dog"};
    struct arena *a = arena_create(1 << 20);
    struct label_task t = {0}, got;
    struct lode_error err;
    int64_t gold_items[2];
    struct label_value gold_classes[2] = {{.class_index = 0}, {.class_index = 1}};

    t.dataset_id = dataset_id;
    t.classes = (const char **)classes;
    t.class_count = 2;
    t.instructions = "pick one";
    t.overlap = 2;
    t.max_overlap = 3;
    t.pay_per_label = 7;
    memcpy(t.currency, "EUR", 4);
    t.gold_share = 0.5;
    CU_ASSERT_EQUAL(label_task_create(conn, stranger.id, false, &t, &err), LODE_EFORBIDDEN);
    CU_ASSERT_EQUAL(label_task_create(conn, stranger.id, true, &t, &err), LODE_OK); /* operator */
    t.dataset_id = 999999;
    CU_ASSERT_EQUAL(label_task_create(conn, owner.id, false, &t, &err), LODE_ENOTFOUND);
    t.dataset_id = dataset_id;
    t.max_overlap = 1; /* under overlap */
    CU_ASSERT_EQUAL(label_task_create(conn, owner.id, false, &t, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.constraint, "label_tasks_max_overlap_range");
    t.max_overlap = 3;
    CU_ASSERT_EQUAL_FATAL(label_task_create(conn, owner.id, false, &t, &err), LODE_OK);
    CU_ASSERT_EQUAL(t.owner_id, owner.id);

    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, t.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.class_count, 2);
    CU_ASSERT_STRING_EQUAL(got.classes[0], "cat");
    CU_ASSERT_STRING_EQUAL(got.classes[1], "dog");
    CU_ASSERT_STRING_EQUAL(got.instructions, "pick one");
    CU_ASSERT_EQUAL(got.overlap, 2);
    CU_ASSERT_EQUAL(got.max_overlap, 3);
    CU_ASSERT_EQUAL(got.pay_per_label, 7);
    CU_ASSERT_DOUBLE_EQUAL(got.gold_share, 0.5, 1e-12);
    CU_ASSERT_EQUAL(got.item_count, ITEMS);
    CU_ASSERT_EQUAL(label_task_get(conn, 999999, a, &got, &err), LODE_ENOTFOUND);

    gold_items[0] = items[0];
    gold_items[1] = foreign_item;
    CU_ASSERT_EQUAL(label_gold_set(conn, t.id, stranger.id, false, gold_items, gold_classes, 1,
                                   &err),
                    LODE_EFORBIDDEN);
    CU_ASSERT_EQUAL(label_gold_set(conn, t.id, owner.id, false, gold_items, gold_classes, 2, &err),
                    LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/gold/1/item");
    gold_classes[0].class_index = 2; /* outside the schema */
    CU_ASSERT_EQUAL(label_gold_set(conn, t.id, owner.id, false, gold_items, gold_classes, 1, &err),
                    LODE_EINVAL);
    gold_classes[0].class_index = 1;
    CU_ASSERT_EQUAL(label_gold_set(conn, t.id, owner.id, false, gold_items, gold_classes, 1, &err),
                    LODE_OK);
    gold_classes[0].class_index = 0; /* replaced, not added */
    CU_ASSERT_EQUAL(label_gold_set(conn, t.id, owner.id, false, gold_items, gold_classes, 1, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, t.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.gold_count, 1);
    arena_destroy(a);
}

/* Labels item with a value for a labeler; returns the code. */
static enum lode_code label_value(const struct label_task *task, int64_t item, int64_t who,
                                  struct label_value v)
{
    uint8_t nonce[LABEL_NONCE_BYTES] = {1};
    struct lode_error err;
    int64_t id, at;
    return label_insert(conn, task, item, who, &v, nonce, queue_one(), &id, &at, &err);
}

/* Labels item with class for a labeler; returns the code. */
static enum lode_code label(const struct label_task *task, int64_t item, int64_t who,
                            uint32_t cls)
{
    return label_value(task, item, who, (struct label_value){.class_index = cls});
}

static void test_assignment(void)
{
    static const char *const classes[] = {"yes", "no"};
    struct arena *a = arena_create(1 << 20);
    struct label_task t = {0}, got;
    struct label_offer offer = {0};
    struct label_answers ans;
    struct lode_error err;
    struct label_value gold_class = {.class_index = 1};
    bool found = false, seen[ITEMS] = {false};
    int n = 0;

    t.dataset_id = dataset_id;
    t.classes = (const char **)classes;
    t.class_count = 2;
    t.instructions = "";
    t.overlap = 2;
    t.max_overlap = 3;
    memcpy(t.currency, "EUR", 4);
    CU_ASSERT_EQUAL_FATAL(label_task_create(conn, owner.id, false, &t, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(label_gold_set(conn, t.id, owner.id, false, &items[3], &gold_class, 1,
                                         &err),
                          LODE_OK);

    /* asked for gold first: the gold item comes first */
    CU_ASSERT_EQUAL_FATAL(label_next(conn, t.id, lab[0].id, true, &offer, &found, NULL, &err), LODE_OK);
    CU_ASSERT_FATAL(found);
    CU_ASSERT_EQUAL(offer.item_id, items[3]);
    CU_ASSERT_EQUAL(strlen(offer.sha256), 64);
    /* labeler 0 takes everything offered until nothing is left: every item once */
    while (n < 2 * ITEMS) {
        CU_ASSERT_EQUAL_FATAL(label_next(conn, t.id, lab[0].id, false, &offer, &found, NULL, &err),
                              LODE_OK);
        if (!found)
            break;
        for (int i = 0; i < ITEMS; i++)
            if (items[i] == offer.item_id) {
                CU_ASSERT_FALSE(seen[i]); /* never repeated */
                seen[i] = true;
            }
        CU_ASSERT_EQUAL(label(&t, offer.item_id, lab[0].id, 0), LODE_OK);
        n++;
    }
    CU_ASSERT_EQUAL(n, ITEMS); /* regular items, then the gold one */
    CU_ASSERT_EQUAL(label(&t, items[0], lab[0].id, 1), LODE_ECONFLICT);

    /* labeler 1 agrees on item 0, disagrees on item 1; labeler 2 then sees only the items short
     * of overlap or disagreed on (item 1 at 1/2 agreement), never item 0 (2 agreeing labels) */
    CU_ASSERT_EQUAL(label(&t, items[0], lab[1].id, 0), LODE_OK);
    CU_ASSERT_EQUAL(label(&t, items[1], lab[1].id, 1), LODE_OK);
    CU_ASSERT_EQUAL(label(&t, items[2], lab[1].id, 0), LODE_OK);
    CU_ASSERT_EQUAL(label(&t, items[3], lab[1].id, 1), LODE_OK);
    memset(seen, 0, sizeof seen);
    for (n = 0; n < ITEMS + 1; n++) {
        CU_ASSERT_EQUAL_FATAL(label_next(conn, t.id, lab[2].id, false, &offer, &found, NULL, &err),
                              LODE_OK);
        if (!found)
            break;
        for (int i = 0; i < ITEMS; i++)
            if (items[i] == offer.item_id)
                seen[i] = true;
        CU_ASSERT_EQUAL(label(&t, offer.item_id, lab[2].id, 1), LODE_OK);
    }
    CU_ASSERT_FALSE(seen[0]);
    CU_ASSERT_TRUE(seen[1]); /* re-queued: 1 of 2 labels agree */
    CU_ASSERT_FALSE(seen[2]);
    CU_ASSERT_TRUE(seen[3]); /* gold: every labeler answers it */
    CU_ASSERT_EQUAL(n, 2);
    /* item 1 now has 3 = max_overlap labels: no fourth labeler gets it */
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[3].id, false, &offer, &found, NULL, &err), LODE_OK);
    CU_ASSERT(found && offer.item_id == items[3]);

    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, t.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.label_count, 10);
    CU_ASSERT_EQUAL_FATAL(label_answers_load(conn, &got, a, &ans, &err), LODE_OK);
    CU_ASSERT_EQUAL(ans.item_count, ITEMS);
    CU_ASSERT_EQUAL(ans.labeler_count, 3);
    CU_ASSERT_EQUAL(ans.answer_count, 10);
    CU_ASSERT_EQUAL(ans.gold_count, 1);
    CU_ASSERT(ans.last_label_id > 0);
    CU_ASSERT_EQUAL(ans.item_ids[ans.gold_item[0]], items[3]);
    CU_ASSERT_EQUAL(ans.gold_class[0], 1);
    for (size_t i = 0; i < ans.answer_count; i++) {
        CU_ASSERT(ans.answer_item[i] < ITEMS);
        CU_ASSERT(ans.answer_labeler[i] < 3);
        CU_ASSERT(ans.answer_class[i] < 2);
    }
    CU_ASSERT_EQUAL(label_next(conn, 999999, lab[0].id, false, &offer, &found, NULL, &err),
                    LODE_ENOTFOUND);
    arena_destroy(a);
}

/* A task of a kind on the main dataset, created by the owner; returns the code. */
static enum lode_code task_make(struct label_task *t, enum label_kind kind, const char *const *classes,
                      uint32_t class_count, int overlap, int max_overlap)
{
    struct lode_error err;

    memset(t, 0, sizeof *t);
    t->dataset_id = dataset_id;
    t->kind = kind;
    t->classes = (const char **)classes;
    t->class_count = class_count;
    t->instructions = "";
    t->overlap = overlap;
    t->max_overlap = max_overlap;
    memcpy(t->currency, "EUR", 4);
    return label_task_create(conn, owner.id, false, t, &err);
}

static void test_kinds(void)
{
    static const char *const tags[] = {"red", "round", "large"};
    struct arena *a = arena_create(1 << 20);
    struct label_task m, r, got, bad;
    struct label_answers ans;
    struct label_value v[2];
    struct lode_error err;
    int64_t gold_items[1] = {items[0]};
    double canon;
    char text[LABEL_RATING_TEXT_BYTES];

    /* multi-label: sets within the classes, the empty set included */
    CU_ASSERT_EQUAL_FATAL(task_make(&m, LABEL_KIND_MULTI_LABEL, tags, 3, 2, 2), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, m.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.kind, LABEL_KIND_MULTI_LABEL);
    CU_ASSERT_EQUAL(got.class_count, 3);
    CU_ASSERT_EQUAL(got.lease_seconds, LABEL_LEASE_SECONDS_DEFAULT);
    v[0].class_set = 8; /* class 3 does not exist */
    CU_ASSERT_EQUAL(label_gold_set(conn, m.id, owner.id, false, gold_items, v, 1, &err),
                    LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/gold/0/label");
    v[0].class_set = 5;
    CU_ASSERT_EQUAL(label_gold_set(conn, m.id, owner.id, false, gold_items, v, 1, &err), LODE_OK);
    CU_ASSERT_EQUAL(label_value(&got, items[1], lab[0].id, (struct label_value){.class_set = 3}),
                    LODE_OK);
    CU_ASSERT_EQUAL(label_value(&got, items[1], lab[1].id, (struct label_value){.class_set = 0}),
                    LODE_OK);
    CU_ASSERT_EQUAL(label_value(&got, items[2], lab[1].id, (struct label_value){.class_set = 16}),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(label_value(&got, items[1], lab[0].id, (struct label_value){.class_set = 1}),
                    LODE_ECONFLICT);
    CU_ASSERT_EQUAL_FATAL(label_answers_load(conn, &got, a, &ans, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(ans.answer_count, 2);
    CU_ASSERT_EQUAL(ans.answer_set[0], 3);
    CU_ASSERT_EQUAL(ans.answer_set[1], 0);
    CU_ASSERT_EQUAL_FATAL(ans.gold_count, 1);
    CU_ASSERT_EQUAL(ans.gold_set[0], 5);

    /* rating 1..5 by 0.5: values on the grid, stored canonical */
    /* no grid: refused by label_tasks_rating_range */
    CU_ASSERT_EQUAL(task_make(&r, LABEL_KIND_RATING, NULL, 0, 1, 1), LODE_EUNPROCESSABLE);
    r.rating_min = 1;
    r.rating_max = 5;
    r.rating_step = 0.5;
    CU_ASSERT_EQUAL_FATAL(label_task_create(conn, owner.id, false, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, r.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.kind, LABEL_KIND_RATING);
    CU_ASSERT_EQUAL(got.class_count, 0);
    CU_ASSERT_DOUBLE_EQUAL(got.rating_step, 0.5, 0);
    CU_ASSERT_TRUE(label_rating_canonical(&got, 3.5, &canon, text));
    CU_ASSERT_STRING_EQUAL(text, "3.5");
    CU_ASSERT_TRUE(label_rating_canonical(&got, 5, &canon, text));
    CU_ASSERT_FALSE(label_rating_canonical(&got, 3.25, &canon, text));
    CU_ASSERT_FALSE(label_rating_canonical(&got, 5.5, &canon, text));
    CU_ASSERT_FALSE(label_rating_canonical(&got, 0.5, &canon, text));
    v[0].rating = 4.5;
    CU_ASSERT_EQUAL(label_gold_set(conn, r.id, owner.id, false, gold_items, v, 1, &err), LODE_OK);
    v[0].rating = 4.25;
    CU_ASSERT_EQUAL(label_gold_set(conn, r.id, owner.id, false, gold_items, v, 1, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(label_value(&got, items[1], lab[0].id, (struct label_value){.rating = 2}),
                    LODE_OK);
    CU_ASSERT_EQUAL(label_value(&got, items[1], lab[1].id, (struct label_value){.rating = 7}),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL_FATAL(label_answers_load(conn, &got, a, &ans, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(ans.answer_count, 1);
    CU_ASSERT_DOUBLE_EQUAL(ans.answer_rating[0], 2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(ans.gold_rating[0], 4.5, 0);

    /* a grid of 0.1 steps: 0.3 is canonical although 3 * 0.1 is not exactly 0.3 */
    got.rating_min = 0;
    got.rating_max = 1;
    got.rating_step = 0.1;
    CU_ASSERT_TRUE(label_rating_canonical(&got, 0.30000000000000004, &canon, text));
    CU_ASSERT_STRING_EQUAL(text, "0.3");
    CU_ASSERT_DOUBLE_EQUAL(canon, 0.3, 0);

    /* a single-choice task with one class is refused, a multi-label one is not */
    CU_ASSERT_EQUAL(task_make(&bad, LABEL_KIND_SINGLE_CHOICE, tags, 1, 1, 1),
                    LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(task_make(&bad, LABEL_KIND_MULTI_LABEL, tags, 1, 1, 1), LODE_OK);
    arena_destroy(a);
}

/* Leases: an offered item counts toward its overlap until labeled or expired. */
static void test_leases(void)
{
    static const char *const yn[] = {"yes", "no"};
    struct label_task t;
    struct label_offer offer = {0}, again = {0};
    struct lode_error err;
    struct db_params p;
    bool found = false;
    int64_t got[ITEMS];

    CU_ASSERT_EQUAL_FATAL(task_make(&t, LABEL_KIND_SINGLE_CHOICE, yn, 2, 1, 1), LODE_OK);
    /* four labelers ask in turn with overlap 1: four different items */
    for (int i = 0; i < ITEMS; i++) {
        CU_ASSERT_EQUAL_FATAL(label_next(conn, t.id, lab[i].id, false, &offer, &found, NULL, &err),
                              LODE_OK);
        CU_ASSERT_FATAL(found);
        got[i] = offer.item_id;
        for (int k = 0; k < i; k++)
            CU_ASSERT_NOT_EQUAL(got[k], got[i]);
    }
    /* asking again returns the caller's own lease, not a second item */
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[0].id, false, &again, &found, NULL, &err), LODE_OK);
    CU_ASSERT(found && again.item_id == got[0]);
    /* every item is leased: the owner (acting as a fifth labeler) gets nothing */
    CU_ASSERT_EQUAL(label_next(conn, t.id, owner.id, false, &offer, &found, NULL, &err), LODE_OK);
    CU_ASSERT_FALSE(found);
    /* labeler 0 labels: the lease goes, the item is full, and labeler 0 gets nothing new */
    CU_ASSERT_EQUAL(label(&t, got[0], lab[0].id, 0), LODE_OK);
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[0].id, false, &offer, &found, NULL, &err), LODE_OK);
    CU_ASSERT_FALSE(found);
    /* labeler 1's lease expires: its item is free again */
    db_params_init(&p);
    db_params_int64(&p, t.id);
    db_params_int64(&p, lab[1].id);
    CU_ASSERT_EQUAL(db_query(conn,
                             "UPDATE label_leases SET expires_at = now() - interval '1 second'"
                             " WHERE task_id = $1 AND labeler_id = $2",
                             &p, NULL, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(label_next(conn, t.id, owner.id, false, &offer, &found, NULL, &err), LODE_OK);
    CU_ASSERT(found && offer.item_id == got[1]);
}

/* A task that pays per label leases only what its budget can pay. */
static void test_budget(void)
{
    static const char *const yn[] = {"yes", "no"};
    struct arena *a = arena_create(1 << 20);
    struct label_task t, got;
    struct label_offer offer = {0};
    struct lode_error err;
    struct money_transfer fund = {{MONEY_ACCOUNT_EXTERNAL, 0}, {MONEY_ACCOUNT_TASK, 0}, "EUR",
                                  10, "deposit"};
    struct money_transfer pay = {{MONEY_ACCOUNT_TASK, 0}, {MONEY_ACCOUNT_USER, 0}, "EUR", 5,
                                 "label_pay"};
    struct money_context context = {"task", 0};
    struct db_params p;
    bool found = false, unaffordable = false;
    int64_t first;

    memset(&t, 0, sizeof t);
    t.dataset_id = dataset_id;
    t.classes = (const char **)yn;
    t.class_count = 2;
    t.instructions = "";
    t.overlap = 1;
    t.max_overlap = 1;
    t.pay_per_label = 5;
    memcpy(t.currency, "EUR", 4);
    CU_ASSERT_EQUAL_FATAL(label_task_create(conn, owner.id, false, &t, &err), LODE_OK);
    /* no budget: nothing is offered, and the reason says so */
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[0].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(!found && unaffordable);
    fund.to.id = t.id;
    context.id = t.id;
    CU_ASSERT_EQUAL_FATAL(money_post(conn, &fund, 1, &context, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(label_task_get(conn, t.id, a, &got, &err), LODE_OK);
    CU_ASSERT_EQUAL(got.budget, 10);
    /* 10 pays two labels: two leases, then the third labeler waits */
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[0].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(found && !unaffordable);
    first = offer.item_id;
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[1].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(found && !unaffordable);
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[2].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(!found && unaffordable);
    /* labeler 0 is paid: 5 left for labeler 1's lease, still nothing for labeler 2 */
    CU_ASSERT_EQUAL(label(&t, first, lab[0].id, 0), LODE_OK);
    pay.from.id = t.id;
    pay.to.id = lab[0].id;
    CU_ASSERT_EQUAL_FATAL(money_post(conn, &pay, 1, &context, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[2].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(!found && unaffordable);
    /* labeler 1's lease expires: its budget share is free for labeler 2 */
    db_params_init(&p);
    db_params_int64(&p, t.id);
    CU_ASSERT_EQUAL(db_query(conn,
                             "UPDATE label_leases SET expires_at = now() - interval '1 second'"
                             " WHERE task_id = $1",
                             &p, NULL, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(label_next(conn, t.id, lab[2].id, false, &offer, &found, &unaffordable, &err),
                    LODE_OK);
    CU_ASSERT(found && !unaffordable);
    arena_destroy(a);
}

/* A task paying 5 EUR per label with `budget` in its budget. */
static void paying_task(struct label_task *t, int64_t budget)
{
    static const char *const yn[] = {"yes", "no"};
    struct lode_error err;
    struct money_transfer fund = {{MONEY_ACCOUNT_EXTERNAL, 0}, {MONEY_ACCOUNT_TASK, 0}, "EUR",
                                  budget, "deposit"};
    struct money_context context = {"task", 0};

    memset(t, 0, sizeof *t);
    t->dataset_id = dataset_id;
    t->classes = (const char **)yn;
    t->class_count = 2;
    t->instructions = "";
    t->overlap = 1;
    t->max_overlap = 1;
    t->pay_per_label = 5;
    memcpy(t->currency, "EUR", 4);
    setup_check(label_task_create(conn, owner.id, false, t, &err), &err);
    fund.to.id = t->id;
    context.id = t->id;
    setup_check(money_post(conn, &fund, 1, &context, NULL, &err), &err);
}

/* A second connection that acts as /next: it holds the task's lock (class "LN", 19534, as
 * label_store.c takes it) in an open transaction. */
static struct db_conn *lock_holder(int64_t task_id)
{
    struct db_conn *holder = NULL;
    struct lode_error err;
    struct db_params p;

    setup_check(db_conn_open(db_url, &holder, &err), &err);
    db_params_init(&p);
    db_params_int64(&p, task_id);
    setup_check(db_exec(holder, "BEGIN", &err), &err);
    setup_check(db_query(holder, "SELECT pg_advisory_xact_lock(19534, ($1 % 2147483647)::integer)",
                         &p, NULL, &err),
                &err);
    return holder;
}

/* Waits (up to 5 s) until one session waits for an advisory lock; true when it does. */
static bool lock_waiter_seen(void)
{
    struct lode_error err;
    int64_t waiting = 0;
    for (int i = 0; i < 500 && waiting == 0; i++) {
        setup_check(db_query_int64(conn,
                                   "SELECT count(*) FROM pg_locks"
                                   " WHERE locktype = 'advisory' AND NOT granted",
                                   NULL, &waiting, &err),
                    &err);
        if (waiting == 0)
            usleep(10000);
    }
    return waiting == 1;
}

/* A transaction run on a connection and thread of its own (the side that waits for the lock). */
struct tx_thread {
    enum lode_code (*fn)(struct db_conn *conn, void *arg, struct lode_error *err);
    void *arg;
    enum lode_code rc;
};

static void *tx_thread_run(void *arg)
{
    struct db_conn *c = NULL;
    struct lode_error err;
    struct tx_thread *t = arg;
    t->rc = db_conn_open(db_url, &c, &err);
    if (t->rc == LODE_OK)
        t->rc = db_tx(c, DB_READ_COMMITTED, t->fn, t->arg, &err);
    db_conn_close(c);
    return NULL;
}

struct budget_free_args {
    const struct label_task *task;
    int64_t budget, free_budget;
};

static enum lode_code budget_free_tx(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct budget_free_args *a = arg;
    return label_budget_free(c, a->task, &a->budget, &a->free_budget, err);
}

/* A live lease of item to labeler on task, written on connection c (not committed when c is in
 * a transaction). */
static enum lode_code lease_add(struct db_conn *c, int64_t task, int64_t labeler, int64_t item)
{
    struct db_params p;
    struct lode_error err;

    db_params_init(&p);
    db_params_int64(&p, task);
    db_params_int64(&p, labeler);
    db_params_int64(&p, item);
    return db_query(c,
                    "INSERT INTO label_leases (task_id, labeler_id, item_id, expires_at)"
                    " VALUES ($1, $2, $3, now() + interval '1 hour')",
                    &p, NULL, &err);
}

/* Runs `run` on a thread of its own, commits holder's transaction once that thread waits for
 * the task's lock, closes holder and waits for the thread. */
static void run_while_locked(struct db_conn *holder, struct tx_thread *run)
{
    struct lode_error err;
    pthread_t th;

    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, tx_thread_run, run), 0);
    CU_ASSERT_TRUE(lock_waiter_seen());
    CU_ASSERT_EQUAL(db_exec(holder, "COMMIT", &err), LODE_OK);
    pthread_join(th, NULL);
    db_conn_close(holder);
}

/* What a budget withdrawal may take counts a lease that /next committed while the withdrawal
 * waited for the task's lock: the lease count must not come from a statement that started
 * before the lock was granted. */
static void test_budget_free_after_lock(void)
{
    struct label_task t;
    struct db_conn *holder;

    paying_task(&t, 10);
    /* /next on another connection: the lock, then a lease, not yet committed */
    holder = lock_holder(t.id);
    CU_ASSERT_EQUAL_FATAL(lease_add(holder, t.id, lab[0].id, items[0]), LODE_OK);
    struct budget_free_args args = {&t, -1, -1};
    struct tx_thread run = {budget_free_tx, &args, LODE_EINTERNAL};
    /* once the withdrawal waits for the lock, the lease commits */
    run_while_locked(holder, &run);
    CU_ASSERT_EQUAL(run.rc, LODE_OK);
    CU_ASSERT_EQUAL(args.budget, 10);
    CU_ASSERT_EQUAL(args.free_budget, 5); /* the new lease holds one label's pay */
}

/* label_insert of a paid label, for tx_thread_run. */
struct insert_args {
    const struct label_task *task;
    int64_t item, labeler, queue_id;
};

static enum lode_code insert_tx(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct insert_args *a = arg;
    struct label_value v = {.class_index = 0};
    uint8_t nonce[LABEL_NONCE_BYTES] = {2};
    int64_t id, at;
    return label_insert(c, a->task, a->item, a->labeler, &v, nonce, a->queue_id, &id, &at, err);
}

/* A label posted on the strength of a lease that /next took away (expired) and gave to another
 * labeler while the post waited for the task's lock is not paid from that labeler's share. */
static void test_budget_reserve_after_lock(void)
{
    struct label_task t;
    struct lode_error err;
    struct db_conn *holder;
    struct db_params p;

    paying_task(&t, 5); /* one label's pay */
    CU_ASSERT_EQUAL_FATAL(lease_add(conn, t.id, lab[1].id, items[0]), LODE_OK);
    /* /next on another connection: labeler 1's lease goes, labeler 2 gets one, not committed */
    holder = lock_holder(t.id);
    db_params_init(&p);
    db_params_int64(&p, t.id);
    db_params_int64(&p, lab[1].id);
    db_params_int64(&p, items[0]);
    CU_ASSERT_EQUAL(db_query(holder,
                             "DELETE FROM label_leases WHERE task_id = $1 AND labeler_id = $2"
                             " AND item_id = $3",
                             &p, NULL, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(lease_add(holder, t.id, lab[2].id, items[1]), LODE_OK);
    struct insert_args args = {&t, items[0], lab[1].id, queue_one()};
    struct tx_thread run = {insert_tx, &args, LODE_EINTERNAL};
    run_while_locked(holder, &run);
    CU_ASSERT_EQUAL(run.rc, LODE_ECONFLICT); /* the 5 is labeler 2's now */
}

static const struct test_case label_cases[] = {
    {"tasks and gold", test_tasks_and_gold},
    {"assignment, overlap and one label per labeler", test_assignment},
    {"multi-label and rating tasks", test_kinds},
    {"leases hold an item for its labeler", test_leases},
    {"a paying task leases what its budget pays", test_budget},
    {"a budget withdrawal counts a lease granted while it waited", test_budget_free_after_lock},
    {"a label whose lease was taken while it waited is not paid", test_budget_reserve_after_lock},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/labels", label_cases},
    {NULL, NULL},
};

int main(void)
{
    struct lode_error err = {0};
    char name[16];
    int rc;

    scratch_db_init();
    scratch_db_create(db_url);
    conn = scratch_db_connect(db_url);
    if (db_migrate(conn, NULL, &err) != LODE_OK ||
        account_create(conn, "owner", ROLE_CONTRIBUTOR, &owner, &err) != LODE_OK ||
        account_create(conn, "stranger", ROLE_CONTRIBUTOR, &stranger, &err) != LODE_OK) {
        fprintf(stderr, "could not set up: %s (%s)\n", err.message, err.log_detail);
        db_conn_close(conn);
        scratch_db_cleanup();
        return 1;
    }
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "labeler%d", i);
        if (account_create(conn, name, ROLE_LABELER, &lab[i], &err) != LODE_OK) {
            fprintf(stderr, "could not set up: %s\n", err.message);
            return 1;
        }
    }
    {
        PGresult *res = NULL;
        struct db_params p;
        db_params_init(&p);
        db_params_int64(&p, owner.id);
        db_params_int64(&p, stranger.id);
        if (db_query(conn,
                     "INSERT INTO datasets (owner_id, name) VALUES ($1, 'pets'), ($2, 'other')"
                     " RETURNING id",
                     &p, &res, &err) != LODE_OK) {
            fprintf(stderr, "could not set up: %s\n", err.message);
            return 1;
        }
        dataset_id = db_result_int64(res, 0, 0);
        other_dataset_id = db_result_int64(res, 1, 0);
        PQclear(res);
    }
    for (int i = 0; i < ITEMS; i++)
        items[i] = item_insert(dataset_id, i + 1);
    foreign_item = item_insert(other_dataset_id, 99);
    rc = test_main(suites);
    db_conn_close(conn);
    scratch_db_cleanup();
    return rc;
}
