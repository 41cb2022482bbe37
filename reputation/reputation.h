/*
 * reputation/reputation.h — the pure rules engine of veracity bonds, juries, settlement and
 * reputation scores (docs/reputation.md is the full specification).
 *
 * What: money as integer minor units with checked arithmetic; transfers between accounts and
 * an in-memory double-entry journal (the reference model of the PostgreSQL journal); the bond
 * lifecycle (posted -> challenged -> jury drawn -> commit -> reveal -> appealable -> resolved,
 * one appeal round) as functions from (config, bond, event, time) to (new bond, effects); the
 * verifiable jury draw and the commit-reveal encoding; the Beta reputation with time decay.
 *
 * Effects: every state-changing call appends to a caller-owned `struct reputation_effects` the
 * transfers to post (each one balanced by construction: from -> to, amount > 0) and the ledger
 * events to record. The caller posts the transfers and records the events in one transaction
 * and keeps the new bond only if the posting succeeded; a refused posting (a balance would go
 * below zero) leaves the old bond in force. The engine never reads balances itself.
 *
 * Invariants: amounts are int64 minor units, never negative, every sum overflow-checked; a
 * resolved bond's escrow account holds exactly zero after its transfers are posted; nothing is
 * lost to rounding (remainders go to the burn account, or to the winner where documented);
 * every function is deterministic in its inputs (time is an input: `now_ms`, Unix epoch ms).
 *
 * Ownership: all structs are plain values owned by the caller; no function allocates except
 * reputation_journal_create(). On an error, outputs are left unchanged (a bond function writes
 * the new bond only on LODE_OK; effects appended before an error are rolled back).
 *
 * Threads: pure functions, any thread; a journal is not synchronised (one thread at a time).
 */
#ifndef LODE_REPUTATION_REPUTATION_H
#define LODE_REPUTATION_REPUTATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/limits.h"

#define REPUTATION_HASH_BYTES 32
#define REPUTATION_SALT_BYTES 32
#define REPUTATION_BPS 10000 /* basis points: 10000 = 100 % */

/* ---------------------------------------------------------------------------------------- */
/* Money                                                                                     */

/* Checked arithmetic on non-negative minor units. An operand below zero is LODE_EINVAL, a
 * result outside [0, INT64_MAX] is LODE_EUNPROCESSABLE ("amount overflows"). */
enum lode_code reputation_amount_add(int64_t a, int64_t b, int64_t *sum_out,
                                     struct lode_error *err);
enum lode_code reputation_amount_sub(int64_t a, int64_t b, int64_t *difference_out,
                                     struct lode_error *err);
/* floor(amount * bps / 10000), exact for every amount >= 0 and 0 <= bps <= 10000. */
int64_t reputation_amount_share(int64_t amount, int64_t bps);

enum reputation_account_kind {
    REPUTATION_ACCOUNT_EXTERNAL = 1, /* the outside world (deposit adapter); may go negative */
    REPUTATION_ACCOUNT_USER,         /* an account's spendable balance; id = account id */
    REPUTATION_ACCOUNT_JUROR_STAKE,  /* stake an account put up to serve on juries */
    REPUTATION_ACCOUNT_ESCROW,       /* stakes, deposits and fees held for one bond; id = bond */
    REPUTATION_ACCOUNT_BURN,         /* money destroyed by rule; id = 0; only ever credited */
};

struct reputation_account {
    enum reputation_account_kind kind;
    int64_t id;
};

enum reputation_reason {
    REPUTATION_REASON_DEPOSIT = 1,
    REPUTATION_REASON_WITHDRAWAL,
    REPUTATION_REASON_JUROR_STAKE,
    REPUTATION_REASON_JUROR_UNSTAKE,
    REPUTATION_REASON_BOND_STAKE,
    REPUTATION_REASON_CHALLENGE_STAKE,
    REPUTATION_REASON_JUROR_DEPOSIT, /* juror stake locked for the seats of one round */
    REPUTATION_REASON_APPEAL_FEE,
    REPUTATION_REASON_REFUND,       /* a party's own money returned */
    REPUTATION_REASON_WINNER_GAIN,  /* the loser's forfeit, net of burn and juror share */
    REPUTATION_REASON_JUROR_REFUND, /* a coherent juror's deposit back to its stake */
    REPUTATION_REASON_JUROR_REWARD,
    REPUTATION_REASON_BURN,
};

