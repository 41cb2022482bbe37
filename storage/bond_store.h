/*
 * storage/bond_store.h — veracity bonds in PostgreSQL: the rules configuration, bonds and their
 * engine state, jury pool snapshots, every step of the lifecycle applied with the pure engine
 * (reputation/reputation.h) together with its money (storage/money_store.h) and its ledger
 * entries (storage/ledger_store.h) in the caller's transaction, the scheduler's tick, and the
 * reputation records derived on read.
 *
 * What. Each action (post, challenge, commit, reveal, appeal, draw, advance) loads the bond
 * FOR UPDATE, calls the engine (which judges every deadline against now_ms itself; when it
 * finds the bond out of phase because a deadline passed that the scheduler has not applied
 * yet, the deadlines are applied in the same transaction and the action is tried again), posts its transfers with money_post, enqueues one ledger entry per engine event
 * (type "bond.posted", "challenge.filed", ... "bond.resolved"), records the reputation
 * observations, and stores the new engine state with a compare-and-set on `version`. Any
 * refusal (engine, journal, ledger) returns its code and the caller must roll back: nothing
 * is half-written. Accepting a challenge or an appeal also fixes the jury pool snapshot (every
 * account with juror stake >= juror_stake_min in the bond's currency, with its reputation
 * factor) and puts its SHA-256 (bond_pool_hash) in that ledger entry; a draw records the
 * checkpoint size and root in every juror.drawn entry.
 *
 * Invariants. A bond's copy of the configuration never changes after it is posted. A stored
 * engine state is one the engine returned. The pool snapshot of a round awaiting its draw is
 * fixed until a draw from it is refused; the scheduler then renews it once per retry (a new
 * snapshot and a "pool.renewed" entry that becomes the round's filing entry, so the draw needs
 * a later checkpoint). bond_juror_stake_locked() tells the money layer how much juror stake
 * must stay.
 *
 * Ownership. Outputs are caller-owned structs; arrays come from the caller's arena.
 * Threads. Every call runs on the caller's connection and thread.
 */
#ifndef LODE_STORAGE_BOND_STORE_H
#define LODE_STORAGE_BOND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/limits.h"
#include "reputation/reputation.h"
#include "storage/db.h"

#define BOND_LIST_LIMIT_MAX 1000
#define BOND_POOL_HASH_TAG "lode pool v1"

enum bond_subject_kind {
    BOND_SUBJECT_DATASET = 0,
    BOND_SUBJECT_ITEM,
    BOND_SUBJECT_CLAIM,
};

/* One bond: its engine state, its rules, and the columns around them. */
struct bond_row {
    struct reputation_bond engine;
    struct reputation_config config;
    char currency[4];
    enum bond_subject_kind subject_kind;
    char subject_ref[LODE_BOND_SUBJECT_BYTES_MAX + 1];
    int64_t version;
    int64_t next_deadline_ms; /* INT64_MAX: none */
    int64_t draw_queue_id;    /* 0: no round awaits a draw */
    char draw_error[256];     /* why the last scheduled step (a draw, mostly) failed, "" if none */
    int64_t created_at_ms;
};

/* What one stored step queued: the ledger entries (ledger_queue ids, in order). */
struct bond_step {
    int64_t queue_ids[REPUTATION_EVENTS_MAX * 2];
    size_t queue_count;
};

struct bond_post_request {
    int64_t publisher;
    char currency[4];
    int64_t amount;
    enum bond_subject_kind subject_kind;
    const char *subject_ref; /* 1..LODE_BOND_SUBJECT_BYTES_MAX bytes */
    const char *statement;   /* [a-z0-9-]{1,64} */
    int64_t window_ms;
};

/* "dataset", "item", "claim", and the inverse (false when unknown). */
const char *bond_subject_kind_name(enum bond_subject_kind kind);
bool bond_subject_kind_parse(const char *name, enum bond_subject_kind *kind_out);

/* The ledger entry type of an engine event: "bond.posted" ... "bond.resolved". */
const char *bond_entry_type(enum reputation_event_type type);

/* SHA-256("lode pool v1" || be64(bond_id) || u8(round) || for each member in order:
 * be64(account) || be64(stake) || be64(factor_bps)) — the hash of a pool snapshot. */
void bond_pool_hash(int64_t bond_id, int round, const struct reputation_juror *pool, size_t count,
                    uint8_t hash_out[REPUTATION_HASH_BYTES]);

/* The configuration in force (the defaults overridden by the stored parameters) and its
 * version. Returns LODE_OK or the mapped error. */
enum lode_code bond_config_get(struct db_conn *conn, struct reputation_config *cfg_out,
                               int64_t *version_out, struct lode_error *err);
/* Replaces it (checked first); new bonds copy it, existing bonds keep theirs. Returns LODE_OK,
 * LODE_EINVAL, or the mapped error. */
enum lode_code bond_config_put(struct db_conn *conn, const struct reputation_config *cfg,
                               int64_t actor_id, int64_t *version_out, struct lode_error *err);
/* (actor_id 0: no account, e.g. a tool) */

/* Posts a bond in the caller's transaction: publisher's USER -> the bond's ESCROW.
 * Returns LODE_OK; LODE_EINVAL, LODE_EUNPROCESSABLE (engine refusals, insufficient balance),
 * LODE_ENOTFOUND (the dataset or item named as subject does not exist), or a database error. */
enum lode_code bond_post(struct db_conn *conn, const struct bond_post_request *rq, int64_t now_ms,
                         struct bond_row *row_out, struct bond_step *step_out,
                         struct lode_error *err);

/* Files a challenge: the evidence text's SHA-256 goes into the entry, the text into the row;
 * the pool snapshot of round 0 is fixed. Returns LODE_OK, LODE_ENOTFOUND, and the engine's
 * and journal's refusals (docs/reputation.md, "calling convention"). */
