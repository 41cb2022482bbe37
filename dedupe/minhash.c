/*
 * dedupe/minhash.c — shingles, 64-bit shingle hashes, MinHash signatures, LSH band keys,
 * parameters and candidate verification.
 *
 * Shingle hash: a seeded 64-bit multiply-rotate hash over the shingle's UTF-8 bytes (read
 * little-endian), finished with the MurmurHash3 64-bit finaliser. The seed encodes the scheme,
 * so a character 5-gram and a word 1-gram over the same bytes hash differently.
 * MinHash: each 64-bit shingle hash is folded to 32 bits x, and permutation i is the bijection
 * h_i(x) = g((x ^ b_i) * a_i mod 2^32) with a_i odd and g a fixed xorshift-multiply-xorshift
 * finaliser. All arithmetic is 32-bit so the 128 lanes vectorise (an AVX2 variant is chosen at
 * run time on x86-64; both variants give identical bits). a_i and b_i come from splitmix64 with
 * a fixed seed, so signatures never change between runs or machines.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe/dedupe.h"

#define COEFF_SEED 0x6c6f64652d6d6831ull /* "lode-mh1" */
#define SHINGLE_SEED 0x6c6f64652d736831ull
#define BAND_SEED 0x6c6f64652d626e31ull

static uint32_t coeff_a[DEDUPE_HASHES], coeff_b[DEDUPE_HASHES];
static pthread_once_t coeff_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void coeff_init(void)
{
    uint64_t state = COEFF_SEED;
    for (int i = 0; i < DEDUPE_HASHES; i++) {
        coeff_a[i] = (uint32_t)splitmix64(&state) | 1u;
        coeff_b[i] = (uint32_t)splitmix64(&state);
    }
}

static inline uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);

    while (n >= 8) {
        h ^= load_le(p, 8) * 0x87c37b91114253d5ull;
        h = rotl64(h, 31) * 0x4cf5ad432745937full;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        h ^= load_le(p, n) * 0x87c37b91114253d5ull;
        h = rotl64(h, 31) * 0x4cf5ad432745937full;
    }
    return fmix64(h);
}

/* The 128 permutations of one shingle batch; written so that compilers vectorise it. */
#define MINHASH_BODY                                                                           \
    for (size_t j = 0; j < n; j++) {                                                           \
        uint32_t x = (uint32_t)(xs[j] ^ (xs[j] >> 32));                                        \
        for (int i = 0; i < DEDUPE_HASHES; i++) {                                              \
            uint32_t h = (x ^ coeff_b[i]) * coeff_a[i];                                        \
            h ^= h >> 15;                                                                      \
            h *= 0x2c1b3c6du;                                                                  \
            h ^= h >> 12;                                                                      \
            mins[i] = h < mins[i] ? h : mins[i];                                               \
        }                                                                                      \
    }

