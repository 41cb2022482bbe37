/*
 * tests/unit/dedupe/test_dedupe.c — normalisation (many scripts), shingles, MinHash estimates
 * against exact Jaccard, LSH recall at the documented threshold, band index, JSONL input,
 * determinism.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/limits.h"
#include "dedupe/dedupe.h"
#include "dedupe/internal.h"
#include "test_main.h"

static struct dedupe_workspace ws;

/* Normalises s and compares with want; want NULL means "must fail with code". */
static void check_norm(const char *s, const char *want)
{
    const char *out = NULL;
    size_t n = 0;
    struct lode_error err = {0};
    enum lode_code rc = dedupe_text_normalise(&ws, s, strlen(s), &out, &n, &err);

    CU_ASSERT_EQUAL_FATAL(rc, LODE_OK);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT_STRING_EQUAL(out, want);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "normalise(\"%s\") = \"%s\", want \"%s\"\n", s, out, want);
}

static uint64_t rng_state = 42;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_normalise_ascii_table(void)
{
    /* every ASCII character between two letters, against utf8proc's own categories */
    for (int c = 1; c < 128; c++) {
        char in[4] = {'a', (char)c, 'b', 0}, want[4];
        int cat = utf8proc_category(c);
        bool sep = (c >= 9 && c <= 13) || (cat >= UTF8PROC_CATEGORY_PC &&
                                           cat <= UTF8PROC_CATEGORY_PO) ||
                   (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP);
        bool drop = !sep && (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF);
        if (sep)
            strcpy(want, "a b");
        else if (drop)
            strcpy(want, "ab");
        else
            snprintf(want, sizeof want, "a%cb", c >= 'A' && c <= 'Z' ? c + 32 : c);
        check_norm(in, want);
    }
}

static void test_normalise_ascii_matches_unicode_path(void)
{
    /* A trailing non-ASCII word forces the utf8proc path; the prefix must be unchanged. */
    for (int t = 0; t < 300; t++) {
        char in[80], forced[96];
        const char *fast, *slow;
        size_t nf, ns, len = rng() % 60;
        char *copy;
        struct lode_error err = {0};

        for (size_t i = 0; i < len; i++)
            in[i] = (char)(1 + rng() % 127);
        in[len] = '\0';
        snprintf(forced, sizeof forced, "%s \xc3\xa9", in);
        CU_ASSERT_EQUAL_FATAL(dedupe_text_normalise(&ws, in, len, &fast, &nf, &err), LODE_OK);
        copy = strndup(fast, nf);
        CU_ASSERT_EQUAL_FATAL(
            dedupe_text_normalise(&ws, forced, strlen(forced), &slow, &ns, &err), LODE_OK);
        CU_ASSERT_EQUAL(ns, nf + (nf ? 3 : 2));
        CU_ASSERT_EQUAL(memcmp(slow, copy, nf), 0);
        free(copy);
    }
}

static void test_normalise_mixed_matches_reference(void)
{
    /* ASCII pieces next to combining marks, controls, compatibility and ignorable characters */
    static const char *pieces[] = {
        "e", "E", "a", "<", ".", " ", "\t", "\x01", "\x7f", "x", "Z", "-", "'",
        "\xcc\x81", "\xcc\xb8", "\xcc\xa3\xcc\x87", "\xc3\xa9", "\xef\xbc\xa1",
        "\xef\xac\x81", "\xe2\x80\x8b", "\xc2\xad", "\xc2\xa0", "\xe3\x80\x82",
        "\xe1\x84\x92", "\xe1\x85\xa1", "\xe1\x86\xab", "\xef\xb7\xba", "\xe2\x81\x89",
        "\xd0\x9f", "\xce\xa3", "\xd9\x8e", "\xe2\x84\xab", "\xc3\x9f",
    };
    const size_t npieces = sizeof pieces / sizeof pieces[0];
    struct lode_error err = {0};

    for (int t = 0; t < 3000; t++) {
        char in[256];
        size_t len = 0, count = 1 + rng() % 12, nf, nr;
        const char *fast, *ref;
        char *copy;
        for (size_t i = 0; i < count; i++) {
            const char *p = pieces[rng() % npieces];
            memcpy(in + len, p, strlen(p));
            len += strlen(p);
        }
        in[len] = '\0';
        CU_ASSERT_EQUAL_FATAL(dedupe_text_normalise(&ws, in, len, &fast, &nf, &err), LODE_OK);
        copy = strndup(fast, nf);
        CU_ASSERT_EQUAL_FATAL(dedupe_text_normalise_reference(&ws, in, len, &ref, &nr, &err),
                              LODE_OK);
        CU_ASSERT_EQUAL(nf, nr);
        CU_ASSERT_STRING_EQUAL(copy, ref);
        if (strcmp(copy, ref) != 0) {
            fprintf(stderr, "mixed: input");
            for (size_t i = 0; i < len; i++)
                fprintf(stderr, " %02x", (unsigned char)in[i]);
            fprintf(stderr, ": fast \"%s\", reference \"%s\"\n", copy, ref);
        }
        free(copy);
    }
}