/* One movement: `amount` > 0 minor units of `currency` from one account to another. */
struct reputation_transfer {
    struct reputation_account from;
    struct reputation_account to;
    uint32_t currency; /* ISO 4217 numeric code, or any number the operator assigns */
    int64_t amount;
    enum reputation_reason reason;
};

/* A stable lower-case name ("winner_gain") of a reason / account kind; "unknown" otherwise. */
const char *reputation_reason_name(enum reputation_reason reason);
const char *reputation_account_kind_name(enum reputation_account_kind kind);

/* ---------------------------------------------------------------------------------------- */
/* Configuration: every rule parameter, one row of one table                                 */

struct reputation_config {
    /* bonds and challenges */
    int64_t bond_amount_min;         /* smallest bond, minor units */
    int64_t window_ms_min;           /* shortest challenge window */
    int64_t window_ms_max;           /* longest challenge window */
    int64_t challenge_stake_min_bps; /* counter-stake >= bond * this / 10000 */
    /* juries */
    int64_t jury_seats;           /* seats of the first round (odd) */
    int64_t appeal_jury_seats;    /* seats of the appeal round (odd, > jury_seats) */
    int64_t seat_deposit;         /* juror stake locked per seat, first round */
    int64_t appeal_seat_deposit;  /* juror stake locked per seat, appeal round */
    int64_t juror_stake_min;      /* smallest juror stake eligible for a draw */
    int64_t juror_weight_cap_bps; /* no juror weighs more than this share of the pool */
    bool jury_distinct;           /* true: a juror holds at most one seat per round */
    int64_t commit_ms;            /* length of the commit phase */
    int64_t reveal_ms;            /* length of the reveal phase */
    int64_t appeal_window_ms;     /* time to appeal a first-round ruling */
    int64_t appeal_fee_bps;       /* appeal fee = bond amount * this / 10000 */
    /* settlement */
    int64_t burn_bps;           /* share of the loser's forfeit that is burned */
    int64_t juror_reward_bps;   /* share of the loser's forfeit paid to coherent jurors */
    int64_t undecided_burn_bps; /* share of each party's money burned if no ruling */
    /* reputation (milli-units: 1000 = 1.0) */
    int64_t prior_alpha_milli;          /* Beta prior, positive side */
    int64_t prior_beta_milli;           /* Beta prior, negative side */
    int64_t half_life_ms;               /* evidence weight halves every half_life_ms */
    int64_t credible_milli;             /* credible interval mass (950 = 95 %) */
    int64_t established_evidence_milli; /* decayed evidence before reputation counts */
    int64_t established_stake;          /* juror stake before reputation counts */
    int64_t factor_min_bps;             /* juror weight factor of unestablished accounts */
    int64_t factor_max_bps;             /* largest juror weight factor */
};

/* Fills the documented defaults (docs/reputation.md, "parameters"). */
void reputation_config_default(struct reputation_config *cfg_out);

/* Checks every parameter's range and the relations between them. Returns LODE_OK or
 * LODE_EINVAL naming the parameter. */
enum lode_code reputation_config_check(const struct reputation_config *cfg, struct lode_error *err);

/* Reads a JSON object of parameters (members as named in the struct; absent = default) of at
 * most LODE_REPUTATION_CONFIG_BYTES_MAX bytes, then checks it. Returns LODE_OK, LODE_EINVAL,
 * LODE_ETOOBIG. */
enum lode_code reputation_config_parse(const char *json, size_t len,
                                       struct reputation_config *cfg_out, struct lode_error *err);

/* The configuration as a JSON object with one member per parameter (the form
 * reputation_config_parse reads). Returns a new reference, or NULL when out of memory. */
json_t *reputation_config_json(const struct reputation_config *cfg);

/* ---------------------------------------------------------------------------------------- */
/* Effects: what a state change asks the caller to post and record                          */