static void minhash_update_generic(uint32_t *restrict mins, const uint64_t *restrict xs,
                                   size_t n)
{
    MINHASH_BODY
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void
minhash_update_avx2(uint32_t *restrict mins, const uint64_t *restrict xs, size_t n)
{
    MINHASH_BODY
}

static void minhash_update(uint32_t *restrict mins, const uint64_t *restrict xs, size_t n)
{
    if (__builtin_cpu_supports("avx2"))
        minhash_update_avx2(mins, xs, n);
    else
        minhash_update_generic(mins, xs, n);
}
#else
#define minhash_update minhash_update_generic
#endif

static uint32_t scheme_of(const struct dedupe_params *p)
{
    return (uint32_t)DEDUPE_SCHEME_VERSION << 16 | (uint32_t)p->kind << 8 | p->k;
}

static bool params_valid(const struct dedupe_params *p)
{
    return p != NULL && (p->kind == DEDUPE_SHINGLE_CHAR || p->kind == DEDUPE_SHINGLE_WORD) &&
           p->k >= 1 && p->k <= DEDUPE_SHINGLE_K_MAX && p->bands >= 1 && p->rows >= 1 &&
           p->bands * p->rows <= DEDUPE_HASHES && p->threshold > 0.0 && p->threshold <= 1.0;
}

double dedupe_lsh_probability(double s, uint32_t bands, uint32_t rows)
{
    return 1.0 - pow(1.0 - pow(s, (double)rows), (double)bands);
}

/* Integral of the candidate probability over [lo, hi] (Simpson's rule, 200 intervals). */
static double integrate(double lo, double hi, uint32_t bands, uint32_t rows)
{
    const int n = 200;
    double h = (hi - lo) / n, sum = 0.0;

    for (int i = 0; i <= n; i++) {
        double w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
        sum += w * dedupe_lsh_probability(lo + i * h, bands, rows);
    }
    return sum * h / 3.0;
}

void dedupe_lsh_choose(double threshold, uint32_t hashes, uint32_t *bands_out,
                       uint32_t *rows_out)
{
    uint32_t best_b = hashes, best_r = 1;
    double best_fp = INFINITY;

    for (uint32_t r = 1; r <= hashes; r++) {
        uint32_t b = hashes / r;
        if (1.0 - dedupe_lsh_probability(threshold, b, r) > 0.01)
            continue;
        double fp = integrate(0.0, threshold, b, r);
        if (fp < best_fp) {
            best_fp = fp;
            best_b = b;
            best_r = r;
        }
    }
    *bands_out = best_b;
    *rows_out = best_r;
}

enum lode_code dedupe_params_init(struct dedupe_params *p, enum dedupe_shingle_kind kind,
                                  uint32_t k, double threshold, struct lode_error *err)
{
    if (kind != DEDUPE_SHINGLE_CHAR && kind != DEDUPE_SHINGLE_WORD)
        return lode_error_set(err, LODE_EINVAL, "unknown shingle kind %d", (int)kind);
    if (k < 1 || k > DEDUPE_SHINGLE_K_MAX)
        return lode_error_set(err, LODE_EINVAL, "shingle size %u is outside 1..%d", k,
                              DEDUPE_SHINGLE_K_MAX);
    if (!(threshold > 0.0 && threshold <= 1.0))
        return lode_error_set(err, LODE_EINVAL, "threshold must be in (0, 1]");
    p->kind = kind;
    p->k = k;
    p->threshold = threshold;
    dedupe_lsh_choose(threshold, DEDUPE_HASHES, &p->bands, &p->rows);
    return LODE_OK;
}

enum lode_code dedupe_params_parse_scheme(struct dedupe_params *p, const char *text,
                                          struct lode_error *err)
{
    enum dedupe_shingle_kind kind;
    const char *num;
    char *end;
    unsigned long k;

    if (strncmp(text, "char:", 5) == 0) {
        kind = DEDUPE_SHINGLE_CHAR;
        num = text + 5;
    } else if (strncmp(text, "word:", 5) == 0) {
        kind = DEDUPE_SHINGLE_WORD;
        num = text + 5;
    } else {
        return lode_error_set(err, LODE_EINVAL,
                              "shingle scheme \"%.40s\" is not char:K or word:K", text);
    }
    if (*num < '0' || *num > '9')
        return lode_error_set(err, LODE_EINVAL, "shingle size \"%.40s\" is not a number", num);
    k = strtoul(num, &end, 10);
    if (*end != '\0' || k < 1 || k > DEDUPE_SHINGLE_K_MAX)
        return lode_error_set(err, LODE_EINVAL, "shingle size \"%.40s\" is outside 1..%d", num,
                              DEDUPE_SHINGLE_K_MAX);
    p->kind = kind;
    p->k = (uint32_t)k;
    return LODE_OK;
}

static void *grow(void *ptr, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 64;

    if (need <= *cap)
        return ptr;
    while (n < need)
        n *= 2;
    ptr = realloc(ptr, n * elem);
    if (ptr == NULL)
        abort();
    *cap = n;
    return ptr;
}

/*
 * Start offsets of the shingle units (code points or words) of a normalised text, with a final
 * sentinel: for words, one past the end (as if a separator followed); for code points, the end.
 * Returns the number of units.
 */
static size_t unit_bounds(struct dedupe_workspace *ws, const struct dedupe_params *p,
                          const char *s, size_t len)
{
    size_t n = 0;

    ws->bounds = grow(ws->bounds, &ws->bounds_cap, len + 2, sizeof *ws->bounds);
    if (p->kind == DEDUPE_SHINGLE_CHAR) {
        for (size_t i = 0; i < len; i++)
            if (((unsigned char)s[i] & 0xc0) != 0x80)
                ws->bounds[n++] = i;
        ws->bounds[n] = len;
    } else {
        if (len > 0)
            ws->bounds[n++] = 0;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ' ')
                ws->bounds[n++] = i + 1;
        ws->bounds[n] = len + 1;
    }
    return n;
}

