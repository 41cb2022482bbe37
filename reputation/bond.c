/*
 * reputation/bond.c — the bond lifecycle as pure transitions, and its settlement rules
 * (docs/reputation.md, "bond lifecycle" and "settlement").
 *
 * Each public function copies the bond, applies one event at one time to the copy, appends
 * the transfers and ledger events, and writes the copy out only on success; on an error the
 * effects it appended are rolled back.
 */
#include <stdlib.h>
#include <string.h>

#include "reputation/reputation.h"

struct mark {
    size_t transfers, events, observed;
};

static struct mark mark_take(const struct reputation_effects *fx)
{
    return (struct mark){fx->transfer_count, fx->event_count, fx->observed_count};
}

static enum lode_code finish(enum lode_code rc, const struct reputation_bond *work,
                             struct reputation_bond *out, struct reputation_effects *fx,
                             struct mark m)
{
    if (rc == LODE_OK) {
        if (out != work)
            memcpy(out, work, sizeof *out);
    } else {
        fx->transfer_count = m.transfers;
        fx->event_count = m.events;
        fx->observed_count = m.observed;
    }
    return rc;
}

static struct reputation_account acct(enum reputation_account_kind kind, int64_t id)
{
    return (struct reputation_account){kind, id};
}

static enum lode_code add_transfer(struct reputation_effects *fx, struct reputation_account from,
                                   struct reputation_account to, uint32_t currency, int64_t amount,
                                   enum reputation_reason reason, struct lode_error *err)
{
    if (amount == 0)
        return LODE_OK;
    if (fx->transfer_count >= REPUTATION_TRANSFERS_MAX)
        return lode_error_set(err, LODE_EINTERNAL, "too many transfers for one effects list");
    fx->transfers[fx->transfer_count++] =
        (struct reputation_transfer){from, to, currency, amount, reason};
    return LODE_OK;
}

static struct reputation_event *add_event(struct reputation_effects *fx,
                                          const struct reputation_bond *b,
                                          enum reputation_event_type type, int64_t now_ms,
                                          struct lode_error *err)
{
    struct reputation_event *e;