enum reputation_event_type {
    REPUTATION_EVENT_BOND_POSTED = 1,
    REPUTATION_EVENT_CHALLENGE_FILED,
    REPUTATION_EVENT_JUROR_DRAWN,    /* account, seats in `count`, seed in `hash` */
    REPUTATION_EVENT_VOTE_COMMITTED, /* commitment in `hash` */
    REPUTATION_EVENT_VOTE_REVEALED,  /* vote; salt in `hash` */
    REPUTATION_EVENT_ROUND_DECIDED,  /* outcome; seats for publisher/challenger */
    REPUTATION_EVENT_APPEAL_FILED,
    REPUTATION_EVENT_JUROR_SETTLED, /* account; verdict: coherent / incoherent / no-show */
    REPUTATION_EVENT_BOND_RESOLVED, /* outcome; the transfers are in the same effects */
};

enum reputation_vote {
    REPUTATION_VOTE_NONE = 0,
    REPUTATION_VOTE_UPHOLD = 1, /* the statement holds: the publisher is right */
    REPUTATION_VOTE_REJECT = 2, /* the statement is false: the challenger is right */
};

enum reputation_outcome {
    REPUTATION_OUTCOME_PENDING = 0,
    REPUTATION_OUTCOME_UPHELD,       /* publisher wins */
    REPUTATION_OUTCOME_REJECTED,     /* challenger wins */
    REPUTATION_OUTCOME_UNDECIDED,    /* a tie or no reveals */
    REPUTATION_OUTCOME_UNCHALLENGED, /* window passed without a challenge: publisher keeps */
};

enum reputation_juror_verdict {
    REPUTATION_JUROR_COHERENT = 1, /* revealed the final outcome */
    REPUTATION_JUROR_INCOHERENT,   /* revealed the other side */
    REPUTATION_JUROR_NO_SHOW,      /* did not commit, or did not reveal */
    REPUTATION_JUROR_NEUTRAL,      /* revealed, but the bond ended undecided */
};

struct reputation_event {
    enum reputation_event_type type;
    int64_t bond_id;
    int64_t at_ms;
    int64_t account; /* the actor, or the juror concerned; 0 if none */
    int64_t amount;  /* stake, fee, or deposit concerned; 0 if none */
    int64_t count;   /* seats, where relevant */
    int64_t count2;  /* second count: seats for the challenger in ROUND_DECIDED */
    int round;       /* 0 = first round, 1 = appeal */
    int value;       /* vote, outcome or juror verdict, by type */
    uint8_t hash[REPUTATION_HASH_BYTES]; /* commitment, salt, seed or evidence, by type */
};

/* The observations a settlement yields for the reputation records (see reputation_observe). */
enum reputation_observation {
    REPUTATION_OBS_LABEL_GOLD_CORRECT = 0,
    REPUTATION_OBS_LABEL_GOLD_WRONG,
    REPUTATION_OBS_LABEL_CONSENSUS_AGREE,
    REPUTATION_OBS_LABEL_CONSENSUS_DISAGREE,
    REPUTATION_OBS_BOND_UPHELD,
    REPUTATION_OBS_BOND_UNCHALLENGED,
    REPUTATION_OBS_BOND_LOST,
    REPUTATION_OBS_ITEM_SYNTHETIC,
    REPUTATION_OBS_ITEM_DUPLICATE,
    REPUTATION_OBS_CHALLENGE_WON,
    REPUTATION_OBS_CHALLENGE_LOST,
    REPUTATION_OBS_JUROR_COHERENT,
    REPUTATION_OBS_JUROR_INCOHERENT,
    REPUTATION_OBS_JUROR_NO_SHOW,
    REPUTATION_OBS_COUNT
};

struct reputation_observed {
    int64_t account;
    enum reputation_observation observation;
};

#define REPUTATION_TRANSFERS_MAX (4 * LODE_JURY_SEATS_MAX + 16)
#define REPUTATION_EVENTS_MAX (2 * LODE_JURY_SEATS_MAX + 16)
#define REPUTATION_OBSERVED_MAX (2 * LODE_JURY_SEATS_MAX + 4)

