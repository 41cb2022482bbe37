/*
 * api/server.c — listeners, TLS with ALPN, connections, event loops and graceful shutdown.
 *
 * Start-up: migrations (unless disabled), the database pool, the TLS context, then one thread
 * per loop, each binding its own SO_REUSEPORT listeners. The main thread only waits for
 * SIGTERM/SIGINT. Shutdown: every loop closes its listeners, sends GOAWAY on HTTP/2 and closes
 * idle HTTP/1.1 connections, then waits for its connections to finish; at the deadline the
 * rest are closed. The database pool is drained last and orphaned requests are freed.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/log.h"
#include "detector/detector.h"
#include "storage/idempotency_store.h"
#include "storage/ledger_sequencer.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_BYTES 24
#define REAP_INTERVAL_MS 50

/* ---- connections ---- */

static void conn_close_deferred(evutil_socket_t fd, short what, void *arg)
{
    conn_close(arg);
}

void conn_close(struct conn *c)
{
    struct loop *loop = c->loop;

    if (loop->conns == c)
        loop->conns = c->next;
    else if (c->prev != NULL)
        c->prev->next = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    loop->conn_count--;
    atomic_fetch_sub(&loop->server->conn_total, 1);
    metrics_connection(-1);
    if (c->proto == PROTO_H2)
        h2_free(c);
    else if (c->proto == PROTO_H1)
        h1_free(c);
    while (c->requests != NULL)
        request_abandon(c->requests);
    if (c->header_timer != NULL)
        event_free(c->header_timer);
    if (c->close_event != NULL)
        event_free(c->close_event);
    bufferevent_free(c->bev);
    free(c);
}

void conn_close_after_write(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        event_active(c->close_event, EV_TIMEOUT, 0);
}

static bool start_protocol(struct conn *c, enum conn_proto proto)
{
    bool ok = proto == PROTO_H2 ? h2_start(c) : h1_start(c);
    if (!ok) {
        log_emit(LOG_ERROR, "protocol_start_failed", "remote", c->remote, LOG_END);
        conn_close_after_write(c);
    }
    return ok;
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->closing)
        return;
    if (c->proto == PROTO_UNKNOWN) {
        struct evbuffer *in = bufferevent_get_input(bev);
        size_t len = evbuffer_get_length(in);
        size_t n = len < H2_PREFACE_BYTES ? len : H2_PREFACE_BYTES;
        const unsigned char *data = evbuffer_pullup(in, (ev_ssize_t)n);
        if (memcmp(data, h2_preface, n) != 0) {
            if (!start_protocol(c, PROTO_H1))
                return;
        } else if (n == H2_PREFACE_BYTES) {
            if (!start_protocol(c, PROTO_H2))
                return;
        } else {
            return; /* a prefix of the preface: wait for more */
        }
    }
    if (c->proto == PROTO_H2)
        h2_on_read(c);
    else
        h1_on_read(c);
}

static void on_conn_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->closing) {
        conn_close(c);
        return;
    }
    if (c->proto == PROTO_H2)
        h2_stream_done(c); /* resume output that waited for room */
}

