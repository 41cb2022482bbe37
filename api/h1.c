/*
 * api/h1.c — HTTP/1.1 through http-parser.
 *
 * One request at a time per connection: when a request is complete the parser pauses, so
 * pipelined requests wait in the input buffer until the response has been written. Header
 * fields and values may arrive split across reads; they are gathered in bounded buffers. A
 * response sent before the request body was fully read (413 and other early answers) closes
 * the connection afterwards, since the rest of the body cannot be told apart from the next
 * request. Headers must arrive within LODE_HEADER_TIMEOUT_MS of a request's first byte.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/log.h"

struct h1_state {
    http_parser parser;
    struct request *cur;   /* being read, or waiting for its response */
    bool complete;         /* cur has been read entirely */
    bool in_parser;        /* inside http_parser_execute */
    bool keep_alive;
    bool value_phase;      /* the last callback was a header value */
    char field[LODE_HEADER_BYTES_MAX + 1];
    size_t field_len;
    char value[LODE_HEADER_BYTES_MAX + 1];
    size_t value_len;
    char url[LODE_TARGET_BYTES_MAX + 2];
    size_t url_len;
    bool url_too_long;
};

static struct h1_state *state_of(http_parser *p)
{
    return ((struct conn *)p->data)->proto_state;
}

static void start_header_timer(struct conn *c)
{
    struct timeval tv = {LODE_HEADER_TIMEOUT_MS / 1000, (LODE_HEADER_TIMEOUT_MS % 1000) * 1000};
    evtimer_add(c->header_timer, &tv);
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    struct h1_state *st = state_of(p);

    st->cur = request_new(c, 0);
    st->complete = false;
    st->field_len = st->value_len = st->url_len = 0;
    st->value_phase = false;
    st->url_too_long = false;
    start_header_timer(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct h1_state *st = state_of(p);

    if (len > LODE_TARGET_BYTES_MAX - st->url_len) {
        st->url_too_long = true;
        return 0;
    }
    memcpy(st->url + st->url_len, at, len);
    st->url_len += len;
    return 0;
}

static void commit_header(struct h1_state *st)
{
    if (st->field_len > 0)
        request_add_header(st->cur, st->field, st->field_len, st->value, st->value_len);
    st->field_len = st->value_len = 0;
}

static int append_bounded(char *buf, size_t *len, const char *at, size_t n, struct request *req)
{
    if (n > LODE_HEADER_BYTES_MAX - *len) {
        if (req->early_error == LODE_OK) {
            req->early_error = LODE_EHEADERS;
            lode_error_set(&req->early_err, LODE_EHEADERS,
                           "request header section is larger than %u bytes",
                           (unsigned)LODE_HEADER_BYTES_MAX);
        }
        return 0;
    }
    memcpy(buf + *len, at, n);
    *len += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct h1_state *st = state_of(p);

    if (st->value_phase) {
        commit_header(st);
        st->value_phase = false;
    }
    return append_bounded(st->field, &st->field_len, at, len, st->cur);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct h1_state *st = state_of(p);

    st->value_phase = true;
    return append_bounded(st->value, &st->value_len, at, len, st->cur);
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct h1_state *st = state_of(p);
    struct request *req = st->cur;

    evtimer_del(c->header_timer);
    commit_header(st);
    req->method = http_method_str((enum http_method)p->method);
    if (st->url_too_long) {
        req->target = "/";
        if (req->early_error == LODE_OK) {
            req->early_error = LODE_EURITOOLONG;
            lode_error_set(&req->early_err, LODE_EURITOOLONG,
                           "request target is longer than %u bytes",
                           (unsigned)LODE_TARGET_BYTES_MAX);
        }
    } else {
        req->target = arena_strndup(req->arena, st->url, st->url_len);
    }
    req->authority = request_header(req, "host");
    st->keep_alive = http_should_keep_alive(p) != 0;
    request_headers_done(req);
    if (req->early_error == LODE_EHEADERS || req->early_error == LODE_EURITOOLONG ||
        req->body_too_large) {
        request_dispatch(req); /* answer now; the connection closes after it */
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = request_header(req, "expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct h1_state *st = state_of(p);
    struct request *req = st->cur;

    if (req == NULL || req->responded)
        return 0;
    if (!request_append_body(req, at, len) && req->body_too_large) {
        request_dispatch(req);
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct h1_state *st = state_of(p);

    st->complete = true;
    http_parser_pause(p, 1); /* later requests wait for this response */
    if (st->cur != NULL && !st->cur->responded)
        request_dispatch(st->cur);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void process(struct conn *c);

void h1_send_response(struct request *req)
{
    struct conn *c = req->conn;
    struct h1_state *st = c->proto_state;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    bool head = req->method != NULL && strcmp(req->method, "HEAD") == 0;
    bool close_after = !st->keep_alive || !st->complete || c->loop->shutting_down;

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", req->status, api_status_reason(req->status));
    if (req->resp_content_type != NULL)
        evbuffer_add_printf(out, "content-type: %s\r\n", req->resp_content_type);
    if (req->status != 204 && req->status != 304)
        evbuffer_add_printf(out, "content-length: %zu\r\n", req->resp_body_len);
    evbuffer_add_printf(out, "x-request-id: %s\r\n", req->request_id);
    for (int i = 0; i < req->resp_header_count; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", req->resp_headers[i].name,
                            req->resp_headers[i].value);
    if (close_after)
        evbuffer_add(out, "connection: close\r\n", 19);
    evbuffer_add(out, "\r\n", 2);
    if (req->resp_body_len > 0 && !head)
        evbuffer_add(out, req->resp_body, req->resp_body_len);

    if (st->cur == req)
        st->cur = NULL;
    request_abandon(req);
    if (close_after) {
        conn_close_after_write(c);
        return;
    }
    http_parser_pause(&st->parser, 0);
    if (!st->in_parser)
        process(c);
}

/* Answers a request the parser rejected (the request may not exist yet), then closes. */
static void reject(struct conn *c, enum lode_code code, const char *msg)
{
    struct h1_state *st = c->proto_state;
    struct lode_error err;
    struct request *req = st->cur;

    if (req == NULL) {
        req = request_new(c, 0);
        st->cur = req;
    }
    if (req->responded) {
        conn_close_after_write(c);
        return;
    }
    if (req->method == NULL)
        req->method = "GET";
    st->keep_alive = false;
    lode_error_set(&err, code, "%s", msg);
    req->early_error = code;
    req->early_err = err;
    request_dispatch(req);
}

static void process(struct conn *c)
{
    struct h1_state *st = c->proto_state;
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (!c->closing) {
        size_t len = evbuffer_get_length(in);
        if (len == 0 || (st->cur != NULL && st->complete))
            return; /* nothing to read, or waiting for a response */
        char *data = (char *)evbuffer_pullup(in, -1);
        st->in_parser = true;
        size_t n = http_parser_execute(&st->parser, &settings, data, len);
        st->in_parser = false;
        evbuffer_drain(in, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&st->parser);
        if (e == HPE_PAUSED) {
            if (st->cur == NULL) { /* answered synchronously: go on with the next request */
                http_parser_pause(&st->parser, 0);
                continue;
            }
            return;
        }
        if (e != HPE_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "malformed HTTP/1.1 request: %s",
                     http_errno_description(e));
            reject(c, e == HPE_HEADER_OVERFLOW ? LODE_EHEADERS : LODE_EINVAL, msg);
            return;
        }
        if (n == len)
            return;
    }
}

void h1_on_read(struct conn *c)
{
    process(c);
}

static void on_header_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct h1_state *st = c->proto_state;

    if (st->cur != NULL && st->cur->method == NULL) {
        log_emit(LOG_DEBUG, "header_timeout", "remote", c->remote, LOG_END);
        reject(c, LODE_EREQTIMEOUT, "request headers did not arrive within 10 seconds");
    }
}

bool h1_start(struct conn *c)
{
    struct h1_state *st = calloc(1, sizeof *st);

    if (st == NULL)
        return false;
    http_parser_init(&st->parser, HTTP_REQUEST);
    st->parser.data = c;
    c->proto_state = st;
    c->proto = PROTO_H1;
    c->header_timer = evtimer_new(c->loop->base, on_header_timeout, c);
    return c->header_timer != NULL;
}

void h1_shutdown(struct conn *c)
{
    struct h1_state *st = c->proto_state;

    if (st->cur == NULL)
        conn_close_after_write(c); /* idle: close now; busy ones close after the response */
}

void h1_free(struct conn *c)
{
    free(c->proto_state);
    c->proto_state = NULL;
}