static void test_normalise_latin(void)
{
    check_norm("  Hello,   WORLD!\t\n", "hello world");
    check_norm("end.Next", "end next");
    check_norm("don't stop-believing", "don t stop believing");
    check_norm("Price: $5 + 3 = 8", "price $5 + 3 = 8");
    check_norm("Stra\xc3\x9f" "e", "strasse");                  /* full case folding of sharp s */
    check_norm("e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9");        /* e + combining acute -> é */
    check_norm("\xe2\x84\xab", "\xc3\xa5");                       /* ANGSTROM SIGN -> å */
    check_norm("\xef\xac\x81ne \xef\xac\x82ow", "fine flow");      /* fi, fl ligatures */
    check_norm("x\xc2\xb2", "x2");                               /* superscript two */
    check_norm("\xf0\x9d\x90\x87\xf0\x9d\x90\x9e\xf0\x9d\x90\xa5\xf0\x9d\x90\xa5\xf0\x9d\x90\xa8",
               "hello");                                          /* mathematical bold */
    check_norm("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\xef\xbc\x91\xef\xbc\x92", "abc12"); /* full width */
    check_norm("a\xc2\xa0" "b\xe3\x80\x80" "c", "a b c");         /* NBSP, ideographic space */
    check_norm("a\xe2\x80\x8b" "b", "ab");                        /* zero-width space */
    check_norm("co\xc2\xad" "op", "coop");                        /* soft hyphen */
    check_norm("\xef\xbb\xbfstart", "start");                     /* byte order mark */
    check_norm("a\x01\x7f" "b", "ab");                            /* controls */
    check_norm("\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x80\x94 dash", "quoted dash");
    check_norm("", "");
    check_norm(" .,;!? ", "");
}

static void test_normalise_scripts(void)
{
    check_norm("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2, \xd0\x9c\xd0\xb8\xd1\x80!",
               "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80");
    /* Greek: capital and final sigma fold to small sigma; tonos is kept (composed) */
    check_norm("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 \xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1\xcf\x82",
               "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1 \xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1\xcf\x83");
    /* CJK: ideographic comma and full stop separate; ideographs are kept */
    check_norm("\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe3\x80\x81\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82",
               "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd \xe6\x97\xa5\xe6\x9c\xac");
    /* half-width katakana -> full width */
    check_norm("\xef\xbd\xb6\xef\xbe\x80\xef\xbd\xb6\xef\xbe\x85", "\xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab\xe3\x83\x8a");
    /* Arabic: Arabic comma is punctuation; letters kept; presentation form lam-alef -> lam alef */
    check_norm("\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7\xd8\x8c \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85",
               "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85");
    check_norm("\xef\xbb\xbb", "\xd9\x84\xd8\xa7");
    /* Hangul jamo compose to a syllable */
    check_norm("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c");
    /* Devanagari with a combining vowel sign is kept intact */
    check_norm("\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80", "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80");
}