/* Hashes every shingle into ws->set_a (with repeats); returns the count. */
static size_t shingle_hashes(struct dedupe_workspace *ws, const struct dedupe_params *p,
                             const char *s, size_t len)
{
    size_t units = unit_bounds(ws, p, s, len), count, k = p->k;
    size_t trim = p->kind == DEDUPE_SHINGLE_WORD ? 1 : 0; /* the separator after a word */
    uint64_t seed = SHINGLE_SEED ^ ((uint64_t)scheme_of(p) << 32);

    if (units == 0)
        return 0;
    if (units < k) { /* shorter than one shingle: the whole text is its only shingle */
        ws->set_a = grow(ws->set_a, &ws->set_a_cap, 1, sizeof *ws->set_a);
        ws->set_a[0] = hash_bytes(s, len, seed);
        return 1;
    }
    count = units - k + 1;
    ws->set_a = grow(ws->set_a, &ws->set_a_cap, count, sizeof *ws->set_a);
    for (size_t i = 0; i < count; i++) {
        size_t start = ws->bounds[i], end = ws->bounds[i + k] - trim;
        ws->set_a[i] = hash_bytes(s + start, end - start, seed);
    }
    return count;
}

enum lode_code dedupe_signature_compute(struct dedupe_workspace *ws,
                                        const struct dedupe_params *p, const char *norm,
                                        size_t norm_len, struct dedupe_signature *sig_out,
                                        struct lode_error *err)
{
    uint32_t mins[DEDUPE_HASHES];
    size_t count;

    if (!params_valid(p))
        return lode_error_set(err, LODE_EINVAL, "invalid dedupe parameters");
    pthread_once(&coeff_once, coeff_init);
    count = shingle_hashes(ws, p, norm, norm_len);
    for (int i = 0; i < DEDUPE_HASHES; i++)
        mins[i] = UINT32_MAX;
    minhash_update(mins, ws->set_a, count);
    sig_out->scheme = scheme_of(p);
    sig_out->shingles = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    memcpy(sig_out->mins, mins, sizeof mins);
    return LODE_OK;
}

size_t dedupe_signature_bands(const struct dedupe_params *p, const struct dedupe_signature *sig,
                              uint64_t keys_out[DEDUPE_HASHES])
{
    if (!params_valid(p) || sig->shingles == 0)
        return 0;
    for (uint32_t b = 0; b < p->bands; b++) {
        uint64_t h = fmix64(BAND_SEED ^ ((uint64_t)sig->scheme << 32) ^
                            ((uint64_t)p->rows << 16) ^ b);
        for (uint32_t r = 0; r < p->rows; r++)
            h = fmix64(h ^ (sig->mins[b * p->rows + r] * 0x9e3779b97f4a7c15ull));
        keys_out[b] = h;
    }
    return p->bands;
}