struct reputation_effects {
    size_t transfer_count;
    size_t event_count;
    size_t observed_count;
    struct reputation_transfer transfers[REPUTATION_TRANSFERS_MAX];
    struct reputation_event events[REPUTATION_EVENTS_MAX];
    struct reputation_observed observed[REPUTATION_OBSERVED_MAX];
};

/* Empties the lists. */
void reputation_effects_clear(struct reputation_effects *fx);

/* A stable lower-case name of an event type ("bond_posted"); "unknown" otherwise. */
const char *reputation_event_type_name(enum reputation_event_type type);

/* The ledger entry body of an event as a JSON object of integers, strings and lower-case hex
 * hashes (docs/reputation.md, "ledger events"); for BOND_RESOLVED it lists the transfers out
 * of the bond's escrow found in `fx` (may be NULL). Serialise with json_canonical_dump().
 * Returns a new reference, or NULL when out of memory. */
json_t *reputation_event_json(const struct reputation_event *e,
                              const struct reputation_effects *fx);

/* ---------------------------------------------------------------------------------------- */
/* Jury draw and commit-reveal (docs/reputation.md, "jury draw" is the normative spec)      */

/* One candidate juror as recorded in the pool snapshot of a draw. */
struct reputation_juror {
    int64_t account;    /* pool sorted by account, strictly ascending */
    int64_t stake;      /* free juror stake, minor units */
    int64_t factor_bps; /* reputation factor (reputation_juror_factor_bps), 1..100000 */
};

struct reputation_seat_holder {
    int64_t account;
    int64_t seats;
};

/* seed = SHA-256("lode jury v1" || root || bond_id as 8 bytes big-endian || round as 1 byte) */
void reputation_jury_seed(const uint8_t root[REPUTATION_HASH_BYTES], int64_t bond_id, int round,
                          uint8_t seed_out[REPUTATION_HASH_BYTES]);

/* The draw weight of each pool member after the cap (0 if ineligible: stake below
 * juror_stake_min or below one seat deposit, or excluded). weights_out has pool_count
 * entries; *total_out is their sum. Returns LODE_OK, LODE_EINVAL (pool unsorted, bad
 * member), LODE_EUNPROCESSABLE (weights overflow). */
enum lode_code reputation_jury_weights(const struct reputation_config *cfg,
                                       const struct reputation_juror *pool, size_t pool_count,
                                       const int64_t *excluded, size_t excluded_count,
                                       int64_t seat_deposit, int64_t *weights_out,
                                       int64_t *total_out, struct lode_error *err);

/* Draws `seats` seats from the pool with the seed (the algorithm of docs/reputation.md).
 * `excluded` lists accounts that may not sit (the parties). holders_out must have room for
 * `seats` entries and receives the seat holders in draw order of their first seat.
 * Returns LODE_OK, LODE_EINVAL, LODE_EUNPROCESSABLE (too few eligible jurors). */
enum lode_code reputation_jury_draw(const struct reputation_config *cfg,
                                    const uint8_t seed[REPUTATION_HASH_BYTES],
                                    const struct reputation_juror *pool, size_t pool_count,
                                    const int64_t *excluded, size_t excluded_count, int64_t seats,
                                    int64_t seat_deposit,
                                    struct reputation_seat_holder *holders_out,
                                    size_t *holder_count_out, struct lode_error *err);

/* commitment = SHA-256("lode vote v1" || bond_id (8 bytes BE) || round (1 byte) ||
 *                      juror account (8 bytes BE) || vote (1 byte) || salt (32 bytes)) */
void reputation_vote_commitment(int64_t bond_id, int round, int64_t juror,
                                enum reputation_vote vote,
                                const uint8_t salt[REPUTATION_SALT_BYTES],
                                uint8_t commitment_out[REPUTATION_HASH_BYTES]);

/* ---------------------------------------------------------------------------------------- */
/* Bonds                                                                                      */

enum reputation_bond_state {
    REPUTATION_BOND_POSTED = 1,    /* inside the challenge window */
    REPUTATION_BOND_AWAITING_DRAW, /* challenged or appealed: waits for a later checkpoint */
    REPUTATION_BOND_COMMIT,        /* jurors commit votes */
    REPUTATION_BOND_REVEAL,        /* jurors reveal votes */
    REPUTATION_BOND_APPEALABLE,    /* first-round ruling known; the loser may appeal */
    REPUTATION_BOND_RESOLVED,      /* final; money settled */
};

