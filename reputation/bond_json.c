/*
 * reputation/bond_json.c — the stored JSON form of a bond's engine state and its strict
 * reader. The writer emits every member; the reader requires every member, refuses unknown
 * ones, and checks ranges and the structural relations the engine relies on, so a bond read
 * back is one the engine could have produced in shape (it cannot prove the history).
 */
#include <stdio.h>
#include <string.h>

#include "core/encoding.h"
#include "core/json.h"
#include "reputation/reputation.h"

#define BOND_JSON_DEPTH_MAX 5

/* ---- writer ---- */

static json_t *hash_json(const uint8_t hash[REPUTATION_HASH_BYTES])
{
    char hex[2 * REPUTATION_HASH_BYTES + 1];
    hex_encode(hash, REPUTATION_HASH_BYTES, hex);
    return json_string(hex);
}

static const char *vote_name(enum reputation_vote vote)
{
    switch (vote) {
    case REPUTATION_VOTE_UPHOLD:
        return "uphold";
    case REPUTATION_VOTE_REJECT:
        return "reject";
    case REPUTATION_VOTE_NONE:
        break;
    }
    return "none";
}

static json_t *round_json(const struct reputation_round *r)
{
    json_t *jurors = json_array();
    json_t *obj;

    if (jurors == NULL)
        return NULL;
    for (size_t i = 0; i < r->juror_count && i < LODE_JURY_SEATS_MAX; i++) {
        const struct reputation_round_juror *j = &r->jurors[i];
        json_t *o = json_pack("{s:I, s:I, s:b, s:b, s:s, s:o}", "account", (json_int_t)j->account,
                              "seats", (json_int_t)j->seats, "committed", j->committed,
                              "revealed", j->revealed, "vote", vote_name(j->vote), "commitment",
                              hash_json(j->commitment));
        if (o == NULL || json_array_append_new(jurors, o) != 0) {
            json_decref(jurors);
            return NULL;
        }
    }
    obj = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:s, s:o}", "seats",
                    (json_int_t)r->seats, "seat_deposit", (json_int_t)r->seat_deposit,
                    "ledger_size_at_filing", (json_int_t)r->ledger_size_at_filing,
                    "checkpoint_size", (json_int_t)r->checkpoint_size, "checkpoint_root",
                    hash_json(r->checkpoint_root), "seed", hash_json(r->seed),
                    "commit_deadline_ms", (json_int_t)r->commit_deadline_ms,
                    "reveal_deadline_ms", (json_int_t)r->reveal_deadline_ms, "seats_uphold",
                    (json_int_t)r->seats_uphold, "seats_reject", (json_int_t)r->seats_reject,
                    "outcome", reputation_outcome_name(r->outcome), "jurors", jurors);
    return obj;
}

json_t *reputation_bond_json(const struct reputation_bond *b)
{
    json_t *rounds = json_array();
    if (rounds == NULL)
        return NULL;
    for (int i = 0; i < b->round_count && i < 2; i++) {
        json_t *r = round_json(&b->rounds[i]);
        if (r == NULL || json_array_append_new(rounds, r) != 0) {
            json_decref(rounds);
            return NULL;
        }
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:s, s:I, s:I, s:s, s:I, s:I, s:o, s:I, s:I,"
                     " s:I, s:o, s:s, s:I}",
                     "id", (json_int_t)b->id, "currency", (json_int_t)b->currency, "publisher",
                     (json_int_t)b->publisher, "amount", (json_int_t)b->amount, "subject",
                     hash_json(b->subject), "statement", b->statement, "posted_at_ms",
                     (json_int_t)b->posted_at_ms, "window_end_ms", (json_int_t)b->window_end_ms,
                     "state", reputation_bond_state_name(b->state), "challenger",
                     (json_int_t)b->challenger, "challenge_stake", (json_int_t)b->challenge_stake,
                     "evidence", hash_json(b->evidence), "appellant", (json_int_t)b->appellant,
                     "appeal_fee", (json_int_t)b->appeal_fee, "appeal_deadline_ms",
                     (json_int_t)b->appeal_deadline_ms, "rounds", rounds, "outcome",
                     reputation_outcome_name(b->outcome), "resolved_at_ms",
                     (json_int_t)b->resolved_at_ms);
}

