/*
 * tests/fuzz/fuzz_api_router.c — the router over arbitrary methods and paths.
 * Input: method, a NUL byte, then the path.
 */
#include <stdint.h>
#include <string.h>

#include "api/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[8192];
    const char *params[ROUTE_PARAMS_MAX];
    int index = -1, n = 0;
    char allow[64];
    struct arena *a;

    if (size >= sizeof buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *method = buf;
    const char *path = memchr(buf, '\0', size) != NULL && strlen(buf) < size
                           ? buf + strlen(buf) + 1
                           : "/";
    router_enable_debug(size % 2 == 0);
    a = arena_create(1 << 20);
    if (router_match(a, method, path, &index, params, &n, allow, sizeof allow) == ROUTE_FOUND) {
        size_t count;
        const struct route *r = router_routes(&count);
        if (index < 0 || (size_t)index >= count || n > ROUTE_PARAMS_MAX || r[index].handler == NULL)
            __builtin_trap();
    }
    arena_destroy(a);
    return 0;
}