struct reputation_round_juror {
    int64_t account;
    int64_t seats;
    bool committed;
    bool revealed;
    enum reputation_vote vote;
    uint8_t commitment[REPUTATION_HASH_BYTES];
};

struct reputation_round {
    int64_t seats;
    int64_t seat_deposit;
    int64_t ledger_size_at_filing; /* the draw needs a checkpoint larger than this */
    uint64_t checkpoint_size;      /* the checkpoint the seed came from */
    uint8_t checkpoint_root[REPUTATION_HASH_BYTES];
    uint8_t seed[REPUTATION_HASH_BYTES];
    int64_t commit_deadline_ms;
    int64_t reveal_deadline_ms;
    int64_t seats_uphold;
    int64_t seats_reject;
    enum reputation_outcome outcome;
    size_t juror_count;
    struct reputation_round_juror jurors[LODE_JURY_SEATS_MAX];
};

struct reputation_bond {
    int64_t id;
    uint32_t currency;
    int64_t publisher;
    int64_t amount;
    uint8_t subject[REPUTATION_HASH_BYTES]; /* SHA-256 of the subject reference */
    char statement[LODE_BOND_STATEMENT_BYTES_MAX + 1];
    int64_t posted_at_ms;
    int64_t window_end_ms;
    enum reputation_bond_state state;
    int64_t challenger; /* 0 = none */
    int64_t challenge_stake;
    uint8_t evidence[REPUTATION_HASH_BYTES];
    int64_t appellant; /* 0 = none */
    int64_t appeal_fee;
    int64_t appeal_deadline_ms;
    int round_count; /* rounds started (0..2) */
    struct reputation_round rounds[2];
    enum reputation_outcome outcome;
    int64_t resolved_at_ms;
};

struct reputation_bond_params {
    int64_t id; /* assigned by the caller, > 0 */
    uint32_t currency;
    int64_t publisher; /* account id, > 0 */
    int64_t amount;
    uint8_t subject[REPUTATION_HASH_BYTES];
    const char *statement; /* 1..LODE_BOND_STATEMENT_BYTES_MAX of [a-z0-9-] */
    int64_t window_ms;
};

/* Posts a bond: publisher -> escrow. Returns LODE_OK, LODE_EINVAL (bad field),
 * LODE_EUNPROCESSABLE (below the minimum bond, window out of range, overflow). */
enum lode_code reputation_bond_post(const struct reputation_config *cfg,
                                    const struct reputation_bond_params *params, int64_t now_ms,
                                    struct reputation_bond *bond_out, struct reputation_effects *fx,
                                    struct lode_error *err);

/* Files the challenge: challenger -> escrow, counter-stake >= the bond by rule.
 * `ledger_size` is the ledger's size when the challenge is accepted (the draw must use a
 * later checkpoint). Returns LODE_OK, LODE_EINVAL, LODE_EFORBIDDEN (own bond),
 * LODE_ECONFLICT (already challenged or resolved), LODE_EGONE (window closed),
 * LODE_EUNPROCESSABLE (stake below the rule, overflow). */
enum lode_code reputation_bond_challenge(const struct reputation_config *cfg,
                                         const struct reputation_bond *bond, int64_t challenger,
                                         int64_t stake,
                                         const uint8_t evidence[REPUTATION_HASH_BYTES],
                                         int64_t ledger_size, int64_t now_ms,
                                         struct reputation_bond *bond_out,
                                         struct reputation_effects *fx, struct lode_error *err);

/* Draws the jury of the pending round from a checkpoint taken after the filing and locks each
 * juror's seat deposits (juror stake -> escrow). The pool is the snapshot the caller records.
 * Returns LODE_OK, LODE_EINVAL, LODE_ECONFLICT (no round awaits a draw), LODE_EPRECOND
 * (checkpoint not later than the filing), LODE_EUNPROCESSABLE (too few eligible jurors). */