static void test_normalise_invalid(void)
{
    const char *bad[] = {"\xff", "ab\xc0\xaf", "\xed\xa0\x80", "x\xe2\x82", "\xf4\x90\x80\x80",
                         "\xc3\xa9\x80", NULL};
    struct lode_error err = {0};
    const char *out;
    size_t n;
    char *big;

    for (int i = 0; bad[i] != NULL; i++) {
        CU_ASSERT_EQUAL(dedupe_text_normalise(&ws, bad[i], strlen(bad[i]), &out, &n, &err),
                        LODE_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not valid UTF-8"));
    }
    CU_ASSERT_EQUAL(dedupe_text_normalise(&ws, "ab\xc0\xaf", 4, &out, &n, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "byte 2"));
    big = malloc(LODE_DEDUPE_TEXT_BYTES_MAX + 1);
    memset(big, 'a', LODE_DEDUPE_TEXT_BYTES_MAX + 1);
    CU_ASSERT_EQUAL(dedupe_text_normalise(&ws, big, LODE_DEDUPE_TEXT_BYTES_MAX + 1, &out, &n, &err),
                    LODE_ETOOBIG);
    CU_ASSERT_EQUAL(dedupe_text_normalise(&ws, big, LODE_DEDUPE_TEXT_BYTES_MAX, &out, &n, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(n, LODE_DEDUPE_TEXT_BYTES_MAX);
    free(big);
}

static struct dedupe_params params(enum dedupe_shingle_kind kind, uint32_t k, double t)
{
    struct dedupe_params p;
    struct lode_error err = {0};
    CU_ASSERT_EQUAL_FATAL(dedupe_params_init(&p, kind, k, t, &err), LODE_OK);
    return p;
}

static size_t set_size(const struct dedupe_params *p, const char *s)
{
    const uint64_t *set;
    size_t n = 0;
    struct lode_error err = {0};
    CU_ASSERT_EQUAL_FATAL(dedupe_shingle_set(&ws, p, s, strlen(s), &set, &n, &err), LODE_OK);
    for (size_t i = 1; i < n; i++)
        CU_ASSERT(set[i - 1] < set[i]);
    return n;
}

static double jaccard(const struct dedupe_params *p, const char *a, const char *b)
{
    double j = -1;
    struct lode_error err = {0};
    CU_ASSERT_EQUAL_FATAL(dedupe_text_jaccard(&ws, p, a, strlen(a), b, strlen(b), &j, &err),
                          LODE_OK);
    return j;
}

static void test_shingles(void)
{
    struct dedupe_params c5 = params(DEDUPE_SHINGLE_CHAR, 5, 0.8);
    struct dedupe_params w3 = params(DEDUPE_SHINGLE_WORD, 3, 0.8);
    struct dedupe_params w1 = params(DEDUPE_SHINGLE_WORD, 1, 0.8);

    CU_ASSERT_EQUAL(set_size(&c5, ""), 0);
    CU_ASSERT_EQUAL(set_size(&c5, "abc"), 1);        /* shorter than k: one shingle */
    CU_ASSERT_EQUAL(set_size(&c5, "abcdef"), 2);
    CU_ASSERT_EQUAL(set_size(&c5, "aaaaaaaaa"), 1);  /* repeats count once */
    /* code points, not bytes: 6 Cyrillic letters (12 bytes) give 2 shingles */
    CU_ASSERT_EQUAL(set_size(&c5, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), 2);
    CU_ASSERT_EQUAL(set_size(&w3, "a b"), 1);
    CU_ASSERT_EQUAL(set_size(&w3, "a b c d"), 2);
    CU_ASSERT_EQUAL(set_size(&w1, "to be or not to be"), 4);
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&c5, "abcdef", "abcdeg"), 1.0 / 3.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&w1, "a b c d", "c d e f"), 2.0 / 6.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&w3, "a b c d", "a b c d"), 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&w3, "", ""), 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&w3, "a b c", ""), 0.0, 1e-12);
    /* word shingles do not straddle: "ab c" and "a bc" share no word 1-gram */
    CU_ASSERT_DOUBLE_EQUAL(jaccard(&w1, "ab c", "a bc"), 0.0, 1e-12);
}