double dedupe_signature_similarity(const struct dedupe_signature *a,
                                   const struct dedupe_signature *b)
{
    int same = 0;

    if (a->scheme != b->scheme || a->scheme == 0 || a->shingles == 0 || b->shingles == 0)
        return 0.0;
    for (int i = 0; i < DEDUPE_HASHES; i++)
        same += a->mins[i] == b->mins[i];
    return (double)same / DEDUPE_HASHES;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static size_t sort_unique(uint64_t *v, size_t n)
{
    size_t w = 0;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[w])
            v[++w] = v[i];
    return w + 1;
}

enum lode_code dedupe_shingle_set(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                  const char *norm, size_t norm_len, const uint64_t **set_out,
                                  size_t *count_out, struct lode_error *err)
{
    if (!params_valid(p))
        return lode_error_set(err, LODE_EINVAL, "invalid dedupe parameters");
    *count_out = sort_unique(ws->set_a, shingle_hashes(ws, p, norm, norm_len));
    *set_out = ws->set_a;
    return LODE_OK;
}

enum lode_code dedupe_text_jaccard(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                   const char *norm_a, size_t len_a, const char *norm_b,
                                   size_t len_b, double *jaccard_out, struct lode_error *err)
{
    const uint64_t *set = NULL;
    size_t na = 0, nb = 0, i = 0, j = 0, both = 0;
    enum lode_code rc;

    rc = dedupe_shingle_set(ws, p, norm_a, len_a, &set, &na, err);
    if (rc != LODE_OK)
        return rc;
    /* keep A's set in set_b while B's is computed into set_a */
    ws->set_b = grow(ws->set_b, &ws->set_b_cap, na + 1, sizeof *ws->set_b);
    if (na > 0 && set != NULL)
        memcpy(ws->set_b, set, na * sizeof *set);
    rc = dedupe_shingle_set(ws, p, norm_b, len_b, &set, &nb, err);
    if (rc != LODE_OK)
        return rc;
    if (na == 0 && nb == 0) {
        *jaccard_out = 1.0;
        return LODE_OK;
    }
    while (i < na && j < nb) {
        if (ws->set_b[i] == set[j]) {
            both++;
            i++;
            j++;
        } else if (ws->set_b[i] < set[j]) {
            i++;
        } else {
            j++;
        }
    }
    *jaccard_out = (double)both / (double)(na + nb - both);
    return LODE_OK;
}

enum lode_code dedupe_candidate_verify(struct dedupe_workspace *ws,
                                       const struct dedupe_params *p,
                                       const struct dedupe_signature *a,
                                       const struct dedupe_signature *b, const char *norm_a,
                                       size_t len_a, const char *norm_b, size_t len_b,
                                       struct dedupe_match *match_out, struct lode_error *err)
{
    struct dedupe_match m = {DEDUPE_DISTINCT, 0.0, 0.0, false};
    bool texts = norm_a != NULL && norm_b != NULL;

    if (!params_valid(p))
        return lode_error_set(err, LODE_EINVAL, "invalid dedupe parameters");
    m.estimate = dedupe_signature_similarity(a, b);
    m.similarity = m.estimate;
    if (texts && len_a == len_b && memcmp(norm_a, norm_b, len_a) == 0) {
        m.verdict = DEDUPE_EXACT;
        m.similarity = 1.0;
        m.exact = true;
    } else if (texts && m.estimate >= p->threshold - DEDUPE_VERIFY_MARGIN) {
        enum lode_code rc =
            dedupe_text_jaccard(ws, p, norm_a, len_a, norm_b, len_b, &m.similarity, err);
        if (rc != LODE_OK)
            return rc;
        m.exact = true;
        if (m.similarity >= p->threshold)
            m.verdict = DEDUPE_NEAR;
    } else if (!texts && m.estimate >= p->threshold) {
        m.verdict = DEDUPE_NEAR;
    }
    *match_out = m;
    return LODE_OK;
}