enum lode_code reputation_bond_draw(const struct reputation_config *cfg,
                                    const struct reputation_bond *bond,
                                    const struct reputation_juror *pool, size_t pool_count,
                                    uint64_t checkpoint_size,
                                    const uint8_t checkpoint_root[REPUTATION_HASH_BYTES],
                                    int64_t now_ms, struct reputation_bond *bond_out,
                                    struct reputation_effects *fx, struct lode_error *err);

/* Records a juror's commitment. Returns LODE_OK, LODE_EFORBIDDEN (not on this jury),
 * LODE_ECONFLICT (already committed, or not in the commit phase), LODE_EGONE (deadline). */
enum lode_code reputation_bond_commit(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t juror,
                                      const uint8_t commitment[REPUTATION_HASH_BYTES],
                                      int64_t now_ms, struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err);

/* Reveals a committed vote; moves the bond on when the last juror reveals. Returns LODE_OK,
 * LODE_EINVAL (bad vote), LODE_EFORBIDDEN (not on this jury), LODE_ECONFLICT (already
 * revealed, never committed, or not in the reveal phase), LODE_EGONE (deadline),
 * LODE_EVERIFY (vote and salt do not match the commitment). */
enum lode_code reputation_bond_reveal(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t juror,
                                      enum reputation_vote vote,
                                      const uint8_t salt[REPUTATION_SALT_BYTES], int64_t now_ms,
                                      struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err);

/* Appeals the first-round ruling: appellant -> escrow (the appeal fee); opens the appeal round.
 * Only the first-round loser (either party after an undecided round) may appeal, once, within
 * the appeal window. Returns LODE_OK, LODE_EFORBIDDEN, LODE_ECONFLICT, LODE_EGONE,
 * LODE_EUNPROCESSABLE (overflow). */
enum lode_code reputation_bond_appeal(const struct reputation_config *cfg,
                                      const struct reputation_bond *bond, int64_t appellant,
                                      int64_t ledger_size, int64_t now_ms,
                                      struct reputation_bond *bond_out,
                                      struct reputation_effects *fx, struct lode_error *err);

/* Applies every deadline that has passed at now_ms (the scheduler's tick): closes the window
 * of an unchallenged bond, ends commit and reveal phases, decides rounds, ends the appeal
 * window, and settles. Calling it again at the same time changes nothing. Returns LODE_OK,
 * LODE_EINVAL (time before the bond was posted). */
enum lode_code reputation_bond_advance(const struct reputation_config *cfg,
                                       const struct reputation_bond *bond, int64_t now_ms,
                                       struct reputation_bond *bond_out,
                                       struct reputation_effects *fx, struct lode_error *err);

/* The earliest deadline at which advance() would change the bond; INT64_MAX if none (resolved,
 * or waiting for a draw). For the scheduler's queue. */
int64_t reputation_bond_next_deadline(const struct reputation_bond *bond);

const char *reputation_bond_state_name(enum reputation_bond_state state);
const char *reputation_outcome_name(enum reputation_outcome outcome);

/* The whole engine state of a bond as a JSON object (reputation/bond_json.c): every field of
 * struct reputation_bond, rounds and jurors included (commitments, votes, seeds); hashes as
 * 64 lower-case hex digits, enums by name. It is the stored form of a bond (the stateful layer
 * keeps it in PostgreSQL) and not a public view: unrevealed votes are in it. Returns a new
 * reference, or NULL when out of memory. */
json_t *reputation_bond_json(const struct reputation_bond *bond);

/* Reads the form reputation_bond_json writes, at most LODE_BOND_JSON_BYTES_MAX bytes: every
 * member required, no unknown member, every number and name in range, structural relations
 * checked (round_count 0..2, jurors per round <= LODE_JURY_SEATS_MAX, seat counts). Returns
 * LODE_OK, LODE_EINVAL (naming the member), LODE_ETOOBIG. On error *bond_out is untouched. */
enum lode_code reputation_bond_parse(const char *json, size_t len,
                                     struct reputation_bond *bond_out, struct lode_error *err);

/* ---------------------------------------------------------------------------------------- */
/* In-memory double-entry journal                                                             */

