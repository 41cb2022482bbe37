/*
 * tests/unit/api/test_api.c — the router's table against the OpenAPI document, route matching,
 * and the error-code to HTTP-status mapping.
 */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "test_main.h"

static json_t *openapi(void)
{
    json_error_t jerr;
    json_t *doc = json_loadb(lode_openapi_json, lode_openapi_json_len, 0, &jerr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    return doc;
}

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

/* Every route in the table is documented, and the document describes no route that is not. */
static void test_openapi_matches_router(void)
{
    json_t *doc = openapi();
    json_t *paths = json_object_get(doc, "paths");
    size_t count, documented = 0;
    const struct route *routes;
    const char *path;
    json_t *item;

    router_enable_debug(false);
    routes = router_routes(&count);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    for (size_t i = 0; i < count; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof method);
        json_t *op = json_object_get(json_object_get(paths, routes[i].pattern), method);
        if (op == NULL)
            fprintf(stderr, "route %s %s is not in api/openapi.json\n", routes[i].method,
                    routes[i].pattern);
        CU_ASSERT_PTR_NOT_NULL(op);
        /* routes that need a token say so in the document */
        if (op != NULL)
            CU_ASSERT_EQUAL(routes[i].roles != ROLE_PUBLIC,
                            json_object_get(op, "security") != NULL);
    }
    json_object_foreach(paths, path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            bool found = false;
            char m[16];
            (void)op;
            for (size_t i = 0; i < count; i++) {
                lower(routes[i].method, m, sizeof m);
                if (strcmp(routes[i].pattern, path) == 0 && strcmp(m, method) == 0)
                    found = true;
            }
            if (!found)
                fprintf(stderr, "api/openapi.json documents %s %s, which no route serves\n",
                        method, path);
            CU_ASSERT_TRUE(found);
            documented++;
        }
    }
    CU_ASSERT_EQUAL(documented, count);
    json_decref(doc);
}

static void test_router_match(void)
{
    struct arena *a = arena_create(0);
    const char *params[ROUTE_PARAMS_MAX];
    int index = -1, n = 0;
    char allow[64];
    size_t count;
    const struct route *routes = router_routes(&count);

    CU_ASSERT_EQUAL(router_match(a, "GET", "/healthz", &index, params, &n, allow, sizeof allow),
                    ROUTE_FOUND);
    CU_ASSERT_STRING_EQUAL(routes[index].pattern, "/healthz");
    CU_ASSERT_EQUAL(router_match(a, "HEAD", "/healthz", &index, params, &n, allow, sizeof allow),
                    ROUTE_FOUND);
    CU_ASSERT_EQUAL(router_match(a, "DELETE", "/v1/accounts/7/tokens/9", &index, params, &n,
                                 allow, sizeof allow),
                    ROUTE_FOUND);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_STRING_EQUAL(params[0], "7");
    CU_ASSERT_STRING_EQUAL(params[1], "9");
    CU_ASSERT_EQUAL(router_match(a, "PUT", "/v1/accounts", &index, params, &n, allow, sizeof allow),
                    ROUTE_NO_METHOD);
    CU_ASSERT_STRING_EQUAL(allow, "POST, GET, HEAD");
    CU_ASSERT_EQUAL(router_match(a, "GET", "/v1/accounts/", &index, params, &n, allow, sizeof allow),
                    ROUTE_NO_PATH);
    CU_ASSERT_EQUAL(router_match(a, "GET", "/v1/accounts//keys", &index, params, &n, allow,
                                 sizeof allow),
                    ROUTE_NO_PATH);
    CU_ASSERT_EQUAL(router_match(a, "GET", "/healthz/", &index, params, &n, allow, sizeof allow),
                    ROUTE_NO_PATH);
    CU_ASSERT_EQUAL(router_match(a, "GET", "", &index, params, &n, allow, sizeof allow),
                    ROUTE_NO_PATH);
    /* debug routes exist only when enabled */
    CU_ASSERT_EQUAL(router_match(a, "GET", "/debug/sleep", &index, params, &n, allow, sizeof allow),
                    ROUTE_NO_PATH);
    router_enable_debug(true);
    CU_ASSERT_EQUAL(router_match(a, "GET", "/debug/sleep", &index, params, &n, allow, sizeof allow),
                    ROUTE_FOUND);
    router_enable_debug(false);
    arena_destroy(a);
}

