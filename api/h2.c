/*
 * api/h2.c — HTTP/2 through nghttp2's server session.
 *
 * nghttp2 owns framing, HPACK, flow control, stream states, SETTINGS and header validation
 * (RFC 9113); this file turns its callbacks into `struct request`s and responses into
 * HEADERS + DATA. Output goes to the connection's bufferevent; when that holds more than
 * OUTPUT_HIGH_BYTES the send callback says WOULDBLOCK and sending resumes from the write
 * callback, so a slow reader cannot make the server buffer without bound. After a response
 * sent before the client finished its request body (413, 404 ...), the rest of the body is
 * read and dropped up to DISCARD_BYTES_MAX; past that the stream is reset with NO_ERROR
 * (RFC 9113 section 8.1). Resetting at once is also allowed, but common clients then report
 * an error instead of the response they already received.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "core/log.h"

#define OUTPUT_HIGH_BYTES (256 * 1024)
#define STREAM_WINDOW_BYTES (1 << 20)
#define CONN_WINDOW_BYTES (8 << 20)
#define DISCARD_BYTES_MAX (1 << 20)

struct h2_state {
    nghttp2_session *session;
    bool in_recv; /* inside nghttp2_session_mem_recv: its caller flushes afterwards */
};

static nghttp2_session *session_of(struct conn *c)
{
    return ((struct h2_state *)c->proto_state)->session;
}

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    struct conn *c = user_data;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (evbuffer_get_length(out) >= OUTPUT_HIGH_BYTES)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, length) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)length;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    struct conn *c = user_data;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct request *req = request_new(c, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, req);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct request *req;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are accepted and ignored */
    req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (req == NULL)
        return 0;
    if (namelen > 0 && name[0] == ':') {
        char *v = arena_strndup(req->arena, (const char *)value, valuelen);
        if (v == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
        if (namelen == 7 && memcmp(name, ":method", 7) == 0)
            req->method = v;
        else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
            req->target = v;
        else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
            req->authority = v;
        req->header_bytes += namelen + valuelen + 32;
        return 0;
    }
    request_add_header(req, (const char *)name, namelen, (const char *)value, valuelen);
    if (namelen == 4 && memcmp(name, "host", 4) == 0 && req->authority == NULL)
        req->authority = request_header(req, "host");
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    struct request *req = nghttp2_session_get_stream_user_data(session, stream_id);

    if (req == NULL)
        return 0;
    if (req->responded) {
        req->discarded_bytes += len;
        if (req->discarded_bytes > DISCARD_BYTES_MAX && !req->reset_sent) {
            req->reset_sent = true;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
        }
        return 0;
    }
    if (!request_append_body(req, (const char *)data, len) && req->body_too_large)
        request_dispatch(req); /* answers 413 now; the stream is reset after the response */
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct request *req;

    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (req == NULL || req->responded)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        request_headers_done(req);
        if ((req->early_error != LODE_OK || req->body_too_large) &&
            !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) { /* answer before the body */
            request_dispatch(req);
            return 0;
        }
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        request_dispatch(req);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct request *req = nghttp2_session_get_stream_user_data(session, stream_id);

    if (req != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        request_abandon(req);
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                         size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                         void *user_data)
{
    struct request *req = source->ptr;
    size_t left = req->resp_body_len - req->resp_body_sent;
    size_t n = left < length ? left : length;

    memcpy(buf, req->resp_body + req->resp_body_sent, n);
    req->resp_body_sent += n;
    if (req->resp_body_sent == req->resp_body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Sends what nghttp2 has queued; closes the connection when the session is finished. */
static void flush(struct conn *c)
{
    nghttp2_session *s = session_of(c);

    if (((struct h2_state *)c->proto_state)->in_recv)
        return;
    if (nghttp2_session_send(s) != 0) {
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s))
        conn_close_after_write(c);
}

void h2_stream_done(struct conn *c)
{
    flush(c);
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

void h2_send_response(struct request *req)
{
    struct conn *c = req->conn;
    nghttp2_nv nva[RESPONSE_HEADERS_MAX + 4];
    size_t n = 0;
    char status[8], length[24];
    nghttp2_data_provider prd;
    bool head = req->method != NULL && strcmp(req->method, "HEAD") == 0;

    snprintf(status, sizeof status, "%d", req->status);
    snprintf(length, sizeof length, "%zu", req->resp_body_len);
    nva[n++] = (nghttp2_nv)NV(":status", status);
    if (req->resp_content_type != NULL)
        nva[n++] = (nghttp2_nv)NV("content-type", req->resp_content_type);
    if (req->status != 204 && req->status != 304)
        nva[n++] = (nghttp2_nv)NV("content-length", length);
    nva[n++] = (nghttp2_nv)NV("x-request-id", req->request_id);
    for (int i = 0; i < req->resp_header_count; i++)
        nva[n++] = (nghttp2_nv)NV(req->resp_headers[i].name, req->resp_headers[i].value);
    prd.source.ptr = req;
    prd.read_callback = read_body;
    if (nghttp2_submit_response(session_of(c), req->stream_id, nva, n,
                                req->resp_body_len > 0 && !head ? &prd : NULL) != 0) {
        nghttp2_submit_rst_stream(session_of(c), NGHTTP2_FLAG_NONE, req->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    }
    flush(c);
}

bool h2_start(struct conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    struct h2_state *st = calloc(1, sizeof *st);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, LODE_STREAMS_MAX},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, LODE_HEADER_BYTES_MAX},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    int rv;

    if (st == NULL)
        return false;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option_new(&opt);
    /* streams past the limit are refused by nghttp2 with RST_STREAM(REFUSED_STREAM) */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    rv = nghttp2_session_server_new2(&st->session, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        free(st);
        return false;
    }
    c->proto_state = st;
    c->proto = PROTO_H2;
    if (nghttp2_submit_settings(st->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof settings / sizeof settings[0]) != 0 ||
        nghttp2_session_set_local_window_size(st->session, NGHTTP2_FLAG_NONE, 0,
                                              CONN_WINDOW_BYTES) != 0)
        return false;
    return true;
}

void h2_on_read(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    unsigned char *data = evbuffer_pullup(in, -1);
    ssize_t rv;

    if (len == 0)
        return;
    struct h2_state *st = c->proto_state;
    st->in_recv = true;
    rv = nghttp2_session_mem_recv(st->session, data, len);
    st->in_recv = false;
    if (rv < 0) {
        log_emit(LOG_DEBUG, "h2_protocol_error", "remote", c->remote, "error",
                 nghttp2_strerror((int)rv), LOG_END);
        /* nghttp2 has queued GOAWAY for protocol errors: send it, then close */
        nghttp2_session_send(session_of(c));
        conn_close_after_write(c);
        return;
    }
    evbuffer_drain(in, (size_t)rv);
    flush(c);
}

void h2_shutdown(struct conn *c)
{
    nghttp2_session *s = session_of(c);

    nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    flush(c);
}

void h2_free(struct conn *c)
{
    struct h2_state *st = c->proto_state;

    if (st == NULL)
        return;
    /* nghttp2_session_del runs no stream-close callbacks: conn_close abandons the requests */
    nghttp2_session_del(st->session);
    free(st);
    c->proto_state = NULL;
}