struct reputation_journal;

/* Returns NULL when out of memory. */
struct reputation_journal *reputation_journal_create(void);
void reputation_journal_destroy(struct reputation_journal *journal);

/* Posts transfers all or nothing: each must have amount > 0 and distinct valid accounts; no
 * account but EXTERNAL may end below zero; no balance may overflow; BURN is never debited.
 * Returns LODE_OK, LODE_EINVAL (malformed transfer), LODE_EUNPROCESSABLE (insufficient
 * balance, overflow), LODE_ENOMEM. On error nothing changed. */
enum lode_code reputation_journal_post(struct reputation_journal *journal,
                                       const struct reputation_transfer *transfers, size_t count,
                                       struct lode_error *err);

/* The balance of an account in a currency (0 if never touched). */
int64_t reputation_journal_balance(const struct reputation_journal *journal,
                                   struct reputation_account account, uint32_t currency);

/* Sum of the balances of one kind in one currency (the caller checks conservation with it);
 * returns LODE_EUNPROCESSABLE if the sum overflows. */
enum lode_code reputation_journal_total(const struct reputation_journal *journal,
                                        enum reputation_account_kind kind, uint32_t currency,
                                        int64_t *total_out, struct lode_error *err);

/* ---------------------------------------------------------------------------------------- */
/* Reputation: Beta model with exponential decay                                             */

enum reputation_role {
    REPUTATION_ROLE_LABELER = 0,
    REPUTATION_ROLE_PUBLISHER,
    REPUTATION_ROLE_FACT_CHECKER,
    REPUTATION_ROLE_COUNT
};

/* The evidence behind one role's score of one account. */
struct reputation_record {
    enum reputation_role role;
    double positive;                      /* decayed positive weight as of updated_at_ms */
    double negative;                      /* decayed negative weight as of updated_at_ms */
    int64_t updated_at_ms;                /* 0 = never */
    int64_t counts[REPUTATION_OBS_COUNT]; /* raw number of each observation, never decayed */
};

struct reputation_score {
    enum reputation_role role;
    double mean;  /* posterior mean of the Beta */
    double lower; /* credible interval, equal tails */
    double upper;
    double alpha; /* posterior parameters, prior included */
    double beta;
    double positive; /* decayed evidence as of the score's time */
    double negative;
    bool established; /* enough evidence to weigh in juries */
    int64_t counts[REPUTATION_OBS_COUNT];
};

/* The role an observation belongs to and its signed weight in milli-units (> 0 positive,
 * < 0 negative), as documented. */
enum reputation_role reputation_observation_role(enum reputation_observation obs);
int64_t reputation_observation_weight_milli(enum reputation_observation obs);
const char *reputation_observation_name(enum reputation_observation obs);
const char *reputation_role_name(enum reputation_role role);

/* A fresh record: the prior only. */
void reputation_record_init(struct reputation_record *rec, enum reputation_role role);

/* Decays the record to now_ms and adds the observation. Returns LODE_OK, LODE_EINVAL (the
 * observation belongs to another role, or time runs backwards). */
enum lode_code reputation_observe(const struct reputation_config *cfg,
                                  struct reputation_record *rec, enum reputation_observation obs,
                                  int64_t now_ms, struct lode_error *err);

/* The score as of now_ms (decayed), with its evidence. Returns LODE_OK, LODE_EINVAL. */
enum lode_code reputation_score_compute(const struct reputation_config *cfg,
                                        const struct reputation_record *rec, int64_t now_ms,
                                        struct reputation_score *score_out, struct lode_error *err);

/* The integer draw factor of a juror: factor_min_bps until established
 * (evidence or stake), then factor_min_bps + 10000 * lower bound, capped at factor_max_bps. New
 * accounts are never above established ones, so a new account cannot reset a poor record. */
int64_t reputation_juror_factor_bps(const struct reputation_config *cfg,
                                    const struct reputation_score *score, int64_t juror_stake);

/* Regularised incomplete beta I_x(a, b) and its inverse (exposed for tests). */
double reputation_beta_cdf(double x, double a, double b);
double reputation_beta_quantile(double p, double a, double b);

#endif