/* No two routes with the same method can match the same path. */
static void test_routes_do_not_overlap(void)
{
    size_t count;
    const struct route *routes = router_routes(&count);

    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (strcmp(routes[i].method, routes[j].method) == 0)
                CU_ASSERT_STRING_NOT_EQUAL(routes[i].pattern, routes[j].pattern);
    for (size_t i = 0; i < count; i++) {
        CU_ASSERT_TRUE(routes[i].body_limit <= LODE_BODY_BYTES_MAX);
        CU_ASSERT_TRUE(routes[i].timeout_ms > 0);
        CU_ASSERT_PTR_NOT_NULL(routes[i].summary);
    }
}

static void test_status_mapping(void)
{
    CU_ASSERT_EQUAL(api_status_for(LODE_EINVAL), 400);
    CU_ASSERT_EQUAL(api_status_for(LODE_EUNAUTH), 401);
    CU_ASSERT_EQUAL(api_status_for(LODE_EFORBIDDEN), 403);
    CU_ASSERT_EQUAL(api_status_for(LODE_ENOTFOUND), 404);
    CU_ASSERT_EQUAL(api_status_for(LODE_ECONFLICT), 409);
    CU_ASSERT_EQUAL(api_status_for(LODE_ETOOBIG), 413);
    CU_ASSERT_EQUAL(api_status_for(LODE_EURITOOLONG), 414);
    CU_ASSERT_EQUAL(api_status_for(LODE_EHEADERS), 431);
    CU_ASSERT_EQUAL(api_status_for(LODE_EUNAVAIL), 503);
    /* every input-caused code is a 4xx */
    for (int c = LODE_EINVAL; c <= LODE_EHEADERS; c++)
        CU_ASSERT_TRUE(api_status_for((enum lode_code)c) >= 400 &&
                       api_status_for((enum lode_code)c) < 500);
}

static void test_accept_encoding(void)
{
    static const struct {
        const char *value;
        bool zstd;
    } cases[] = {
        {"zstd", true},
        {"gzip, deflate, br, zstd", true}, /* what curl --compressed sends */
        {"ZSTD", true},
        {"gzip;q=1.0, zstd;q=0.5", true},
        {" zstd ; q=0.001 ", true},
        {"zstd;q=0", false},
        {"zstd;q=0.000", false},
        {"zstd;q=0, *", false},   /* named with 0 wins over the wildcard */
        {"*", true},
        {"*;q=0", false},
        {"gzip, *;q=0.1", true},
        {"gzip", false},
        {"", false},
        {"zstdx, xzstd", false},
        {"zstd;q=1.5", false},    /* weights above 1 are malformed */
        {"zstd;q=0.1234", false}, /* more than three decimals */
        {"zstd;q=", false},
        {"zstd;q", false},
        {"zstd;level=3", true},   /* other parameters are ignored */
        {",,, zstd ,", true},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (http_accepts_coding(cases[i].value, "zstd") != cases[i].zstd)
            fprintf(stderr, "Accept-Encoding \"%s\": expected %d\n",
                    cases[i].value ? cases[i].value : "(null)", cases[i].zstd);
        CU_ASSERT_EQUAL(http_accepts_coding(cases[i].value, "zstd"), cases[i].zstd);
    }
    /* a value over the limit is not read */
    char big[ACCEPT_ENCODING_BYTES_MAX + 8];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "zstd", 4);
    CU_ASSERT_FALSE(http_accepts_coding(big, "zstd"));
}

int main(void)
{
    static const struct test_case router_cases[] = {
        {"openapi matches the route table", test_openapi_matches_router},
        {"match", test_router_match},
        {"no overlapping routes", test_routes_do_not_overlap},
        {NULL, NULL},
    };
    static const struct test_case problem_cases[] = {
        {"status mapping", test_status_mapping},
        {"Accept-Encoding", test_accept_encoding},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"router", router_cases}, {"problems", problem_cases}, {NULL, NULL}};
    return test_main(suites);
}
