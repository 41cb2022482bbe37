/*
 * reputation/event.c — ledger entry bodies for the engine's events: one JSON object per event
 * (canonical form via json_canonical_dump), integers only, hashes in lower-case hex. A
 * resolution carries the transfers of its settlement.
 */
#include <jansson.h>

#include "core/encoding.h"
#include "reputation/reputation.h"

const char *reputation_event_type_name(enum reputation_event_type type)
{
    switch (type) {
    case REPUTATION_EVENT_BOND_POSTED:
        return "bond_posted";
    case REPUTATION_EVENT_CHALLENGE_FILED:
        return "challenge_filed";
    case REPUTATION_EVENT_JUROR_DRAWN:
        return "juror_drawn";
    case REPUTATION_EVENT_VOTE_COMMITTED:
        return "vote_committed";
    case REPUTATION_EVENT_VOTE_REVEALED:
        return "vote_revealed";
    case REPUTATION_EVENT_ROUND_DECIDED:
        return "round_decided";
    case REPUTATION_EVENT_APPEAL_FILED:
        return "appeal_filed";
    case REPUTATION_EVENT_JUROR_SETTLED:
        return "juror_settled";
    case REPUTATION_EVENT_BOND_RESOLVED:
        return "bond_resolved";
    }
    return "unknown";
}

static const char *vote_name(int vote)
{
    return vote == REPUTATION_VOTE_UPHOLD   ? "uphold"
           : vote == REPUTATION_VOTE_REJECT ? "reject"
                                            : "none";
}

static const char *verdict_name(int verdict)
{
    switch (verdict) {
    case REPUTATION_JUROR_COHERENT:
        return "coherent";
    case REPUTATION_JUROR_INCOHERENT:
        return "incoherent";
    case REPUTATION_JUROR_NO_SHOW:
        return "no_show";
    case REPUTATION_JUROR_NEUTRAL:
        return "neutral";
    }
    return "unknown";
}

/* Sets a member, stealing the reference; false when out of memory. */
static bool put(json_t *obj, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(obj, key, value) == 0;
}

static bool put_hash(json_t *obj, const char *key, const uint8_t hash[REPUTATION_HASH_BYTES])
{
    char hex[HEX_ENCODED_BYTES(REPUTATION_HASH_BYTES)];
    hex_encode(hash, REPUTATION_HASH_BYTES, hex);
    return put(obj, key, json_string(hex));
}

static json_t *account_json(struct reputation_account a)
{
    return json_pack("{s:s, s:I}", "kind", reputation_account_kind_name(a.kind), "id",
                     (json_int_t)a.id);
}

static bool put_transfers(json_t *obj, const struct reputation_event *e,
                          const struct reputation_effects *fx)
{
    json_t *list = json_array();

    if (list == NULL)
        return false;
    for (size_t i = 0; fx != NULL && i < fx->transfer_count; i++) {
        const struct reputation_transfer *t = &fx->transfers[i];
        json_t *item;
        if (t->from.kind != REPUTATION_ACCOUNT_ESCROW || t->from.id != e->bond_id)
            continue;
        item = json_pack("{s:o, s:o, s:I, s:I, s:s}", "from", account_json(t->from), "to",
                         account_json(t->to), "currency", (json_int_t)t->currency, "amount",
                         (json_int_t)t->amount, "reason", reputation_reason_name(t->reason));
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return false;
        }
    }
    return put(obj, "transfers", list);
}

json_t *reputation_event_json(const struct reputation_event *e, const struct reputation_effects *fx)
{
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:i}", "type", reputation_event_type_name(e->type), "bond",
                  (json_int_t)e->bond_id, "at_ms", (json_int_t)e->at_ms, "round", e->round);
    bool ok = o != NULL;

    if (!ok)
        return NULL;
    switch (e->type) {
    case REPUTATION_EVENT_BOND_POSTED:
        ok = put(o, "publisher", json_integer(e->account)) &&
             put(o, "amount", json_integer(e->amount)) &&
             put(o, "window_ms", json_integer(e->count)) && put_hash(o, "subject", e->hash);
        break;
    case REPUTATION_EVENT_CHALLENGE_FILED:
        ok = put(o, "challenger", json_integer(e->account)) &&
             put(o, "stake", json_integer(e->amount)) &&
             put(o, "ledger_size", json_integer(e->count)) && put_hash(o, "evidence", e->hash);
        break;
    case REPUTATION_EVENT_JUROR_DRAWN:
        ok = put(o, "juror", json_integer(e->account)) && put(o, "seats", json_integer(e->count)) &&
             put(o, "deposit", json_integer(e->amount)) && put_hash(o, "seed", e->hash);
        break;
    case REPUTATION_EVENT_VOTE_COMMITTED:
        ok = put(o, "juror", json_integer(e->account)) && put(o, "seats", json_integer(e->count)) &&
             put_hash(o, "commitment", e->hash);
        break;
    case REPUTATION_EVENT_VOTE_REVEALED:
        ok = put(o, "juror", json_integer(e->account)) &&
             put(o, "vote", json_string(vote_name(e->value))) && put_hash(o, "salt", e->hash);
        break;
    case REPUTATION_EVENT_ROUND_DECIDED:
        ok = put(o, "outcome", json_string(reputation_outcome_name(e->value))) &&
             put(o, "seats_uphold", json_integer(e->count)) &&
             put(o, "seats_reject", json_integer(e->count2));
        break;
    case REPUTATION_EVENT_APPEAL_FILED:
        ok = put(o, "appellant", json_integer(e->account)) &&
             put(o, "fee", json_integer(e->amount)) &&
             put(o, "ledger_size", json_integer(e->count));
        break;
    case REPUTATION_EVENT_JUROR_SETTLED:
        ok = put(o, "juror", json_integer(e->account)) && put(o, "seats", json_integer(e->count)) &&
             put(o, "verdict", json_string(verdict_name(e->value))) &&
             put(o, "amount", json_integer(e->amount));
        break;
    case REPUTATION_EVENT_BOND_RESOLVED:
        ok = put(o, "outcome", json_string(reputation_outcome_name(e->value))) &&
             put(o, "forfeit", json_integer(e->amount)) &&
             put(o, "burned", json_integer(e->count)) && put_transfers(o, e, fx);
        break;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
