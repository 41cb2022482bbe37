/*
 * tests/unit/core/test_core.c — arena, encodings, JSON limits and canonical form, options.
 */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/json.h"
#include "core/options.h"
#include "test_main.h"

static int deferred_order[4];
static int deferred_count;

static void record(void *p)
{
    deferred_order[deferred_count++] = (int)(intptr_t)p;
}

static void test_arena_alloc_and_defer(void)
{
    struct arena *a = arena_create(0);
    char *s = arena_sprintf(a, "%s-%d", "x", 42);
    CU_ASSERT_STRING_EQUAL(s, "x-42");
    void *big = arena_alloc(a, 100000);
    CU_ASSERT_PTR_NOT_NULL(big);
    memset(big, 1, 100000);
    CU_ASSERT_EQUAL((uintptr_t)arena_alloc(a, 3) % 16, 0);
    deferred_count = 0;
    arena_defer(a, record, (void *)1);
    arena_defer(a, record, (void *)2);
    arena_reset(a);
    CU_ASSERT_EQUAL(deferred_count, 2);
    CU_ASSERT_EQUAL(deferred_order[0], 2); /* last registered runs first */
    CU_ASSERT_EQUAL(deferred_order[1], 1);
    CU_ASSERT_EQUAL(arena_used_bytes(a), 0);
    arena_destroy(a);
}

static void test_arena_budget(void)
{
    struct arena *a = arena_create(1024);
    CU_ASSERT_PTR_NOT_NULL(arena_alloc(a, 1000));
    CU_ASSERT_PTR_NULL(arena_alloc(a, 100));
    CU_ASSERT_PTR_NULL(arena_calloc(a, SIZE_MAX / 2, 4));
    arena_reset(a);
    CU_ASSERT_PTR_NOT_NULL(arena_alloc(a, 100));
    arena_destroy(a);
}

static void test_hex_and_base64(void)
{
    const uint8_t in[] = {0x00, 0xff, 0x10, 0xab};
    char hex[HEX_ENCODED_BYTES(4)], b64[BASE64_ENCODED_BYTES(4)];
    uint8_t out[8];
    size_t n = 0;

    hex_encode(in, 4, hex);
    CU_ASSERT_STRING_EQUAL(hex, "00ff10ab");
    CU_ASSERT_TRUE(hex_decode("00FF10ab", 8, out, sizeof out, &n));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(in, out, 4), 0);
    CU_ASSERT_FALSE(hex_decode("0g", 2, out, sizeof out, &n));
    CU_ASSERT_FALSE(hex_decode("abc", 3, out, sizeof out, &n));
    CU_ASSERT_FALSE(hex_decode("00112233", 8, out, 3, &n));

    base64_encode(in, 4, b64);
    CU_ASSERT_STRING_EQUAL(b64, "AP8Qqw==");
    CU_ASSERT_TRUE(base64_decode("AP8Qqw==", 8, out, sizeof out, &n));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_FALSE(base64_decode("AP8Qqw=", 7, out, sizeof out, &n));
    CU_ASSERT_FALSE(base64_decode("AP8Q qw=", 8, out, sizeof out, &n));
    CU_ASSERT_FALSE(base64_decode("AP8Q*w==", 8, out, sizeof out, &n));
}

static void test_json_limits(void)
{
    struct lode_error err;
    json_t *v;
    char deep[200];

    v = json_body_parse("{\"a\":1}", 7, 100, 4, &err);
    CU_ASSERT_PTR_NOT_NULL(v);
    json_decref(v);
    CU_ASSERT_PTR_NULL(json_body_parse("{\"a\":1}", 7, 6, 4, &err));
    CU_ASSERT_EQUAL(err.code, LODE_ETOOBIG);
    CU_ASSERT_PTR_NULL(json_body_parse("{\"a\":1,\"a\":2}", 13, 100, 4, &err));
    CU_ASSERT_EQUAL(err.code, LODE_EINVAL);
    CU_ASSERT_PTR_NULL(json_body_parse("{\"a\":\"\xff\"}", 9, 100, 4, &err));
    CU_ASSERT_EQUAL(err.code, LODE_EINVAL);
    CU_ASSERT_PTR_NULL(json_body_parse("", 0, 100, 4, &err));
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    CU_ASSERT_PTR_NULL(json_body_parse(deep, 80, 1000, 32, &err));
    CU_ASSERT_EQUAL(err.code, LODE_EINVAL);
    /* brackets inside strings do not count */
    v = json_body_parse("[\"[[[[[[\"]", 10, 100, 2, &err);
    CU_ASSERT_PTR_NOT_NULL(v);
    json_decref(v);
}