enum lode_code bond_challenge(struct db_conn *conn, int64_t bond_id, int64_t challenger,
                              int64_t stake, const char *evidence, int64_t now_ms,
                              struct bond_row *row_out, struct bond_step *step_out,
                              struct lode_error *err);

enum lode_code bond_commit(struct db_conn *conn, int64_t bond_id, int64_t juror,
                           const uint8_t commitment[REPUTATION_HASH_BYTES], int64_t now_ms,
                           struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err);

enum lode_code bond_reveal(struct db_conn *conn, int64_t bond_id, int64_t juror,
                           enum reputation_vote vote, const uint8_t salt[REPUTATION_SALT_BYTES],
                           int64_t now_ms, struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err);

/* Appeals the first-round ruling; fixes the pool snapshot of round 1. */
enum lode_code bond_appeal(struct db_conn *conn, int64_t bond_id, int64_t appellant,
                           int64_t now_ms, struct bond_row *row_out, struct bond_step *step_out,
                           struct lode_error *err);

/* Draws the jury of the round awaiting its draw from the given checkpoint (the caller found
 * one that covers the round's filing entry) and the recorded pool snapshot. Returns LODE_OK,
 * the engine's refusals, or the journal's (a juror's stake fell below its seats). */
enum lode_code bond_draw(struct db_conn *conn, int64_t bond_id, uint64_t checkpoint_size,
                         const uint8_t checkpoint_root[REPUTATION_HASH_BYTES], int64_t now_ms,
                         struct bond_row *row_out, struct bond_step *step_out,
                         struct lode_error *err);

/* Applies every deadline that passed at now_ms. Returns LODE_OK, LODE_ENOTFOUND. */
enum lode_code bond_advance(struct db_conn *conn, int64_t bond_id, int64_t now_ms,
                            struct bond_row *row_out, struct bond_step *step_out,
                            struct lode_error *err);

/* The scheduler's tick: up to `max` times, in a transaction of its own, picks one due bond
 * (a deadline at or before now_ms, or awaiting a draw whose filing entry a checkpoint covers)
 * with FOR UPDATE SKIP LOCKED, and advances or draws it; a step the engine or the journal
 * refuses is rolled back to a savepoint, recorded in draw_error and retried after retry_ms,
 * so it never holds up the bonds behind it. The retry of a refused draw renews the round's
 * filing instead of drawing (a fresh pool snapshot, checked that the jury can be seated, and
 * a "pool.renewed" entry as the new filing entry); the draw follows once a checkpoint covers
 * that entry. Several replicas may tick
 * at once: each step is applied once. *stepped_out counts the bonds stored. Returns LODE_OK
 * or the first database error. */
enum lode_code bond_tick(struct db_conn *conn, int64_t now_ms, int max, int64_t retry_ms,
                         int *stepped_out, struct lode_error *err);

/* The compare-and-set every step ends with: stores row->engine (and the columns derived from
 * it) only if the stored version is still row->version, then bumps both. Returns LODE_OK,
 * LODE_ECONFLICT (another transaction stored a step meanwhile), or the mapped error. */
enum lode_code bond_save(struct db_conn *conn, struct bond_row *row, struct lode_error *err);

/* One bond. Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code bond_get(struct db_conn *conn, int64_t bond_id, struct bond_row *row_out,
                        struct lode_error *err);

/* Bond ids by ascending id after `cursor`, optionally of one state and/or one subject hash
 * (NULL: any). Returns LODE_OK or the mapped error. */
enum lode_code bond_list(struct db_conn *conn, int64_t cursor, int limit, const char *state,
                         const uint8_t *subject_sha256, struct arena *arena, int64_t **ids_out,
                         size_t *count_out, struct lode_error *err);

/* One ledger entry of a bond with its position once integrated (index -1 before). */
struct bond_entry {
    const char *type;
    const char *entry; /* canonical JSON */
    int64_t queue_id;
    int64_t index;
};

enum lode_code bond_entries(struct db_conn *conn, int64_t bond_id, struct arena *arena,
                            struct bond_entry **entries_out, size_t *count_out,
                            struct lode_error *err);

/* The pool snapshot of a round, its hash and whether it was drawn. Returns LODE_OK or
 * LODE_ENOTFOUND (no such round). */
enum lode_code bond_pool_get(struct db_conn *conn, int64_t bond_id, int round,
                             struct arena *arena, struct reputation_juror **pool_out,
                             size_t *count_out, uint8_t hash_out[REPUTATION_HASH_BYTES],
                             bool *drawn_out, struct lode_error *err);

/* The juror stake of an account, in a currency, that must stay put: the largest stake recorded
 * for it in the pool snapshot of a round still awaiting its draw (0 if none). The money layer
 * refuses a juror-stake withdrawal that would leave less. Returns LODE_OK or the mapped error. */
enum lode_code bond_juror_stake_locked(struct db_conn *conn, int64_t account_id,
                                       const char *currency, int64_t *locked_out,
                                       struct lode_error *err);

/* The reputation records of an account as of now_ms, derived on read from every piece of
 * evidence: gold answers and consensus of its labels (labeler), bond outcomes and the
 * synthetic and duplicate flags of its contributions (publisher), challenges and juror
 * verdicts (fact-checker), replayed in time order through reputation_observe with cfg.
 * records_out has REPUTATION_ROLE_COUNT entries. Returns LODE_OK or the mapped error. */
enum lode_code bond_reputation_records(struct db_conn *conn, int64_t account_id,
                                       const struct reputation_config *cfg, int64_t now_ms,
                                       struct reputation_record *records_out,
                                       struct lode_error *err);

#endif