static void test_params(void)
{
    struct dedupe_params p;
    struct lode_error err = {0};
    uint32_t b, r;

    dedupe_lsh_choose(0.8, DEDUPE_HASHES, &b, &r);
    CU_ASSERT_EQUAL(b, 21);
    CU_ASSERT_EQUAL(r, 6);
    dedupe_lsh_choose(0.75, DEDUPE_HASHES, &b, &r);
    CU_ASSERT_EQUAL(b, 25);
    CU_ASSERT_EQUAL(r, 5);
    for (double t = 0.3; t < 0.96; t += 0.05) {
        dedupe_lsh_choose(t, DEDUPE_HASHES, &b, &r);
        CU_ASSERT(b * r <= DEDUPE_HASHES);
        CU_ASSERT(1.0 - dedupe_lsh_probability(t, b, r) <= 0.01);
    }
    CU_ASSERT_DOUBLE_EQUAL(dedupe_lsh_probability(1.0, 21, 6), 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(dedupe_lsh_probability(0.0, 21, 6), 0.0, 1e-12);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "char:5", &err), LODE_OK);
    CU_ASSERT_EQUAL(p.kind, DEDUPE_SHINGLE_CHAR);
    CU_ASSERT_EQUAL(p.k, 5);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "word:3", &err), LODE_OK);
    CU_ASSERT_EQUAL(p.kind, DEDUPE_SHINGLE_WORD);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "word:0", &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "word:33", &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "char:", &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "char:5x", &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_parse_scheme(&p, "byte:5", &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_init(&p, DEDUPE_SHINGLE_CHAR, 5, 0.0, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_init(&p, DEDUPE_SHINGLE_CHAR, 5, 1.5, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_init(&p, DEDUPE_SHINGLE_CHAR, 5, NAN, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dedupe_params_init(&p, DEDUPE_SHINGLE_CHAR, 5, 1.0, &err), LODE_OK);
}

/*
 * A pair of word:1 texts with a known exact Jaccard: A has n distinct tokens, B keeps `shared`
 * of them and adds n - shared fresh ones, so J = shared / (2n - shared).
 */
static char *token_text(uint64_t base, size_t from, size_t to, uint64_t base2, size_t from2,
                        size_t to2)
{
    size_t cap = (to - from + to2 - from2) * 24 + 1, len = 0;
    char *s = malloc(cap);
    for (size_t i = from; i < to; i++)
        len += (size_t)snprintf(s + len, cap - len, "%st%llx", len ? " " : "",
                                (unsigned long long)(base + i));
    for (size_t i = from2; i < to2; i++)
        len += (size_t)snprintf(s + len, cap - len, "%st%llx", len ? " " : "",
                                (unsigned long long)(base2 + i));
    s[len] = '\0';
    return s;
}

static void pair_signatures(const struct dedupe_params *p, size_t n, size_t shared,
                            struct dedupe_signature *a, struct dedupe_signature *b, double *j)
{
    uint64_t base = rng() & 0xffffffffffffull, fresh = rng() & 0xffffffffffffull;
    char *ta = token_text(base, 0, n, 0, 0, 0);
    char *tb = token_text(base, 0, shared, fresh, 0, n - shared);
    struct lode_error err = {0};

    CU_ASSERT_EQUAL_FATAL(dedupe_signature_compute(&ws, p, ta, strlen(ta), a, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(dedupe_signature_compute(&ws, p, tb, strlen(tb), b, &err), LODE_OK);
    *j = jaccard(p, ta, tb);
    CU_ASSERT_DOUBLE_EQUAL(*j, (double)shared / (double)(2 * n - shared), 1e-12);
    free(ta);
    free(tb);
}

static void test_minhash_estimate(void)
{
    struct dedupe_params p = params(DEDUPE_SHINGLE_WORD, 1, 0.8);
    const size_t n = 200;
    const double js[] = {0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95};

    for (size_t t = 0; t < sizeof js / sizeof js[0]; t++) {
        size_t shared = (size_t)lround(2.0 * n * js[t] / (1.0 + js[t]));
        double sq = 0.0, sum = 0.0, var = 0.0, worst = 0.0;
        const int pairs = 150;
        for (int k = 0; k < pairs; k++) {
            struct dedupe_signature a, b;
            double j, e, sigma;
            pair_signatures(&p, n, shared, &a, &b, &j);
            e = dedupe_signature_similarity(&a, &b);
            sigma = sqrt(j * (1.0 - j) / DEDUPE_HASHES);
            sq += (e - j) * (e - j);
            sum += e - j;
            var += sigma * sigma;
            if (fabs(e - j) / sigma > worst)
                worst = fabs(e - j) / sigma;
        }
        /* Each estimate is Binomial(128, J)/128: no bias beyond sampling, spread as predicted,
         * no single error beyond 4.5 sigma (p < 1e-5 per pair). */
        CU_ASSERT(fabs(sum / pairs) < 4.0 * sqrt(var / pairs) / sqrt((double)pairs));
        CU_ASSERT(sq / var > 0.6 && sq / var < 1.5);
        CU_ASSERT(worst < 4.5);
        if (!(sq / var > 0.6 && sq / var < 1.5) || worst >= 4.5)
            fprintf(stderr, "J=%.2f mse/var=%.3f worst=%.2f sigma\n", js[t], sq / var, worst);
    }
}

static void test_lsh_recall(void)
{
    /* at the documented default threshold, on pairs of known Jaccard */
    struct dedupe_params p = params(DEDUPE_SHINGLE_WORD, 1, DEDUPE_THRESHOLD_DEFAULT);
    const size_t n = 200;
    const size_t at = (size_t)ceil(2.0 * n * DEDUPE_THRESHOLD_DEFAULT /
                                   (1.0 + DEDUPE_THRESHOLD_DEFAULT));
    const size_t low = 133; /* J = 133 / 267 = 0.498 */
    const double j_at = (double)at / (double)(2 * n - at), j_low = 133.0 / 267.0;
    const int pairs = 400;
    int hits_at = 0, hits_low = 0;

    CU_ASSERT(j_at >= DEDUPE_THRESHOLD_DEFAULT && j_at < DEDUPE_THRESHOLD_DEFAULT + 0.01);
    for (int k = 0; k < 2 * pairs; k++) {
        struct dedupe_signature a, b;
        uint64_t ka[DEDUPE_HASHES], kb[DEDUPE_HASHES];
        bool shared = false;
        double j;
        pair_signatures(&p, n, k < pairs ? at : low, &a, &b, &j);
        CU_ASSERT_EQUAL(dedupe_signature_bands(&p, &a, ka), p.bands);
        CU_ASSERT_EQUAL(dedupe_signature_bands(&p, &b, kb), p.bands);
        for (uint32_t i = 0; i < p.bands; i++)
            shared |= ka[i] == kb[i];
        if (k < pairs)
            hits_at += shared;
        else
            hits_low += shared;
    }
    double p_at = dedupe_lsh_probability(j_at, p.bands, p.rows);
    double p_low = dedupe_lsh_probability(j_low, p.bands, p.rows);
    fprintf(stderr, "LSH %ux%u: candidates %d/%d at J=%.3f (theory %.4f), %d/%d at J=%.3f (%.3f)\n",
            p.bands, p.rows, hits_at, pairs, j_at, p_at, hits_low, pairs, j_low, p_low);
    /* the documented false-negative bound at the threshold is 1%; allow sampling slack */
    CU_ASSERT((double)hits_at / pairs >= 0.98);
    CU_ASSERT(fabs((double)hits_low / pairs - p_low) < 4.0 * sqrt(p_low * (1 - p_low) / pairs));
}

static void test_determinism_and_schemes(void)
{
    struct dedupe_params c5 = params(DEDUPE_SHINGLE_CHAR, 5, 0.8);
    struct dedupe_params w3 = params(DEDUPE_SHINGLE_WORD, 3, 0.8);
    const char *text = "the quick brown fox jumps over the lazy dog";
    struct dedupe_signature s1, s2, s3, empty;
    uint64_t k1[DEDUPE_HASHES], k2[DEDUPE_HASHES];
    struct dedupe_keys keys;
    struct lode_error err = {0};
    const char *norm;
    size_t nlen;

    CU_ASSERT_EQUAL(dedupe_signature_compute(&ws, &c5, text, strlen(text), &s1, &err), LODE_OK);
    CU_ASSERT_EQUAL(dedupe_text_analyse(&ws, &c5, "The QUICK brown fox; jumps over the lazy dog!",
                                        45, &keys, &s2, &norm, &nlen, &err),
                    LODE_OK);
    CU_ASSERT_STRING_EQUAL(norm, text);
    CU_ASSERT_EQUAL(memcmp(&s1, &s2, sizeof s1), 0);
    CU_ASSERT_DOUBLE_EQUAL(dedupe_signature_similarity(&s1, &s2), 1.0, 1e-12);
    CU_ASSERT_EQUAL(dedupe_signature_bands(&c5, &s1, k1), 21);
    CU_ASSERT_EQUAL(dedupe_signature_bands(&c5, &s2, k2), 21);
    CU_ASSERT_EQUAL(memcmp(k1, k2, 21 * sizeof k1[0]), 0);
    /* Pinned values: band keys are persisted, so they must never change silently. */
    CU_ASSERT_EQUAL(s1.shingles, 39);
    CU_ASSERT_EQUAL(s1.mins[0], 47280794u);
    CU_ASSERT_EQUAL(s1.mins[127], 35233134u);
    CU_ASSERT_EQUAL(k1[0], 0x6e118728efc590cfull);
    /* exact keys: SHA-256("abc") */
    CU_ASSERT_EQUAL(dedupe_text_analyse(&ws, &c5, "abc", 3, &keys, &s2, NULL, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL(keys.bytes_sha256[0], 0xba);
    CU_ASSERT_EQUAL(keys.bytes_sha256[31], 0xad);
    CU_ASSERT_EQUAL(memcmp(keys.bytes_sha256, keys.text_sha256, 32), 0);
    /* a different scheme never looks similar */
    CU_ASSERT_EQUAL(dedupe_signature_compute(&ws, &w3, text, strlen(text), &s3, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(dedupe_signature_similarity(&s1, &s3), 0.0, 1e-12);
    /* empty text: no bands, similarity 0 */
    CU_ASSERT_EQUAL(dedupe_signature_compute(&ws, &c5, "", 0, &empty, &err), LODE_OK);
    CU_ASSERT_EQUAL(empty.shingles, 0);
    CU_ASSERT_EQUAL(dedupe_signature_bands(&c5, &empty, k1), 0);
    CU_ASSERT_DOUBLE_EQUAL(dedupe_signature_similarity(&empty, &empty), 0.0, 1e-12);
}

static void test_verify(void)
{
    struct dedupe_params c5 = params(DEDUPE_SHINGLE_CHAR, 5, 0.8);
    const char *a = "a fairly long sentence about the weather in the mountains of norway today";
    const char *b = "a fairly long sentence about the weather in the mountains of norway tonight";
    const char *c = "completely unrelated words regarding quantum chromodynamics and gluons";
    struct dedupe_signature sa, sb, sc;
    struct dedupe_match m;
    struct lode_error err = {0};
    double j = jaccard(&c5, a, b);

    CU_ASSERT(j >= 0.8);
    dedupe_signature_compute(&ws, &c5, a, strlen(a), &sa, &err);
    dedupe_signature_compute(&ws, &c5, b, strlen(b), &sb, &err);
    dedupe_signature_compute(&ws, &c5, c, strlen(c), &sc, &err);
    CU_ASSERT_EQUAL(dedupe_candidate_verify(&ws, &c5, &sa, &sa, a, strlen(a), a, strlen(a), &m,
                                            &err), LODE_OK);
    CU_ASSERT_EQUAL(m.verdict, DEDUPE_EXACT);
    CU_ASSERT_EQUAL(dedupe_candidate_verify(&ws, &c5, &sa, &sb, a, strlen(a), b, strlen(b), &m,
                                            &err), LODE_OK);
    CU_ASSERT_EQUAL(m.verdict, DEDUPE_NEAR);
    CU_ASSERT(m.exact);
    CU_ASSERT_DOUBLE_EQUAL(m.similarity, j, 1e-12);
    CU_ASSERT_EQUAL(dedupe_candidate_verify(&ws, &c5, &sa, &sc, a, strlen(a), c, strlen(c), &m,
                                            &err), LODE_OK);
    CU_ASSERT_EQUAL(m.verdict, DEDUPE_DISTINCT);
    CU_ASSERT(!m.exact); /* the estimate alone rules it out */
    CU_ASSERT_EQUAL(dedupe_candidate_verify(&ws, &c5, &sa, &sb, NULL, 0, NULL, 0, &m, &err),
                    LODE_OK);
    CU_ASSERT(!m.exact);
    CU_ASSERT_EQUAL(m.verdict, m.estimate >= 0.8 ? DEDUPE_NEAR : DEDUPE_DISTINCT);
}

static void test_index(void)
{
    struct dedupe_index *idx = dedupe_index_create(0);
    struct lode_error err = {0};
    const uint32_t *ids;
    size_t n;
    uint64_t keys[3] = {11, 22, 33}, probe[2] = {22, 99};

    CU_ASSERT_EQUAL(dedupe_index_insert(idx, 7, keys, 3, &err), LODE_OK);
    CU_ASSERT_EQUAL(dedupe_index_insert(idx, 3, keys + 1, 1, &err), LODE_OK);
    CU_ASSERT_EQUAL(dedupe_index_insert(idx, UINT32_MAX, keys, 1, &err), LODE_EINVAL);
    dedupe_index_candidates(idx, probe, 2, &ids, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(ids[0], 3);
    CU_ASSERT_EQUAL(ids[1], 7);
    dedupe_index_candidates(idx, keys, 3, &ids, &n); /* 7 found under three keys: once */
    CU_ASSERT_EQUAL(n, 2);
    /* growth keeps every entry */
    for (uint32_t i = 100; i < 60100; i++) {
        uint64_t k = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        CU_ASSERT_EQUAL_FATAL(dedupe_index_insert(idx, i, &k, 1, &err), LODE_OK);
    }
    CU_ASSERT_EQUAL(dedupe_index_entries(idx), 60004);
    for (uint32_t i = 100; i < 60100; i += 997) {
        uint64_t k = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        dedupe_index_candidates(idx, &k, 1, &ids, &n);
        CU_ASSERT_EQUAL(n, 1);
        CU_ASSERT_EQUAL(ids[0], i);
    }
    /* a boilerplate key keeps its first DEDUPE_BUCKET_MAX items */
    for (uint32_t i = 0; i < DEDUPE_BUCKET_MAX + 50; i++) {
        uint64_t k = 424242;
        dedupe_index_insert(idx, 100000 + i, &k, 1, &err);
    }
    uint64_t hot = 424242;
    dedupe_index_candidates(idx, &hot, 1, &ids, &n);
    CU_ASSERT_EQUAL(n, DEDUPE_BUCKET_MAX);
    CU_ASSERT_EQUAL(ids[0], 100000);
    CU_ASSERT_EQUAL(ids[n - 1], 100000 + DEDUPE_BUCKET_MAX - 1);
    CU_ASSERT(dedupe_index_bytes(idx) > 60000 * 12);
    dedupe_index_destroy(idx);
}

struct mem_input {
    const char *data;
    size_t len, pos, chunk;
    bool fail_at_end;
};

static long mem_read(void *ctx, char *buf, size_t cap)
{
    struct mem_input *m = ctx;
    size_t n = m->len - m->pos;
    if (n == 0)
        return m->fail_at_end ? -1 : 0;
    if (n > cap)
        n = cap;
    if (n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

static void test_line_reader(void)
{
    const char *input = "one\r\ntwo\n\nthis line is far too long\nfour\nlast";
    const char *want[] = {"one", "two", "", NULL, "four", "last"};

    for (size_t chunk = 1; chunk <= 50; chunk += 7) {
        struct mem_input m = {input, strlen(input), 0, chunk, false};
        struct dedupe_line_reader r;
        struct lode_error err = {0};
        const char *line;
        size_t len;

        dedupe_line_reader_init(&r, mem_read, &m, 10);
        for (int i = 0; i < 6; i++) {
            enum lode_code rc = dedupe_line_next(&r, &line, &len, &err);
            if (want[i] == NULL) {
                CU_ASSERT_EQUAL(rc, LODE_ETOOBIG);
                CU_ASSERT_PTR_NULL(line);
            } else {
                CU_ASSERT_EQUAL_FATAL(rc, LODE_OK);
                CU_ASSERT_PTR_NOT_NULL_FATAL(line);
                CU_ASSERT_STRING_EQUAL(line, want[i]);
                CU_ASSERT_EQUAL(len, strlen(want[i]));
            }
            CU_ASSERT_EQUAL(r.line_no, (uint64_t)i + 1);
        }
        CU_ASSERT_EQUAL(dedupe_line_next(&r, &line, &len, &err), LODE_OK);
        CU_ASSERT_PTR_NULL(line);
        dedupe_line_reader_fini(&r);
    }
    /* a read error is reported, not taken for the end */
    struct mem_input m = {"a\nb", 3, 0, 64, true};
    struct dedupe_line_reader r;
    struct lode_error err = {0};
    const char *line;
    size_t len;
    dedupe_line_reader_init(&r, mem_read, &m, 0);
    CU_ASSERT_EQUAL(dedupe_line_next(&r, &line, &len, &err), LODE_OK);
    CU_ASSERT_EQUAL(dedupe_line_next(&r, &line, &len, &err), LODE_EIO);
    dedupe_line_reader_fini(&r);
}

static void test_record_text(void)
{
    const char *good = "{\"id\": 1, \"text\": \"caf\\u00e9\"}";
    const char *bad[] = {"", "not json", "[1,2]", "{\"body\": \"x\"}", "{\"text\": 5}",
                         "{\"text\": \"a\xff\"}", "{\"text\": \"\\ud800\"}",
                         "{\"text\": \"a\\u0000b\"}", "{\"text\": \"x\"} {}", NULL};
    json_t *doc;
    const char *text;
    size_t len;
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(dedupe_record_text(good, strlen(good), "text", &doc, &text, &len, &err),
                    LODE_OK);
    CU_ASSERT_STRING_EQUAL(text, "caf\xc3\xa9");
    CU_ASSERT_EQUAL(len, 5);
    json_decref(doc);
    for (int i = 0; bad[i] != NULL; i++) {
        doc = NULL;
        CU_ASSERT_EQUAL(dedupe_record_text(bad[i], strlen(bad[i]), "text", &doc, &text, &len,
                                           &err), LODE_EINVAL);
        CU_ASSERT_PTR_NULL(doc);
        CU_ASSERT(err.message[0] != '\0');
    }
}

static const struct test_case normalise_cases[] = {
    {"ascii table", test_normalise_ascii_table},
    {"ascii fast path = unicode path", test_normalise_ascii_matches_unicode_path},
    {"mixed text = reference path", test_normalise_mixed_matches_reference},
    {"latin, compatibility forms, invisibles", test_normalise_latin},
    {"cyrillic, greek, cjk, arabic, hangul, devanagari", test_normalise_scripts},
    {"invalid utf-8 and size limit", test_normalise_invalid},
    {NULL, NULL},
};
static const struct test_case minhash_cases[] = {
    {"shingles and exact jaccard", test_shingles},
    {"parameters and lsh choice", test_params},
    {"minhash estimate vs exact jaccard", test_minhash_estimate},
    {"lsh recall at threshold", test_lsh_recall},
    {"determinism and schemes", test_determinism_and_schemes},
    {"candidate verification", test_verify},
    {NULL, NULL},
};
static const struct test_case io_cases[] = {
    {"band index", test_index},
    {"line reader", test_line_reader},
    {"record text", test_record_text},
    {NULL, NULL},
};

int main(void)
{
    static const struct test_suite suites[] = {
        {"dedupe normalise", normalise_cases},
        {"dedupe minhash", minhash_cases},
        {"dedupe index and input", io_cases},
        {NULL, NULL},
    };
    int rc;

    dedupe_workspace_init(&ws);
    rc = test_main(suites);
    dedupe_workspace_fini(&ws);
    return rc;
}