static void test_json_fields(void)
{
    struct lode_error err;
    const char *const allowed[] = {"name", "count", NULL};
    json_t *v = json_loads("{\"name\":\"x\",\"count\":5,\"extra\":true}", 0, NULL);
    const char *name = NULL;
    int64_t count = 0;

    CU_ASSERT_EQUAL(json_object_check_fields(v, allowed, &err), LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/extra");
    CU_ASSERT_EQUAL(json_get_string(v, "name", true, 10, &name, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(name, "x");
    CU_ASSERT_EQUAL(json_get_int(v, "count", true, 0, 4, &count, &err), LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/count");
    CU_ASSERT_EQUAL(json_get_int(v, "count", true, 0, 10, &count, &err), LODE_OK);
    CU_ASSERT_EQUAL(count, 5);
    CU_ASSERT_EQUAL(json_get_string(v, "count", true, 10, &name, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(json_get_string(v, "missing", true, 10, &name, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(json_get_string(v, "missing", false, 10, &name, &err), LODE_OK);
    json_decref(v);
}

static void test_json_canonical(void)
{
    json_t *v = json_loads("{ \"b\" : [1, 2], \"a\": {\"z\":\"\xc3\xa9\", \"y\": null} }", 0, NULL);
    size_t n = 0;
    char *s = json_canonical_dump(v, &n);
    CU_ASSERT_STRING_EQUAL(s, "{\"a\":{\"y\":null,\"z\":\"\xc3\xa9\"},\"b\":[1,2]}");
    CU_ASSERT_EQUAL(n, strlen(s));
    free(s);
    json_decref(v);
    v = json_loads("{\"x\":1.5}", 0, NULL);
    CU_ASSERT_PTR_NULL(json_canonical_dump(v, NULL));
    json_decref(v);
}

static void test_options(void)
{
    const char *url = NULL;
    int64_t port = 0;
    bool verbose = false;
    const struct option_spec opts[] = {
        {"database-url", OPTION_STRING, &url, "postgresql:///lode", "database", 0, 0},
        {"port", OPTION_INT, &port, "8080", "port", 1, 65535},
        {"verbose", OPTION_FLAG, &verbose, "false", "more", 0, 0},
        {0},
    };
    const struct command_spec cmd = {"t", "test", NULL, opts, NULL};
    char *argv1[] = {"t", "--port=9000", "--verbose", NULL};
    char *argv2[] = {"t", "--port", "70000", NULL};
    char *argv3[] = {"t", "--nope", NULL};
    int first = 0;
    FILE *sink = fopen("/dev/null", "w");

    setenv("LODE_DATABASE_URL", "postgresql:///other", 1);
    CU_ASSERT_EQUAL(options_parse(&cmd, 3, argv1, &first, sink, sink), OPTIONS_OK);
    CU_ASSERT_EQUAL(port, 9000);
    CU_ASSERT_TRUE(verbose);
    CU_ASSERT_STRING_EQUAL(url, "postgresql:///other");
    CU_ASSERT_EQUAL(options_parse(&cmd, 3, argv2, &first, sink, sink), OPTIONS_ERROR);
    CU_ASSERT_EQUAL(options_parse(&cmd, 2, argv3, &first, sink, sink), OPTIONS_ERROR);
    unsetenv("LODE_DATABASE_URL");
    fclose(sink);
}

static void test_error_record(void)
{
    struct lode_error err;
    CU_ASSERT_EQUAL(lode_error_set(&err, LODE_ENOTFOUND, "no dataset %d", 7), LODE_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(err.message, "no dataset 7");
    CU_ASSERT_STRING_EQUAL(lode_code_name(err.code), "not_found");
    CU_ASSERT_EQUAL(lode_error_set(NULL, LODE_EINVAL, "x"), LODE_EINVAL);
}

int main(void)
{
    static const struct test_case arena_cases[] = {
        {"alloc and defer", test_arena_alloc_and_defer},
        {"budget", test_arena_budget},
        {NULL, NULL},
    };
    static const struct test_case codec_cases[] = {
        {"hex and base64", test_hex_and_base64},
        {NULL, NULL},
    };
    static const struct test_case json_cases[] = {
        {"limits", test_json_limits},
        {"fields", test_json_fields},
        {"canonical", test_json_canonical},
        {NULL, NULL},
    };
    static const struct test_case misc_cases[] = {
        {"options", test_options},
        {"error record", test_error_record},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"arena", arena_cases}, {"encoding", codec_cases}, {"json", json_cases},
        {"misc", misc_cases},   {NULL, NULL},
    };
    return test_main(suites);
}
