/*
 * cli/cmd_serve.c — `lode serve`: the HTTP API server.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/options.h"

void router_enable_debug(bool on);

int cmd_serve(int argc, char **argv)
{
    struct api_config cfg = {0};
    int64_t threads = 0, pool = 0, queue = 0, max_conns = 0, shutdown_ms = 0;
    int64_t batch_max = 0, batch_delay = 0, bond_tick = 0;
    const char *log_level = NULL;
    bool debug_routes = false;
    const struct option_spec options[] = {
        {"listen", OPTION_STRING, &cfg.listen, "127.0.0.1:8080",
         "cleartext address (HTTP/2 with prior knowledge, and HTTP/1.1); empty turns it off", 0,
         0},
        {"tls-listen", OPTION_STRING, &cfg.tls_listen, "127.0.0.1:8443",
         "TLS address (ALPN h2 and http/1.1); empty turns it off", 0, 0},
        {"tls-cert", OPTION_STRING, &cfg.tls_cert_path, "var/tls/cert.pem",
         "PEM certificate chain for the TLS address", 0, 0},
        {"tls-key", OPTION_STRING, &cfg.tls_key_path, "var/tls/key.pem",
         "PEM private key for the TLS address", 0, 0},
        {"database-url", OPTION_STRING, &cfg.database_url, CLI_DATABASE_URL_DEFAULT,
         "libpq connection URI or key=value string", 0, 0},
        {"threads", OPTION_INT, &threads, "0", "event loops; 0 = one per core", 0, 64},
        {"db-pool-size", OPTION_INT, &pool, "8", "database connections (worker threads)", 1, 256},
        {"db-queue-max", OPTION_INT, &queue, "1024",
         "database jobs that may wait; past it requests get 503", 1, 1000000},
        {"max-connections", OPTION_INT, &max_conns, "4096", "open client connections", 1, 1000000},
        {"shutdown-timeout-ms", OPTION_INT, &shutdown_ms, "10000",
         "how long in-flight requests may take after SIGTERM", 0, 600000},
        {"ledger-origin", OPTION_STRING, &cfg.ledger_origin, "localhost/lode",
         "the origin line of the ledger's checkpoints (names this log)", 0, 0},
        {"ledger-key", OPTION_STRING, &cfg.ledger_key_path, "var/keys/checkpoint.key",
         "file with the Ed25519 key that signs checkpoints (made by lode keygen)", 0, 0},
        {"ledger-batch-max", OPTION_INT, &batch_max, "256",
         "most entries the sequencer integrates in one batch (one checkpoint)", 1, 4096},
        {"ledger-batch-delay-ms", OPTION_INT, &batch_delay, "5",
         "how long the sequencer gathers a batch after the first entry arrives", 0, 10000},
        {"detector-model", OPTION_STRING, &cfg.detector_model_path, "",
         "synthetic-text detector model file (default: the shipped model)", 0, 0},
        {"bond-tick-ms", OPTION_INT, &bond_tick, "1000",
         "how often the bond scheduler advances deadlines and draws juries; 0 = off", 0,
         3600000},
        {"migrate", OPTION_FLAG, &cfg.migrate, "true", "apply pending migrations at start", 0, 0},
        {"log-level", OPTION_STRING, &log_level, "info", "debug, info, warn or error", 0, 0},
        {"debug-routes", OPTION_FLAG, &debug_routes, "false",
         "serve /debug/* routes (for tests; never in production)", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "serve", "Serve the lode HTTP API over HTTP/2 and HTTP/1.1.",
        "Applies pending migrations, then serves until SIGTERM or SIGINT, after which it stops\n"
        "accepting, lets in-flight requests finish within --shutdown-timeout-ms and exits 0.",
        options, NULL};
    struct lode_error err = {0};
    int first = 0;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    int level = log_level_parse(log_level);
    if (level < 0) {
        fprintf(stderr, "lode serve: --log-level must be debug, info, warn or error\n");
        return EXIT_USAGE;
    }
    log_set_level((enum log_level)level);
    router_enable_debug(debug_routes);
    cfg.threads = (int)threads;
    cfg.db_pool_size = (int)pool;
    cfg.db_queue_max = (int)queue;
    cfg.max_connections = (int)max_conns;
    cfg.shutdown_timeout_ms = (int)shutdown_ms;
    cfg.ledger_batch_max = (int)batch_max;
    cfg.ledger_batch_delay_ms = (int)batch_delay;
    cfg.bond_tick_ms = (int)bond_tick;
    if (api_serve(&cfg, &err) != LODE_OK) {
        log_emit(LOG_ERROR, "serve_failed", "code", lode_code_name(err.code), "message",
                 err.message, "detail", err.log_detail, LOG_END);
        fprintf(stderr, "lode serve: %s\n", err.message);
        return err.code == LODE_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return EXIT_OK;
}
