/*
 * api/api.h — the lode HTTP API server: its configuration and its one entry point.
 *
 * The server runs one libevent loop per thread (one per core by default). Each loop accepts on
 * the cleartext port (HTTP/2 with prior knowledge, detected by the connection preface, or
 * HTTP/1.1) and on the TLS port (ALPN "h2" or "http/1.1"), through SO_REUSEPORT listeners so
 * the kernel spreads connections across loops. Both protocols produce the same `struct request`
 * and go through one router. Database work runs on storage/'s worker pool, never on a loop.
 * SIGTERM or SIGINT starts a graceful shutdown: listeners close, HTTP/2 peers get GOAWAY,
 * in-flight requests finish within the shutdown deadline, then the process returns.
 */
#ifndef LODE_API_API_H
#define LODE_API_API_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct api_config {
    const char *listen;        /* cleartext "host:port"; empty = off */
    const char *tls_listen;    /* TLS "host:port"; empty = off */
    const char *tls_cert_path; /* PEM certificate chain */
    const char *tls_key_path;  /* PEM private key */
    const char *database_url;
    int threads;               /* event loops; 0 = one per online core */
    int db_pool_size;
    int db_queue_max;
    int max_connections;
    int shutdown_timeout_ms;
    bool migrate;              /* apply migrations before serving */
    const char *ledger_origin;   /* checkpoint origin line */
    const char *ledger_key_path; /* Ed25519 seed (base64) that signs checkpoints */
    int ledger_batch_max;
    int ledger_batch_delay_ms;
    const char *detector_model_path; /* empty: the shipped model, found beside the binary */
    int bond_tick_ms;                /* bond scheduler period; 0 = off */
};

/* Serves until a shutdown signal. Returns LODE_OK after a clean shutdown, or the error that
 * kept it from starting (LODE_EINVAL bad configuration, LODE_EIO cannot listen or read the TLS
 * files, LODE_EUNAVAIL database unreachable, LODE_ECONFLICT a migration changed). */
enum lode_code api_serve(const struct api_config *config, struct lode_error *err);

#endif
