/*
 * storage/ledger_sequencer.h — integrates queued ledger entries in batches and signs checkpoints.
 *
 * Every `lode serve` runs one sequencer thread; exactly one of them across all replicas
 * integrates at a time: the one holding a PostgreSQL session advisory lock on its own
 * connection. The others wait and take over when that connection goes away. A batch is at most
 * `batch_max` queued entries, collected for at most `batch_delay_ms` after the first one is
 * seen; it is integrated in one transaction: indices assigned in queue order, new hash tiles
 * and bundles written, one new checkpoint signed and stored, then NOTIFY so that every replica
 * learns the new size.
 *
 * `on_integrated(ctx, size)` is called after each commit that grows the log, by whichever
 * replica's sequencer integrated it (the local sequencer thread, or the thread listening for
 * other replicas' notifications); it must only hand the news to the owner's threads.
 *
 * Crash safety: a batch commits whole or not at all; the sequencer re-reads the log's size
 * from the latest checkpoint at every batch, so a restart or a new leader continues exactly
 * where the last commit left off.
 */
#ifndef LODE_STORAGE_LEDGER_SEQUENCER_H
#define LODE_STORAGE_LEDGER_SEQUENCER_H

#include <stdint.h>

#include "core/error.h"
#include "ledger/note.h"

struct ledger_sequencer;

struct ledger_sequencer_config {
    const char *database_url;
    const char *origin;           /* checkpoint origin line, e.g. "localhost/lode" */
    const char *signing_key_path; /* file holding base64 of the 32-byte Ed25519 seed */
    int batch_max;                /* entries per batch, 1 .. 4096 */
    int batch_delay_ms;           /* how long to gather a batch, 0 .. 10000 */
    void (*on_integrated)(void *ctx, uint64_t tree_size);
    void *ctx;
};

/* Loads the key, connects, starts the thread. If the log is empty, the first leader writes the
 * checkpoint of size 0. Returns LODE_OK, LODE_EIO (key file), LODE_EINVAL (bad config or key),
 * LODE_EUNAVAIL (database). */
enum lode_code ledger_sequencer_start(const struct ledger_sequencer_config *config,
                                      struct ledger_sequencer **seq_out, struct lode_error *err);

/* Finishes the batch in progress, stops the thread, closes its connections. NULL is fine. */
void ledger_sequencer_stop(struct ledger_sequencer *seq);

/* The verifier key in C2SP form "origin+hex(keyid)+base64(0x01||pk)" (valid until stop). */
const char *ledger_sequencer_vkey(const struct ledger_sequencer *seq);
const char *ledger_sequencer_origin(const struct ledger_sequencer *seq);

#endif