/* ---- reader ---- */

static enum lode_code read_hash(const json_t *obj, const char *name,
                                uint8_t out[REPUTATION_HASH_BYTES], struct lode_error *err)
{
    const char *hex = NULL;
    enum lode_code rc = json_get_string(obj, name, true, 2 * REPUTATION_HASH_BYTES, &hex, err);
    if (rc != LODE_OK)
        return rc;
    size_t n = 0;
    if (strlen(hex) != 2 * REPUTATION_HASH_BYTES ||
        !hex_decode(hex, strlen(hex), out, REPUTATION_HASH_BYTES, &n) ||
        n != REPUTATION_HASH_BYTES) {
        lode_error_set(err, LODE_EINVAL, "%s must be 64 hex digits", name);
        lode_error_pointer(err, name);
        return LODE_EINVAL;
    }
    return LODE_OK;
}

/* Reads a name among names[lo..hi] (values lo..hi of an enum); names[i] may be computed. */
static enum lode_code read_name(const json_t *obj, const char *name, int lo, int hi,
                                const char *(*name_of)(int), int *out, struct lode_error *err)
{
    const char *s = NULL;
    enum lode_code rc = json_get_string(obj, name, true, 32, &s, err);
    if (rc != LODE_OK)
        return rc;
    for (int v = lo; v <= hi; v++)
        if (strcmp(s, name_of(v)) == 0) {
            *out = v;
            return LODE_OK;
        }
    lode_error_set(err, LODE_EINVAL, "%s \"%.32s\" is not known", name, s);
    lode_error_pointer(err, name);
    return LODE_EINVAL;
}

static const char *state_of(int v)
{
    return reputation_bond_state_name((enum reputation_bond_state)v);
}

static const char *outcome_of(int v)
{
    return reputation_outcome_name((enum reputation_outcome)v);
}

static const char *vote_of(int v)
{
    return vote_name((enum reputation_vote)v);
}

#define MS_MAX (INT64_MAX / 4)

static enum lode_code read_juror(const json_t *o, int64_t seats_max,
                                 struct reputation_round_juror *j, struct lode_error *err)
{
    static const char *const fields[] = {"account", "seats", "committed", "revealed",
                                         "vote",    "commitment", NULL};
    int vote = 0;
    enum lode_code rc;

    if (!json_is_object(o))
        return lode_error_set(err, LODE_EINVAL, "a juror must be an object");
    memset(j, 0, sizeof *j);
    rc = json_object_check_fields(o, fields, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "account", true, 1, INT64_MAX, &j->account, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "seats", true, 1, seats_max, &j->seats, err);
    if (rc == LODE_OK)
        rc = json_get_bool(o, "committed", true, &j->committed, err);
    if (rc == LODE_OK)
        rc = json_get_bool(o, "revealed", true, &j->revealed, err);
    if (rc == LODE_OK)
        rc = read_name(o, "vote", REPUTATION_VOTE_NONE, REPUTATION_VOTE_REJECT, vote_of, &vote,
                       err);
    if (rc == LODE_OK)
        rc = read_hash(o, "commitment", j->commitment, err);
    if (rc != LODE_OK)
        return rc;
    j->vote = (enum reputation_vote)vote;
    if ((j->revealed && (!j->committed || j->vote == REPUTATION_VOTE_NONE)) ||
        (!j->revealed && j->vote != REPUTATION_VOTE_NONE))
        return lode_error_set(err, LODE_EINVAL, "juror %lld has an inconsistent vote",
                              (long long)j->account);
    return LODE_OK;
}

