/*
 * tests/unit/test_main.h — a tiny harness around CUnit's basic runner.
 *
 * A test file lists its suites as `struct test_suite` arrays and calls test_main(); the process
 * exits 0 only when every assertion passed. `test_data_path()` finds the reference data folder
 * (LODE_SHARED_DATA, or the environment variable of the same name); data-driven binaries call
 * test_require_data() first, which exits 77 (ctest's "skipped") when it is absent.
 */
#ifndef LODE_TEST_MAIN_H
#define LODE_TEST_MAIN_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

struct test_suite {
    const char *name;
    const struct test_case *cases; /* terminated by {NULL, NULL} */
};

static inline const char *test_data_path(void)
{
    const char *env = getenv("LODE_SHARED_DATA");
    return env != NULL ? env : LODE_SHARED_DATA;
}

static inline void test_require_data(const char *sub)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", test_data_path(), sub);
    if (stat(path, &st) != 0) {
        fprintf(stderr, "reference data %s not found: skipping\n", path);
        exit(77);
    }
}

static inline int test_main(const struct test_suite *suites)
{
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (const struct test_suite *s = suites; s->name != NULL; s++) {
        CU_pSuite suite = CU_add_suite(s->name, NULL, NULL);
        if (suite == NULL)
            return 2;
        for (const struct test_case *c = s->cases; c->name != NULL; c++)
            if (CU_add_test(suite, c->name, c->fn) == NULL)
                return 2;
    }
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}

#endif