    if (fx->event_count >= REPUTATION_EVENTS_MAX) {
        lode_error_set(err, LODE_EINTERNAL, "too many events for one effects list");
        return NULL;
    }
    e = &fx->events[fx->event_count++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->bond_id = b->id;
    e->at_ms = now_ms;
    e->round = b->round_count > 0 ? b->round_count - 1 : 0;
    return e;
}

static enum lode_code add_observed(struct reputation_effects *fx, int64_t account,
                                   enum reputation_observation obs, struct lode_error *err)
{
    if (fx->observed_count >= REPUTATION_OBSERVED_MAX)
        return lode_error_set(err, LODE_EINTERNAL, "too many observations for one effects list");
    fx->observed[fx->observed_count++] = (struct reputation_observed){account, obs};
    return LODE_OK;
}

/* floor(amount * bps / 10000) for any bps >= 0, or false if it exceeds INT64_MAX */
static bool scale_bps(int64_t amount, int64_t bps, int64_t *out)
{
    unsigned __int128 v = (unsigned __int128)(uint64_t)amount * (uint64_t)bps / REPUTATION_BPS;
    if (amount < 0 || bps < 0 || v > INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

/* Everything the escrow of the bond has received so far; false on overflow. */
static bool escrow_inflow(const struct reputation_bond *b, int64_t *total_out)
{
    int64_t t = b->amount;

    if (__builtin_add_overflow(t, b->challenge_stake, &t) ||
        __builtin_add_overflow(t, b->appeal_fee, &t))
        return false;
    for (int r = 0; r < b->round_count; r++)
        for (size_t i = 0; i < b->rounds[r].juror_count; i++) {
            int64_t d = b->rounds[r].jurors[i].seats * b->rounds[r].seat_deposit;
            if (__builtin_add_overflow(t, d, &t))
                return false;
        }
    *total_out = t;
    return true;
}

static bool statement_is_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= LODE_BOND_STATEMENT_BYTES_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return n > 0;
}

static enum lode_code check_time(const struct reputation_bond *b, int64_t now_ms,
                                 struct lode_error *err)
{
    if (now_ms < b->posted_at_ms)
        return lode_error_set(err, LODE_EINVAL, "time %lld precedes the posting of bond %lld",
                              (long long)now_ms, (long long)b->id);
    return LODE_OK;
}

static struct reputation_round_juror *round_juror(struct reputation_round *r, int64_t account)
{
    for (size_t i = 0; i < r->juror_count; i++)
        if (r->jurors[i].account == account)
            return &r->jurors[i];
    return NULL;
}

/* ---- settlement ------------------------------------------------------------------------- */

static enum reputation_outcome final_outcome(const struct reputation_bond *b)
{
    if (b->round_count == 2 && (b->rounds[1].outcome == REPUTATION_OUTCOME_UPHELD ||
                                b->rounds[1].outcome == REPUTATION_OUTCOME_REJECTED))
        return b->rounds[1].outcome;
    return b->rounds[0].outcome;
}

static enum reputation_juror_verdict juror_verdict(const struct reputation_round_juror *j,
                                                   enum reputation_outcome outcome)
{
    if (!j->committed || !j->revealed)
        return REPUTATION_JUROR_NO_SHOW;
    if (outcome == REPUTATION_OUTCOME_UNDECIDED)
        return REPUTATION_JUROR_NEUTRAL;
    if ((j->vote == REPUTATION_VOTE_UPHOLD) == (outcome == REPUTATION_OUTCOME_UPHELD))
        return REPUTATION_JUROR_COHERENT;
    return REPUTATION_JUROR_INCOHERENT;
}

static enum lode_code settle(const struct reputation_config *cfg, struct reputation_bond *b,
                             int64_t now_ms, struct reputation_effects *fx, struct lode_error *err)
{
    const struct reputation_account escrow = acct(REPUTATION_ACCOUNT_ESCROW, b->id);
    const struct reputation_account burn = acct(REPUTATION_ACCOUNT_BURN, 0);
    enum reputation_outcome outcome = final_outcome(b);
    int64_t pub_paid = b->amount, chal_paid = b->challenge_stake;
    int64_t burned = 0, pool = 0, coherent_seats = 0, per_seat = 0, forfeit = 0;
    int64_t inflow, outflow = 0;
    struct reputation_event *e;
    enum lode_code rc;

#define PAY(to, amount, reason)                                                                    \
    do {                                                                                           \
        if ((rc = add_transfer(fx, escrow, to, b->currency, amount, reason, err)) != LODE_OK)      \
            return rc;                                                                             \
        outflow += (amount);                                                                       \
    } while (0)

    if (!escrow_inflow(b, &inflow))
        abort(); /* every inflow was checked when it was accepted */
    if (b->appellant == b->publisher)
        pub_paid += b->appeal_fee;
    else if (b->appellant == b->challenger)
        chal_paid += b->appeal_fee;

    if (outcome == REPUTATION_OUTCOME_UPHELD || outcome == REPUTATION_OUTCOME_REJECTED) {
        bool upheld = outcome == REPUTATION_OUTCOME_UPHELD;
        int64_t winner = upheld ? b->publisher : b->challenger;
        int64_t winner_paid = upheld ? pub_paid : chal_paid;
        int64_t reward;
        forfeit = upheld ? chal_paid : pub_paid;
        burned = reputation_amount_share(forfeit, cfg->burn_bps);
        reward = reputation_amount_share(forfeit, cfg->juror_reward_bps);
        PAY(acct(REPUTATION_ACCOUNT_USER, winner), winner_paid, REPUTATION_REASON_REFUND);
        PAY(acct(REPUTATION_ACCOUNT_USER, winner), forfeit - burned - reward,
            REPUTATION_REASON_WINNER_GAIN);
        pool = reward;
        if ((rc = add_observed(fx, b->publisher,
                               upheld ? REPUTATION_OBS_BOND_UPHELD : REPUTATION_OBS_BOND_LOST,
                               err)) != LODE_OK ||
            (rc =
                 add_observed(fx, b->challenger,
                              upheld ? REPUTATION_OBS_CHALLENGE_LOST : REPUTATION_OBS_CHALLENGE_WON,
                              err)) != LODE_OK)
            return rc;
    } else {
        int64_t pub_burn = reputation_amount_share(pub_paid, cfg->undecided_burn_bps);
        int64_t chal_burn = reputation_amount_share(chal_paid, cfg->undecided_burn_bps);
        outcome = REPUTATION_OUTCOME_UNDECIDED;
        PAY(acct(REPUTATION_ACCOUNT_USER, b->publisher), pub_paid - pub_burn,
            REPUTATION_REASON_REFUND);
        PAY(acct(REPUTATION_ACCOUNT_USER, b->challenger), chal_paid - chal_burn,
            REPUTATION_REASON_REFUND);
        burned = pub_burn + chal_burn; /* both at most their paid amounts: no overflow */
    }

    /* jurors: forfeits of incoherent jurors and no-shows join the reward pool */
    for (int r = 0; r < b->round_count; r++)
        for (size_t i = 0; i < b->rounds[r].juror_count; i++) {
            const struct reputation_round_juror *j = &b->rounds[r].jurors[i];
            int64_t deposit = j->seats * b->rounds[r].seat_deposit;
            switch (juror_verdict(j, outcome)) {
            case REPUTATION_JUROR_COHERENT:
                coherent_seats += j->seats;
                break;
            case REPUTATION_JUROR_INCOHERENT:
            case REPUTATION_JUROR_NO_SHOW:
                pool += deposit; /* bounded by the checked inflow */
                break;
            case REPUTATION_JUROR_NEUTRAL:
                break;
            }
        }
    if (coherent_seats > 0)
        per_seat = pool / coherent_seats;
    burned += pool - per_seat * coherent_seats; /* remainder, or everything without takers */

    for (int r = 0; r < b->round_count; r++)
        for (size_t i = 0; i < b->rounds[r].juror_count; i++) {
            const struct reputation_round_juror *j = &b->rounds[r].jurors[i];
            int64_t deposit = j->seats * b->rounds[r].seat_deposit, amount = 0;
            enum reputation_juror_verdict v = juror_verdict(j, outcome);
            static const enum reputation_observation obs_of[] = {
                [REPUTATION_JUROR_COHERENT] = REPUTATION_OBS_JUROR_COHERENT,
                [REPUTATION_JUROR_INCOHERENT] = REPUTATION_OBS_JUROR_INCOHERENT,
                [REPUTATION_JUROR_NO_SHOW] = REPUTATION_OBS_JUROR_NO_SHOW,
            };
            if (v == REPUTATION_JUROR_COHERENT || v == REPUTATION_JUROR_NEUTRAL)
                PAY(acct(REPUTATION_ACCOUNT_JUROR_STAKE, j->account), deposit,
                    REPUTATION_REASON_JUROR_REFUND);
            if (v == REPUTATION_JUROR_COHERENT) {
                amount = per_seat * j->seats;
                PAY(acct(REPUTATION_ACCOUNT_USER, j->account), amount,
                    REPUTATION_REASON_JUROR_REWARD);
            } else if (v != REPUTATION_JUROR_NEUTRAL) {
                amount = deposit;
            }
            if (v != REPUTATION_JUROR_NEUTRAL &&
                (rc = add_observed(fx, j->account, obs_of[v], err)) != LODE_OK)
                return rc;
            if ((e = add_event(fx, b, REPUTATION_EVENT_JUROR_SETTLED, now_ms, err)) == NULL)
                return err != NULL ? err->code : LODE_EINTERNAL;
            e->round = r;
            e->account = j->account;
            e->count = j->seats;
            e->value = (int)v;
            e->amount = amount;
        }
    PAY(burn, burned, REPUTATION_REASON_BURN);
#undef PAY
    if (outflow != inflow)
        abort(); /* the escrow of a resolved bond must end at exactly zero */

    b->state = REPUTATION_BOND_RESOLVED;
    b->outcome = outcome;
    b->resolved_at_ms = now_ms;
    if ((e = add_event(fx, b, REPUTATION_EVENT_BOND_RESOLVED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->value = (int)outcome;
    e->amount = forfeit;
    e->count = burned;
    return LODE_OK;
}

static enum lode_code resolve_unchallenged(struct reputation_bond *b, int64_t now_ms,
                                           struct reputation_effects *fx, struct lode_error *err)
{
    struct reputation_event *e;
    enum lode_code rc;

    rc = add_transfer(fx, acct(REPUTATION_ACCOUNT_ESCROW, b->id),
                      acct(REPUTATION_ACCOUNT_USER, b->publisher), b->currency, b->amount,
                      REPUTATION_REASON_REFUND, err);
    if (rc == LODE_OK)
        rc = add_observed(fx, b->publisher, REPUTATION_OBS_BOND_UNCHALLENGED, err);
    if (rc != LODE_OK)
        return rc;
    b->state = REPUTATION_BOND_RESOLVED;
    b->outcome = REPUTATION_OUTCOME_UNCHALLENGED;
    b->resolved_at_ms = now_ms;
    if ((e = add_event(fx, b, REPUTATION_EVENT_BOND_RESOLVED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->value = REPUTATION_OUTCOME_UNCHALLENGED;
    return LODE_OK;
}

static enum lode_code decide_round(const struct reputation_config *cfg, struct reputation_bond *b,
                                   int64_t now_ms, struct reputation_effects *fx,
                                   struct lode_error *err)
{
    struct reputation_round *r = &b->rounds[b->round_count - 1];
    struct reputation_event *e;

    r->seats_uphold = 0;
    r->seats_reject = 0;
    for (size_t i = 0; i < r->juror_count; i++) {
        const struct reputation_round_juror *j = &r->jurors[i];
        if (!j->revealed)
            continue;
        if (j->vote == REPUTATION_VOTE_UPHOLD)
            r->seats_uphold += j->seats;
        else
            r->seats_reject += j->seats;
    }
    r->outcome = r->seats_uphold > r->seats_reject   ? REPUTATION_OUTCOME_UPHELD
                 : r->seats_reject > r->seats_uphold ? REPUTATION_OUTCOME_REJECTED
                                                     : REPUTATION_OUTCOME_UNDECIDED;
    if ((e = add_event(fx, b, REPUTATION_EVENT_ROUND_DECIDED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->value = (int)r->outcome;
    e->count = r->seats_uphold;
    e->count2 = r->seats_reject;
    if (b->round_count == 1) {
        b->state = REPUTATION_BOND_APPEALABLE;
        b->appeal_deadline_ms = now_ms + cfg->appeal_window_ms; /* now < 2^63 - 10 years */
        if (b->appeal_deadline_ms < now_ms)
            b->appeal_deadline_ms = INT64_MAX;
        return LODE_OK;
    }
    return settle(cfg, b, now_ms, fx, err);
}

static bool round_fully_revealed(const struct reputation_round *r, int64_t now_ms)
{
    bool all_committed = true;

    for (size_t i = 0; i < r->juror_count; i++) {
        if (r->jurors[i].committed && !r->jurors[i].revealed)
            return false;
        all_committed = all_committed && r->jurors[i].committed;
    }
    return all_committed || now_ms >= r->commit_deadline_ms;
}

static enum lode_code advance(const struct reputation_config *cfg, struct reputation_bond *b,
                              int64_t now_ms, struct reputation_effects *fx, struct lode_error *err)
{
    for (;;) {
        struct reputation_round *r = b->round_count > 0 ? &b->rounds[b->round_count - 1] : NULL;
        enum lode_code rc;
        if (r == NULL && (b->state == REPUTATION_BOND_COMMIT || b->state == REPUTATION_BOND_REVEAL))
            return lode_error_set(err, LODE_EINTERNAL, "bond %lld is voting without a round",
                                  (long long)b->id);
        switch (b->state) {
        case REPUTATION_BOND_POSTED:
            if (now_ms < b->window_end_ms)
                return LODE_OK;
            return resolve_unchallenged(b, now_ms, fx, err);
        case REPUTATION_BOND_COMMIT:
            if (now_ms < r->commit_deadline_ms)
                return LODE_OK;
            b->state = REPUTATION_BOND_REVEAL;
            break;
        case REPUTATION_BOND_REVEAL:
            if (now_ms < r->reveal_deadline_ms && !round_fully_revealed(r, now_ms))
                return LODE_OK;
            if ((rc = decide_round(cfg, b, now_ms, fx, err)) != LODE_OK)
                return rc;
            break;
        case REPUTATION_BOND_APPEALABLE:
            if (now_ms < b->appeal_deadline_ms)
                return LODE_OK;
            return settle(cfg, b, now_ms, fx, err);
        case REPUTATION_BOND_AWAITING_DRAW:
        case REPUTATION_BOND_RESOLVED:
            return LODE_OK;
        default:
            return lode_error_set(err, LODE_EINVAL, "bond %lld is in an unknown state",
                                  (long long)b->id);
        }
    }
}

/* ---- public transitions ----------------------------------------------------------------- */

enum lode_code reputation_bond_post(const struct reputation_config *cfg,
                                    const struct reputation_bond_params *p, int64_t now_ms,
                                    struct reputation_bond *bond_out, struct reputation_effects *fx,
                                    struct lode_error *err)
{
    struct reputation_bond *b;
    struct reputation_event *e;
    struct mark m = mark_take(fx);
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK)
        return rc;
    if (p->id <= 0 || p->publisher <= 0)
        return lode_error_set(err, LODE_EINVAL, "bond and publisher ids must be positive");
    if (now_ms < 0)
        return lode_error_set(err, LODE_EINVAL, "time must not be negative");
    if (!statement_is_valid(p->statement)) {
        lode_error_set(err, LODE_EINVAL, "statement must be 1 to %d characters of a-z, 0-9 and '-'",
                       LODE_BOND_STATEMENT_BYTES_MAX);
        lode_error_pointer(err, "statement");
        return LODE_EINVAL;
    }
    if (p->amount < cfg->bond_amount_min) {
        lode_error_set(err, LODE_EUNPROCESSABLE, "bond of %lld is below the minimum of %lld",
                       (long long)p->amount, (long long)cfg->bond_amount_min);
        lode_error_pointer(err, "amount");
        return LODE_EUNPROCESSABLE;
    }
    if (p->window_ms < cfg->window_ms_min || p->window_ms > cfg->window_ms_max ||
        now_ms > INT64_MAX - p->window_ms) {
        lode_error_set(err, LODE_EUNPROCESSABLE,
                       "challenge window must be between %lld and %lld ms",
                       (long long)cfg->window_ms_min, (long long)cfg->window_ms_max);
        lode_error_pointer(err, "window_ms");
        return LODE_EUNPROCESSABLE;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate a bond");
    b->id = p->id;
    b->currency = p->currency;
    b->publisher = p->publisher;
    b->amount = p->amount;
    memcpy(b->subject, p->subject, sizeof b->subject);
    strcpy(b->statement, p->statement); /* length checked above */
    b->posted_at_ms = now_ms;
    b->window_end_ms = now_ms + p->window_ms;
    b->state = REPUTATION_BOND_POSTED;
    b->outcome = REPUTATION_OUTCOME_PENDING;
    rc = add_transfer(fx, acct(REPUTATION_ACCOUNT_USER, b->publisher),
                      acct(REPUTATION_ACCOUNT_ESCROW, b->id), b->currency, b->amount,
                      REPUTATION_REASON_BOND_STAKE, err);
    if (rc == LODE_OK) {
        if ((e = add_event(fx, b, REPUTATION_EVENT_BOND_POSTED, now_ms, err)) == NULL) {
            rc = err != NULL ? err->code : LODE_EINTERNAL;
        } else {
            e->account = b->publisher;
            e->amount = b->amount;
            e->count = p->window_ms;
            memcpy(e->hash, b->subject, sizeof e->hash);
        }
    }
    rc = finish(rc, b, bond_out, fx, m);
    free(b);
    return rc;
}

/* Runs one transition on a heap copy of the bond (bonds are a few kilobytes). */
#define WITH_COPY(bond, body)                                                                      \
    do {                                                                                           \
        struct mark m_ = mark_take(fx);                                                            \
        struct reputation_bond *b = malloc(sizeof *b);                                             \
        enum lode_code rc_;                                                                        \
        if (b == NULL)                                                                             \
            return lode_error_set(err, LODE_ENOMEM, "could not allocate a bond");                  \
        memcpy(b, bond, sizeof *b);                                                                \
        rc_ = (body);                                                                              \
        rc_ = finish(rc_, b, bond_out, fx, m_);                                                    \
        free(b);                                                                                   \
        return rc_;                                                                                \
    } while (0)

static enum lode_code do_challenge(const struct reputation_config *cfg, struct reputation_bond *b,
                                   int64_t challenger, int64_t stake,
                                   const uint8_t evidence[REPUTATION_HASH_BYTES],
                                   int64_t ledger_size, int64_t now_ms,
                                   struct reputation_effects *fx, struct lode_error *err)
{
    int64_t need, inflow;
    struct reputation_event *e;
    enum lode_code rc;

    if (challenger <= 0 || ledger_size < 0)
        return lode_error_set(err, LODE_EINVAL, "challenger id and ledger size must be valid");
    if (b->state != REPUTATION_BOND_POSTED)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld is already %s", (long long)b->id,
                              b->state == REPUTATION_BOND_RESOLVED ? "resolved" : "challenged");
    if (now_ms >= b->window_end_ms)
        return lode_error_set(err, LODE_EGONE, "challenge window of bond %lld closed at %lld",
                              (long long)b->id, (long long)b->window_end_ms);
    if (challenger == b->publisher)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "could not challenge bond %lld: account %lld posted it",
                              (long long)b->id, (long long)challenger);
    if (!scale_bps(b->amount, cfg->challenge_stake_min_bps, &need))
        need = INT64_MAX;
    if (stake < need) {
        lode_error_set(err, LODE_EUNPROCESSABLE, "counter-stake of %lld is below the required %lld",
                       (long long)stake, (long long)need);
        lode_error_pointer(err, "stake");
        return LODE_EUNPROCESSABLE;
    }
    b->challenger = challenger;
    b->challenge_stake = stake;
    if (!escrow_inflow(b, &inflow)) {
        lode_error_set(err, LODE_EUNPROCESSABLE, "counter-stake of %lld overflows the escrow",
                       (long long)stake);
        lode_error_pointer(err, "stake");
        return LODE_EUNPROCESSABLE;
    }
    memcpy(b->evidence, evidence, sizeof b->evidence);
    b->state = REPUTATION_BOND_AWAITING_DRAW;
    b->round_count = 1;
    memset(&b->rounds[0], 0, sizeof b->rounds[0]);
    b->rounds[0].seats = cfg->jury_seats;
    b->rounds[0].seat_deposit = cfg->seat_deposit;
    b->rounds[0].ledger_size_at_filing = ledger_size;
    rc = add_transfer(fx, acct(REPUTATION_ACCOUNT_USER, challenger),
                      acct(REPUTATION_ACCOUNT_ESCROW, b->id), b->currency, stake,
                      REPUTATION_REASON_CHALLENGE_STAKE, err);
    if (rc != LODE_OK)
        return rc;
    if ((e = add_event(fx, b, REPUTATION_EVENT_CHALLENGE_FILED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->account = challenger;
    e->amount = stake;
    e->count = ledger_size;
    memcpy(e->hash, evidence, sizeof e->hash);
    return LODE_OK;
}

enum lode_code reputation_bond_challenge(const struct reputation_config *cfg,
                                         const struct reputation_bond *bond, int64_t challenger,
                                         int64_t stake,
                                         const uint8_t evidence[REPUTATION_HASH_BYTES],
                                         int64_t ledger_size, int64_t now_ms,
                                         struct reputation_bond *bond_out,
                                         struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond,
              do_challenge(cfg, b, challenger, stake, evidence, ledger_size, now_ms, fx, err));
}

static enum lode_code do_draw(const struct reputation_config *cfg, struct reputation_bond *b,
                              const struct reputation_juror *pool, size_t pool_count,
                              uint64_t checkpoint_size, const uint8_t root[REPUTATION_HASH_BYTES],
                              int64_t now_ms, struct reputation_effects *fx, struct lode_error *err)
{
    struct reputation_seat_holder holders[LODE_JURY_SEATS_MAX];
    int64_t excluded[2] = {b->publisher, b->challenger}, inflow;
    struct reputation_round *r;
    size_t count = 0;
    enum lode_code rc;

    if (b->state != REPUTATION_BOND_AWAITING_DRAW)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld awaits no jury draw",
                              (long long)b->id);
    r = &b->rounds[b->round_count - 1];
    if (checkpoint_size <= (uint64_t)r->ledger_size_at_filing)
        return lode_error_set(err, LODE_EPRECOND,
                              "checkpoint of size %llu does not follow the filing at ledger "
                              "size %lld",
                              (unsigned long long)checkpoint_size,
                              (long long)r->ledger_size_at_filing);
    r->checkpoint_size = checkpoint_size;
    memcpy(r->checkpoint_root, root, REPUTATION_HASH_BYTES);
    reputation_jury_seed(root, b->id, b->round_count - 1, r->seed);
    rc = reputation_jury_draw(cfg, r->seed, pool, pool_count, excluded, 2, r->seats,
                              r->seat_deposit, holders, &count, err);
    if (rc != LODE_OK)
        return rc;
    r->juror_count = count;
    for (size_t i = 0; i < count; i++) {
        memset(&r->jurors[i], 0, sizeof r->jurors[i]);
        r->jurors[i].account = holders[i].account;
        r->jurors[i].seats = holders[i].seats;
    }
    if (!escrow_inflow(b, &inflow))
        return lode_error_set(err, LODE_EUNPROCESSABLE, "juror deposits overflow the escrow");
    for (size_t i = 0; i < count; i++) {
        struct reputation_event *e;
        int64_t deposit = holders[i].seats * r->seat_deposit;
        rc = add_transfer(fx, acct(REPUTATION_ACCOUNT_JUROR_STAKE, holders[i].account),
                          acct(REPUTATION_ACCOUNT_ESCROW, b->id), b->currency, deposit,
                          REPUTATION_REASON_JUROR_DEPOSIT, err);
        if (rc != LODE_OK)
            return rc;
        if ((e = add_event(fx, b, REPUTATION_EVENT_JUROR_DRAWN, now_ms, err)) == NULL)
            return err != NULL ? err->code : LODE_EINTERNAL;
        e->account = holders[i].account;
        e->count = holders[i].seats;
        e->amount = deposit;
        memcpy(e->hash, r->seed, sizeof e->hash);
    }
    if (now_ms > INT64_MAX - cfg->commit_ms - cfg->reveal_ms)
        return lode_error_set(err, LODE_EINVAL, "time %lld is out of range", (long long)now_ms);
    r->commit_deadline_ms = now_ms + cfg->commit_ms;
    r->reveal_deadline_ms = r->commit_deadline_ms + cfg->reveal_ms;
    b->state = REPUTATION_BOND_COMMIT;
    return LODE_OK;
}

enum lode_code reputation_bond_draw(const struct reputation_config *cfg,
                                    const struct reputation_bond *bond,
                                    const struct reputation_juror *pool, size_t pool_count,
                                    uint64_t checkpoint_size,
                                    const uint8_t checkpoint_root[REPUTATION_HASH_BYTES],
                                    int64_t now_ms, struct reputation_bond *bond_out,
                                    struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond,
              do_draw(cfg, b, pool, pool_count, checkpoint_size, checkpoint_root, now_ms, fx, err));
}

static enum lode_code do_commit(struct reputation_bond *b, int64_t juror,
                                const uint8_t commitment[REPUTATION_HASH_BYTES], int64_t now_ms,
                                struct reputation_effects *fx, struct lode_error *err)
{
    struct reputation_round *r;
    struct reputation_round_juror *j;
    struct reputation_event *e;
    bool all = true;

    if (b->state != REPUTATION_BOND_COMMIT)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld is not in a commit phase",
                              (long long)b->id);
    r = &b->rounds[b->round_count - 1];
    if (now_ms >= r->commit_deadline_ms)
        return lode_error_set(err, LODE_EGONE, "commit phase of bond %lld ended at %lld",
                              (long long)b->id, (long long)r->commit_deadline_ms);
    if ((j = round_juror(r, juror)) == NULL)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %lld is not on the jury of bond %lld round %d",
                              (long long)juror, (long long)b->id, b->round_count - 1);
    if (j->committed)
        return lode_error_set(err, LODE_ECONFLICT, "juror %lld already committed a vote",
                              (long long)juror);
    j->committed = true;
    memcpy(j->commitment, commitment, REPUTATION_HASH_BYTES);
    if ((e = add_event(fx, b, REPUTATION_EVENT_VOTE_COMMITTED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->account = juror;
    e->count = j->seats;
    memcpy(e->hash, commitment, REPUTATION_HASH_BYTES);
    for (size_t i = 0; i < r->juror_count; i++)
        all = all && r->jurors[i].committed;
    if (all)
        b->state = REPUTATION_BOND_REVEAL; /* every juror committed: reveals may start */
    return LODE_OK;
}

enum lode_code reputation_bond_commit(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t juror,
                                      const uint8_t commitment[REPUTATION_HASH_BYTES],
                                      int64_t now_ms, struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond, do_commit(b, juror, commitment, now_ms, fx, err));
}

static enum lode_code do_reveal(const struct reputation_config *cfg, struct reputation_bond *b,
                                int64_t juror, enum reputation_vote vote,
                                const uint8_t salt[REPUTATION_SALT_BYTES], int64_t now_ms,
                                struct reputation_effects *fx, struct lode_error *err)
{
    uint8_t expect[REPUTATION_HASH_BYTES];
    struct reputation_round *r;
    struct reputation_round_juror *j;
    struct reputation_event *e;

    if (vote != REPUTATION_VOTE_UPHOLD && vote != REPUTATION_VOTE_REJECT)
        return lode_error_set(err, LODE_EINVAL, "vote must be uphold or reject");
    if (b->state != REPUTATION_BOND_COMMIT && b->state != REPUTATION_BOND_REVEAL)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld is not in a reveal phase",
                              (long long)b->id);
    r = &b->rounds[b->round_count - 1];
    if (now_ms >= r->reveal_deadline_ms)
        return lode_error_set(err, LODE_EGONE, "reveal phase of bond %lld ended at %lld",
                              (long long)b->id, (long long)r->reveal_deadline_ms);
    if (b->state == REPUTATION_BOND_COMMIT && now_ms < r->commit_deadline_ms)
        return lode_error_set(err, LODE_ECONFLICT,
                              "reveal phase of bond %lld starts at %lld or when all jurors "
                              "committed",
                              (long long)b->id, (long long)r->commit_deadline_ms);
    b->state = REPUTATION_BOND_REVEAL; /* the commit deadline has passed */
    if ((j = round_juror(r, juror)) == NULL)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "account %lld is not on the jury of bond %lld round %d",
                              (long long)juror, (long long)b->id, b->round_count - 1);
    if (!j->committed)
        return lode_error_set(err, LODE_ECONFLICT, "juror %lld committed no vote",
                              (long long)juror);
    if (j->revealed)
        return lode_error_set(err, LODE_ECONFLICT, "juror %lld already revealed a vote",
                              (long long)juror);
    reputation_vote_commitment(b->id, b->round_count - 1, juror, vote, salt, expect);
    if (memcmp(expect, j->commitment, sizeof expect) != 0)
        return lode_error_set(err, LODE_EVERIFY,
                              "vote and salt do not match the commitment of juror %lld",
                              (long long)juror);
    j->revealed = true;
    j->vote = vote;
    if ((e = add_event(fx, b, REPUTATION_EVENT_VOTE_REVEALED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->account = juror;
    e->count = j->seats;
    e->value = (int)vote;
    memcpy(e->hash, salt, REPUTATION_SALT_BYTES);
    return advance(cfg, b, now_ms, fx, err); /* decides the round once everyone revealed */
}

enum lode_code reputation_bond_reveal(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t juror,
                                      enum reputation_vote vote,
                                      const uint8_t salt[REPUTATION_SALT_BYTES], int64_t now_ms,
                                      struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond, do_reveal(cfg, b, juror, vote, salt, now_ms, fx, err));
}

static enum lode_code do_appeal(const struct reputation_config *cfg, struct reputation_bond *b,
                                int64_t appellant, int64_t ledger_size, int64_t now_ms,
                                struct reputation_effects *fx, struct lode_error *err)
{
    enum reputation_outcome first = b->rounds[0].outcome;
    struct reputation_event *e;
    int64_t fee, inflow;
    enum lode_code rc;

    if (ledger_size < 0)
        return lode_error_set(err, LODE_EINVAL, "ledger size must not be negative");
    if (b->state != REPUTATION_BOND_APPEALABLE)
        return lode_error_set(err, LODE_ECONFLICT, "bond %lld has no ruling open to appeal",
                              (long long)b->id);
    if (now_ms >= b->appeal_deadline_ms)
        return lode_error_set(err, LODE_EGONE, "appeal window of bond %lld closed at %lld",
                              (long long)b->id, (long long)b->appeal_deadline_ms);
    if (appellant != b->publisher && appellant != b->challenger)
        return lode_error_set(err, LODE_EFORBIDDEN, "account %lld is not a party to bond %lld",
                              (long long)appellant, (long long)b->id);
    if ((first == REPUTATION_OUTCOME_UPHELD && appellant == b->publisher) ||
        (first == REPUTATION_OUTCOME_REJECTED && appellant == b->challenger))
        return lode_error_set(err, LODE_EFORBIDDEN, "account %lld won the first round of bond %lld",
                              (long long)appellant, (long long)b->id);
    if (!scale_bps(b->amount, cfg->appeal_fee_bps, &fee))
        return lode_error_set(err, LODE_EUNPROCESSABLE, "appeal fee overflows");
    b->appellant = appellant;
    b->appeal_fee = fee;
    if (!escrow_inflow(b, &inflow))
        return lode_error_set(err, LODE_EUNPROCESSABLE, "appeal fee overflows the escrow");
    b->round_count = 2;
    memset(&b->rounds[1], 0, sizeof b->rounds[1]);
    b->rounds[1].seats = cfg->appeal_jury_seats;
    b->rounds[1].seat_deposit = cfg->appeal_seat_deposit;
    b->rounds[1].ledger_size_at_filing = ledger_size;
    b->state = REPUTATION_BOND_AWAITING_DRAW;
    rc = add_transfer(fx, acct(REPUTATION_ACCOUNT_USER, appellant),
                      acct(REPUTATION_ACCOUNT_ESCROW, b->id), b->currency, fee,
                      REPUTATION_REASON_APPEAL_FEE, err);
    if (rc != LODE_OK)
        return rc;
    if ((e = add_event(fx, b, REPUTATION_EVENT_APPEAL_FILED, now_ms, err)) == NULL)
        return err != NULL ? err->code : LODE_EINTERNAL;
    e->account = appellant;
    e->amount = fee;
    e->count = ledger_size;
    return LODE_OK;
}

enum lode_code reputation_bond_appeal(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t appellant,
                                      int64_t ledger_size, int64_t now_ms,
                                      struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond, do_appeal(cfg, b, appellant, ledger_size, now_ms, fx, err));
}

enum lode_code reputation_bond_advance(const struct reputation_config *cfg,
                                       const struct reputation_bond *bond, int64_t now_ms,
                                       struct reputation_bond *bond_out,
                                       struct reputation_effects *fx, struct lode_error *err)
{
    enum lode_code rc;

    if ((rc = reputation_config_check(cfg, err)) != LODE_OK ||
        (rc = check_time(bond, now_ms, err)) != LODE_OK)
        return rc;
    WITH_COPY(bond, advance(cfg, b, now_ms, fx, err));
}

int64_t reputation_bond_next_deadline(const struct reputation_bond *bond)
{
    const struct reputation_round *r =
        bond->round_count > 0 ? &bond->rounds[bond->round_count - 1] : NULL;

    switch (bond->state) {
    case REPUTATION_BOND_POSTED:
        return bond->window_end_ms;
    case REPUTATION_BOND_COMMIT:
        return r != NULL ? r->commit_deadline_ms : INT64_MAX; /* a voting bond has a round */
    case REPUTATION_BOND_REVEAL:
        return r != NULL ? r->reveal_deadline_ms : INT64_MAX;
    case REPUTATION_BOND_APPEALABLE:
        return bond->appeal_deadline_ms;
    case REPUTATION_BOND_AWAITING_DRAW:
    case REPUTATION_BOND_RESOLVED:
        return INT64_MAX;
    }
    return INT64_MAX;
}

const char *reputation_bond_state_name(enum reputation_bond_state state)
{
    switch (state) {
    case REPUTATION_BOND_POSTED:
        return "posted";
    case REPUTATION_BOND_AWAITING_DRAW:
        return "awaiting_draw";
    case REPUTATION_BOND_COMMIT:
        return "commit";
    case REPUTATION_BOND_REVEAL:
        return "reveal";
    case REPUTATION_BOND_APPEALABLE:
        return "appealable";
    case REPUTATION_BOND_RESOLVED:
        return "resolved";
    }
    return "unknown";
}

const char *reputation_outcome_name(enum reputation_outcome outcome)
{
    switch (outcome) {
    case REPUTATION_OUTCOME_PENDING:
        return "pending";
    case REPUTATION_OUTCOME_UPHELD:
        return "upheld";
    case REPUTATION_OUTCOME_REJECTED:
        return "rejected";
    case REPUTATION_OUTCOME_UNDECIDED:
        return "undecided";
    case REPUTATION_OUTCOME_UNCHALLENGED:
        return "unchallenged";
    }
    return "unknown";
}