static enum lode_code read_round(const json_t *o, struct reputation_round *r,
                                 struct lode_error *err)
{
    static const char *const fields[] = {
        "seats",           "seat_deposit",       "ledger_size_at_filing", "checkpoint_size",
        "checkpoint_root", "seed",               "commit_deadline_ms",    "reveal_deadline_ms",
        "seats_uphold",    "seats_reject",       "outcome",               "jurors",
        NULL};
    int64_t cp_size = 0, seat_sum = 0;
    int outcome = 0;
    const json_t *jurors;
    enum lode_code rc;

    if (!json_is_object(o))
        return lode_error_set(err, LODE_EINVAL, "a round must be an object");
    memset(r, 0, sizeof *r);
    rc = json_object_check_fields(o, fields, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "seats", true, 1, LODE_JURY_SEATS_MAX, &r->seats, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "seat_deposit", true, 1, INT64_MAX / LODE_JURY_SEATS_MAX,
                          &r->seat_deposit, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "ledger_size_at_filing", true, 0, INT64_MAX,
                          &r->ledger_size_at_filing, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "checkpoint_size", true, 0, INT64_MAX, &cp_size, err);
    if (rc == LODE_OK)
        rc = read_hash(o, "checkpoint_root", r->checkpoint_root, err);
    if (rc == LODE_OK)
        rc = read_hash(o, "seed", r->seed, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "commit_deadline_ms", true, 0, MS_MAX, &r->commit_deadline_ms, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "reveal_deadline_ms", true, 0, MS_MAX, &r->reveal_deadline_ms, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "seats_uphold", true, 0, LODE_JURY_SEATS_MAX, &r->seats_uphold, err);
    if (rc == LODE_OK)
        rc = json_get_int(o, "seats_reject", true, 0, LODE_JURY_SEATS_MAX, &r->seats_reject, err);
    if (rc == LODE_OK)
        rc = read_name(o, "outcome", REPUTATION_OUTCOME_PENDING, REPUTATION_OUTCOME_UNDECIDED,
                       outcome_of, &outcome, err);
    if (rc != LODE_OK)
        return rc;
    r->checkpoint_size = (uint64_t)cp_size;
    r->outcome = (enum reputation_outcome)outcome;
    jurors = json_object_get(o, "jurors");
    if (!json_is_array(jurors) || json_array_size(jurors) > (size_t)r->seats)
        return lode_error_set(err, LODE_EINVAL, "jurors must be an array of at most %lld",
                              (long long)r->seats);
    for (size_t i = 0; i < json_array_size(jurors); i++) {
        rc = read_juror(json_array_get(jurors, i), r->seats, &r->jurors[i], err);
        if (rc != LODE_OK)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (r->jurors[k].account == r->jurors[i].account)
                return lode_error_set(err, LODE_EINVAL, "juror %lld is listed twice",
                                      (long long)r->jurors[i].account);
        seat_sum += r->jurors[i].seats;
    }
    r->juror_count = json_array_size(jurors);
    if (r->juror_count > 0 && seat_sum != r->seats)
        return lode_error_set(err, LODE_EINVAL, "the jurors hold %lld seats, not %lld",
                              (long long)seat_sum, (long long)r->seats);
    if (r->seats_uphold + r->seats_reject > r->seats)
        return lode_error_set(err, LODE_EINVAL, "a round counts more votes than seats");
    return LODE_OK;
}

enum lode_code reputation_bond_parse(const char *json, size_t len,
                                     struct reputation_bond *bond_out, struct lode_error *err)
{
    static const char *const fields[] = {
        "id",         "currency",        "publisher",    "amount",         "subject",
        "statement",  "posted_at_ms",    "window_end_ms", "state",         "challenger",
        "challenge_stake", "evidence",   "appellant",    "appeal_fee",     "appeal_deadline_ms",
        "rounds",     "outcome",         "resolved_at_ms", NULL};
    struct reputation_bond b;
    const char *statement = NULL;
    int64_t currency = 0;
    int state = 0, outcome = 0;
    const json_t *rounds;
    enum lode_code rc;
    json_t *root;