static void on_conn_event(struct bufferevent *bev, short events, void *arg)
{
    struct conn *c = arg;

    if (events & BEV_EVENT_CONNECTED) { /* TLS handshake done: ALPN picks the protocol */
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &alpn, &alpn_len);
        bool h2 = alpn_len == 2 && memcmp(alpn, "h2", 2) == 0;
        if (start_protocol(c, h2 ? PROTO_H2 : PROTO_H1) && h2)
            h2_stream_done(c); /* send our SETTINGS */
        return;
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_close(c);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int addrlen, void *arg)
{
    struct loop *loop = arg;
    struct server *server = loop->server;
    bool tls = evconnlistener_get_base(listener) == loop->base &&
               listener == loop->listeners[1];
    struct conn *c;
    int one = 1;
    char host[NI_MAXHOST] = "", port[NI_MAXSERV] = "";

    if (loop->shutting_down ||
        atomic_load(&server->conn_total) >= server->config.max_connections) {
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->loop = loop;
    c->tls = tls;
    getnameinfo(addr, (socklen_t)addrlen, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->remote, sizeof c->remote, "%s:%s", host, port);
    if (tls) {
        SSL *ssl = SSL_new((SSL_CTX *)server->ssl_ctx);
        c->bev = ssl != NULL ? bufferevent_openssl_socket_new(loop->base, fd, ssl,
                                                               BUFFEREVENT_SSL_ACCEPTING,
                                                               BEV_OPT_CLOSE_ON_FREE)
                             : NULL;
        if (c->bev == NULL && ssl != NULL)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->close_event = event_new(loop->base, -1, 0, conn_close_deferred, c);
    struct timeval idle = {LODE_IDLE_TIMEOUT_MS / 1000, 0};
    bufferevent_set_timeouts(c->bev, &idle, &idle);
    bufferevent_setcb(c->bev, on_conn_read, on_conn_write, on_conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = loop->conns;
    if (loop->conns != NULL)
        loop->conns->prev = c;
    loop->conns = c;
    loop->conn_count++;
    atomic_fetch_add(&server->conn_total, 1);
    metrics_connection(1);
}

/* ---- TLS ---- */

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;

    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: HTTP/1.1 without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_context(const struct api_config *cfg, struct lode_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char reason[256] = "";

    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2 suites allowed by RFC 9113 appendix A; TLS 1.3 keeps OpenSSL's defaults */
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return ctx;
fail:
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    lode_error_set(err, LODE_EIO, "could not set up TLS with certificate \"%s\" and key \"%s\": %s",
                   cfg->tls_cert_path, cfg->tls_key_path, reason);
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- listeners ---- */

static enum lode_code parse_listen(const char *text, struct addrinfo **out, struct lode_error *err)
{
    char host[256], *colon;
    struct addrinfo hints = {0};
    int rv;

    if (strlen(text) >= sizeof host)
        return lode_error_set(err, LODE_EINVAL, "listen address \"%.60s...\" is too long", text);
    snprintf(host, sizeof host, "%s", text);
    colon = strrchr(host, ':');
    if (colon == NULL)
        return lode_error_set(err, LODE_EINVAL, "listen address \"%s\" must be HOST:PORT", text);
    *colon = '\0';
    char *h = host;
    if (h[0] == '[' && colon > h && colon[-1] == ']') { /* [::1]:8080 */
        h++;
        colon[-1] = '\0';
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rv = getaddrinfo(h[0] != '\0' ? h : NULL, colon + 1, &hints, out);
    if (rv != 0)
        return lode_error_set(err, LODE_EINVAL, "could not resolve listen address \"%s\": %s",
                              text, gai_strerror(rv));
    return LODE_OK;
}

static enum lode_code bind_listener(struct loop *loop, int slot, const char *addr,
                                    struct lode_error *err)
{
    struct addrinfo *ai = NULL;
    enum lode_code rc = parse_listen(addr, &ai, err);

    if (rc != LODE_OK)
        return rc;
    if (ai == NULL)
        return lode_error_set(err, LODE_EINVAL, "listen address \"%s\" resolves to nothing", addr);
    loop->listeners[slot] = evconnlistener_new_bind(
        loop->base, on_accept, loop,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
        1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (loop->listeners[slot] == NULL)
        return lode_error_set(err, LODE_EIO, "could not listen on %s: %s", addr,
                              strerror(errno));
    return LODE_OK;
}

/* ---- loops ---- */

static void close_all(struct loop *loop)
{
    for (struct conn *c = loop->conns, *next; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}

static void loop_reap(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    static const struct timeval interval = {0, REAP_INTERVAL_MS * 1000};

    if (loop->conn_count == 0) {
        event_base_loopexit(loop->base, NULL);
        return;
    }
    evtimer_add(loop->reap_timer, &interval);
}

static void loop_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;

    close_all(loop);
    event_base_loopexit(loop->base, NULL);
}

static void loop_shutdown(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    struct timeval deadline = {loop->server->config.shutdown_timeout_ms / 1000,
                               (loop->server->config.shutdown_timeout_ms % 1000) * 1000};

    if (loop->shutting_down)
        return;
    loop->shutting_down = true;
    for (int i = 0; i < 2; i++)
        if (loop->listeners[i] != NULL) {
            evconnlistener_free(loop->listeners[i]);
            loop->listeners[i] = NULL;
        }
    for (struct conn *c = loop->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->proto == PROTO_H2)
            h2_shutdown(c);
        else if (c->proto == PROTO_H1)
            h1_shutdown(c);
        else
            conn_close_after_write(c);
    }
    event_base_once(loop->base, -1, EV_TIMEOUT, loop_deadline, loop, &deadline);
    loop->reap_timer = evtimer_new(loop->base, loop_reap, loop);
    loop_reap(-1, 0, loop);
}

static void *loop_main(void *arg)
{
    struct loop *loop = arg;

    event_base_dispatch(loop->base);
    atomic_fetch_sub(&loop->server->loops_running, 1);
    return NULL;
}

static enum lode_code loop_init(struct server *server, struct loop *loop, int index,
                                struct lode_error *err)
{
    enum lode_code rc;

    loop->server = server;
    loop->index = index;
    loop->base = event_base_new();
    if (loop->base == NULL)
        return lode_error_set(err, LODE_EIO, "could not create an event loop");
    pthread_mutex_init(&loop->done_lock, NULL);
    loop->done_event = event_new(loop->base, -1, EV_PERSIST, request_drain_completions, loop);
    loop->shutdown_event = event_new(loop->base, -1, 0, loop_shutdown, loop);
    loop->ledger_wake = event_new(loop->base, -1, 0, ledger_wake_waiters, loop);
    loop->ledger_poll = evtimer_new(loop->base, ledger_wake_waiters, loop);
    if (server->config.listen[0] != '\0' &&
        (rc = bind_listener(loop, 0, server->config.listen, err)) != LODE_OK)
        return rc;
    if (server->config.tls_listen[0] != '\0' &&
        (rc = bind_listener(loop, 1, server->config.tls_listen, err)) != LODE_OK)
        return rc;
    return LODE_OK;
}

static void loop_fini(struct loop *loop)
{
    if (loop->base == NULL)
        return;
    for (int i = 0; i < 2; i++)
        if (loop->listeners[i] != NULL)
            evconnlistener_free(loop->listeners[i]);
    close_all(loop);
    request_drain_completions(-1, 0, loop); /* orphans finished by the pool's drain */
    if (loop->reap_timer != NULL)
        event_free(loop->reap_timer);
    event_free(loop->done_event);
    event_free(loop->shutdown_event);
    event_free(loop->ledger_wake);
    event_free(loop->ledger_poll);
    event_base_free(loop->base);
    pthread_mutex_destroy(&loop->done_lock);
}

/* ---- maintenance: hourly purge of expired Idempotency-Key records ---- */

#define MAINTENANCE_INTERVAL_S 3600

struct maintenance {
    struct db_job job;
    atomic_bool busy; /* a purge is queued or running */
    struct event *timer;
};

static enum lode_code run_purge(struct db_conn *conn, struct db_job *job)
{
    int64_t deleted = 0;
    enum lode_code rc = idempotency_purge(conn, IDEMPOTENCY_RETENTION_S, &deleted, &job->err);
    if (rc == LODE_OK && deleted > 0) {
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)deleted);
        log_emit(LOG_INFO, "idempotency_purged", "records", n, LOG_END);
    }
    return rc;
}

static void purge_done(struct db_job *job)
{
    struct maintenance *m = job->arg;
    if (job->result != LODE_OK)
        log_emit(LOG_WARN, "idempotency_purge_failed", "message", job->err.message, LOG_END);
    atomic_store(&m->busy, false);
}

static void on_maintenance(evutil_socket_t fd, short what, void *arg)
{
    struct server *server = arg;
    struct maintenance *m = server->maintenance;
    static const struct timeval interval = {MAINTENANCE_INTERVAL_S, 0};

    if (!atomic_exchange(&m->busy, true)) {
        memset(&m->job, 0, sizeof m->job);
        m->job.run = run_purge;
        m->job.done = purge_done;
        m->job.arg = m;
        if (db_pool_submit(server->pool, &m->job) != LODE_OK)
            atomic_store(&m->busy, false); /* queue full: next hour */
    }
    evtimer_add(m->timer, &interval);
}

/* ---- the ledger's sequencer ---- */

/* Called on the sequencer's thread: wake the waiters of every loop. */
static void on_integrated(void *ctx, uint64_t tree_size)
{
    struct server *server = ctx;
    (void)tree_size;
    for (int i = 0; i < server->loop_count; i++)
        event_active(server->loops[i].ledger_wake, EV_TIMEOUT, 0);
}

static enum lode_code start_sequencer(struct server *server, struct lode_error *err)
{
    struct ledger_sequencer_config cfg = {
        .database_url = server->config.database_url,
        .origin = server->config.ledger_origin,
        .signing_key_path = server->config.ledger_key_path,
        .batch_max = server->config.ledger_batch_max,
        .batch_delay_ms = server->config.ledger_batch_delay_ms,
        .on_integrated = on_integrated,
        .ctx = server,
    };
    enum lode_code rc = ledger_sequencer_start(&cfg, &server->sequencer, err);
    if (rc != LODE_OK)
        return rc;
    server->ledger_origin = ledger_sequencer_origin(server->sequencer);
    server->ledger_vkey = ledger_sequencer_vkey(server->sequencer);
    return LODE_OK;
}

/* The detector is optional: without a model file the server runs and /v1/detect says so. */
static void load_detector(struct server *server)
{
    char path[4096];
    struct lode_error err;

    if (detector_model_locate(server->config.detector_model_path, path, sizeof path, &err) !=
            LODE_OK ||
        detector_model_load(path, &server->detector, &err) != LODE_OK) {
        log_emit(LOG_WARN, "detector_unavailable", "message", err.message, LOG_END);
        server->detector = NULL;
        return;
    }
    log_emit(LOG_INFO, "detector_loaded", "path", path, "version",
             detector_model_version(server->detector), LOG_END);
}

/* ---- signals and the main thread ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *server = arg;

    if (atomic_exchange(&server->shutting_down, true))
        return;
    log_emit(LOG_INFO, "shutdown_started", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", LOG_END);
    for (int i = 0; i < server->loop_count; i++)
        event_active(server->loops[i].shutdown_event, EV_TIMEOUT, 0);
}

static enum lode_code prepare_database(const struct api_config *cfg, struct lode_error *err)
{
    struct db_conn *conn = NULL;
    enum lode_code rc;
    int applied = 0;

    if (!cfg->migrate)
        return LODE_OK;
    rc = db_conn_open(cfg->database_url, &conn, err);
    if (rc != LODE_OK)
        return rc;
    rc = db_migrate(conn, &applied, err);
    db_conn_close(conn);
    if (rc == LODE_OK && applied > 0) {
        char n[16];
        snprintf(n, sizeof n, "%d", applied);
        log_emit(LOG_INFO, "migrations_applied", "count", n, LOG_END);
    }
    return rc;
}

enum lode_code api_serve(const struct api_config *config, struct lode_error *err)
{
    struct server server;
    struct event_base *main_base = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    enum lode_code rc;
    int started = 0;
    size_t route_count;

    memset(&server, 0, sizeof server);
    server.config = *config;
    if (server.config.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        server.config.threads = n > 0 && n < 64 ? (int)n : 2;
    }
    if (server.config.listen[0] == '\0' && server.config.tls_listen[0] == '\0')
        return lode_error_set(err, LODE_EINVAL, "nothing to serve: both listen addresses are empty");
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    router_routes(&route_count);
    metrics_init(route_count);

    rc = prepare_database(config, err);
    if (rc != LODE_OK)
        return rc;
    rc = db_pool_create(config->database_url, config->db_pool_size, config->db_queue_max,
                        &server.pool, err);
    if (rc != LODE_OK)
        return rc;
    if (server.config.tls_listen[0] != '\0') {
        server.ssl_ctx = (struct ssl_ctx_st *)tls_context(config, err);
        if (server.ssl_ctx == NULL) {
            rc = err->code;
            goto out_pool;
        }
    }
    server.loops = calloc((size_t)server.config.threads, sizeof *server.loops);
    if (server.loops == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not allocate event loops");
        goto out_tls;
    }
    server.loop_count = server.config.threads;
    for (int i = 0; i < server.loop_count; i++) {
        rc = loop_init(&server, &server.loops[i], i, err);
        if (rc != LODE_OK)
            goto out_loops;
    }
    load_detector(&server);
    {
        static struct maintenance maintenance;
        static const struct timeval first = {60, 0};
        server.maintenance = &maintenance;
        maintenance.timer = evtimer_new(server.loops[0].base, on_maintenance, &server);
        evtimer_add(maintenance.timer, &first);
    }
    rc = start_sequencer(&server, err);
    if (rc != LODE_OK)
        goto out_loops;
    bonds_scheduler_start(&server, server.config.bond_tick_ms);
    main_base = event_base_new();
    sigterm = evsignal_new(main_base, SIGTERM, on_signal, &server);
    sigint = evsignal_new(main_base, SIGINT, on_signal, &server);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    atomic_store(&server.loops_running, server.loop_count);
    for (started = 0; started < server.loop_count; started++)
        if (pthread_create(&server.loops[started].thread, NULL, loop_main,
                           &server.loops[started]) != 0) {
            rc = lode_error_set(err, LODE_EIO, "could not start an event loop thread");
            on_signal(SIGTERM, 0, &server);
            break;
        }
    {
        char threads[16];
        snprintf(threads, sizeof threads, "%d", server.loop_count);
        log_emit(LOG_INFO, "listening", "http", config->listen, "https", config->tls_listen,
                 "loops", threads, LOG_END);
    }
    /* the main thread waits for a signal, then for the loops to finish */
    while (!atomic_load(&server.shutting_down) && rc == LODE_OK)
        event_base_loop(main_base, EVLOOP_ONCE);
    for (int i = 0; i < started; i++)
        pthread_join(server.loops[i].thread, NULL);
    log_emit(LOG_INFO, "shutdown_complete", LOG_END);

    event_free(sigterm);
    event_free(sigint);
    event_base_free(main_base);
out_loops:
    bonds_scheduler_stop();
    if (server.maintenance != NULL && server.maintenance->timer != NULL) {
        event_free(server.maintenance->timer);
        server.maintenance->timer = NULL;
    }
    ledger_sequencer_stop(server.sequencer); /* no more wakes after this */
    detector_model_free(server.detector);
    db_pool_destroy(server.pool); /* finishes queued jobs, whose requests are orphans now */
    server.pool = NULL;
    for (int i = 0; i < server.loop_count; i++)
        loop_fini(&server.loops[i]);
    free(server.loops);
out_tls:
    SSL_CTX_free((SSL_CTX *)server.ssl_ctx);
out_pool:
    if (server.pool != NULL)
        db_pool_destroy(server.pool);
    return rc;
}