    root = json_body_parse(json, len, LODE_BOND_JSON_BYTES_MAX, BOND_JSON_DEPTH_MAX, err);
    if (root == NULL)
        return err != NULL && err->code != LODE_OK ? err->code : LODE_EINVAL;
    if (!json_is_object(root)) {
        json_decref(root);
        return lode_error_set(err, LODE_EINVAL, "a bond must be a JSON object");
    }
    memset(&b, 0, sizeof b);
    rc = json_object_check_fields(root, fields, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "id", true, 1, INT64_MAX, &b.id, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "currency", true, 0, UINT32_MAX, &currency, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "publisher", true, 1, INT64_MAX, &b.publisher, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "amount", true, 1, INT64_MAX, &b.amount, err);
    if (rc == LODE_OK)
        rc = read_hash(root, "subject", b.subject, err);
    if (rc == LODE_OK)
        rc = json_get_string(root, "statement", true, LODE_BOND_STATEMENT_BYTES_MAX, &statement,
                             err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "posted_at_ms", true, 0, MS_MAX, &b.posted_at_ms, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "window_end_ms", true, 0, MS_MAX, &b.window_end_ms, err);
    if (rc == LODE_OK)
        rc = read_name(root, "state", REPUTATION_BOND_POSTED, REPUTATION_BOND_RESOLVED, state_of,
                       &state, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "challenger", true, 0, INT64_MAX, &b.challenger, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "challenge_stake", true, 0, INT64_MAX, &b.challenge_stake, err);
    if (rc == LODE_OK)
        rc = read_hash(root, "evidence", b.evidence, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "appellant", true, 0, INT64_MAX, &b.appellant, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "appeal_fee", true, 0, INT64_MAX, &b.appeal_fee, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "appeal_deadline_ms", true, 0, MS_MAX, &b.appeal_deadline_ms,
                          err);
    if (rc == LODE_OK)
        rc = read_name(root, "outcome", REPUTATION_OUTCOME_PENDING,
                       REPUTATION_OUTCOME_UNCHALLENGED, outcome_of, &outcome, err);
    if (rc == LODE_OK)
        rc = json_get_int(root, "resolved_at_ms", true, 0, MS_MAX, &b.resolved_at_ms, err);
    if (rc != LODE_OK)
        goto out;
    b.currency = (uint32_t)currency;
    b.state = (enum reputation_bond_state)state;
    b.outcome = (enum reputation_outcome)outcome;
    memcpy(b.statement, statement, strlen(statement) + 1);
    rounds = json_object_get(root, "rounds");
    if (!json_is_array(rounds) || json_array_size(rounds) > 2) {
        rc = lode_error_set(err, LODE_EINVAL, "rounds must be an array of at most 2");
        lode_error_pointer(err, "rounds");
        goto out;
    }
    b.round_count = (int)json_array_size(rounds);
    for (int i = 0; i < b.round_count; i++) {
        rc = read_round(json_array_get(rounds, (size_t)i), &b.rounds[i], err);
        if (rc != LODE_OK) {
            char ptr[32];
            snprintf(ptr, sizeof ptr, "rounds/%d", i);
            lode_error_pointer(err, ptr);
            goto out;
        }
    }
    if (b.window_end_ms < b.posted_at_ms || (b.challenger == 0) != (b.challenge_stake == 0) ||
        (b.appellant == 0) != (b.appeal_fee == 0) || (b.challenger == 0 && b.round_count > 0) ||
        (b.appellant == 0 && b.round_count > 1) || b.challenger == b.publisher ||
        (b.state == REPUTATION_BOND_RESOLVED) != (b.outcome != REPUTATION_OUTCOME_PENDING)) {
        rc = lode_error_set(err, LODE_EINVAL, "bond %lld is inconsistent", (long long)b.id);
        goto out;
    }
    *bond_out = b;
out:
    json_decref(root);
    return rc;
}
