/*
 * tests/unit/ledger/test_ledger_data.c — the ledger against the reference vectors in
 * ../shared/data/merkle: transparency-dev inclusion and consistency proofs (every valid case
 * verifies, every wantErr case is rejected) and C2SP / sumdb signed notes (every signature
 * verifies; signing with the published test key reproduces the published signature).
 *
 * Decoding rules of this driver: hashes in the log are 32 bytes, so a leaf hash or proof
 * element of another length cannot be expressed and counts as rejected. Several vectors use
 * short placeholder roots ("don't care 1") that are only ever compared with each other; the
 * driver widens a root shorter than 32 bytes injectively (zero padding, 0x80 + length in the
 * last byte) so that equal placeholders stay equal and different ones stay different.
 */
#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/encoding.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "test_main.h"

typedef uint8_t hash_t[MERKLE_HASH_BYTES];

struct tally {
    int valid_ok, valid_failed, invalid_rejected, invalid_accepted;
};

static struct tally inclusion_tally, consistency_tally;

/* The raw text of the case being run: some indices are 2^64 - 1, beyond jansson's integers,
 * so integer members are read from the text as unsigned 64-bit numbers. */
static const char *case_text;

static bool text_u64(const char *name, uint64_t *out)
{
    char key[64];
    const char *p;
    char *end;

    snprintf(key, sizeof key, "\"%s\":", name);
    p = strstr(case_text, key);
    if (p == NULL)
        return false;
    p += strlen(key);
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    *out = strtoull(p, &end, 10);
    return end != p;
}

static bool decode_hash(const json_t *v, uint8_t out[MERKLE_HASH_BYTES], bool widen)
{
    uint8_t buf[96];
    size_t n = 0;
    const char *s = json_string_value(v);

    if (s == NULL || !base64_decode(s, strlen(s), buf, sizeof buf, &n))
        return false;
    if (n == MERKLE_HASH_BYTES) {
        memcpy(out, buf, n);
        return true;
    }
    if (!widen || n > MERKLE_HASH_BYTES - 1)
        return false;
    memset(out, 0, MERKLE_HASH_BYTES);
    memcpy(out, buf, n);
    out[MERKLE_HASH_BYTES - 1] = (uint8_t)(0x80 + n);
    return true;
}

/* Decodes the proof array; false when an element is not a 32-byte hash or it is too long. */
static bool decode_proof(const json_t *arr, hash_t *proof, size_t *count)
{
    size_t i;
    json_t *v;

    *count = 0;
    if (json_is_null(arr))
        return true;
    if (!json_is_array(arr) || json_array_size(arr) > MERKLE_PROOF_HASHES_MAX)
        return false;
    json_array_foreach(arr, i, v) {
        if (!decode_hash(v, proof[i], false))
            return false;
    }
    *count = json_array_size(arr);
    return true;
}

static void record(struct tally *t, bool want_err, bool accepted, const char *path)
{
    if (!want_err && accepted)
        t->valid_ok++;
    else if (!want_err) {
        t->valid_failed++;
        fprintf(stderr, "valid case rejected: %s\n", path);
    } else if (!accepted)
        t->invalid_rejected++;
    else {
        t->invalid_accepted++;
        fprintf(stderr, "invalid case accepted: %s\n", path);
    }
}

static void run_inclusion(const json_t *c, const char *path)
{
    hash_t proof[MERKLE_PROOF_HASHES_MAX];
    uint8_t root[32], leaf[32];
    size_t count = 0;
    bool want_err = json_is_true(json_object_get(c, "wantErr"));
    uint64_t index = 0, size = 0;
    bool accepted = text_u64("leafIdx", &index) && text_u64("treeSize", &size) &&
                    decode_hash(json_object_get(c, "root"), root, true) &&
                    decode_hash(json_object_get(c, "leafHash"), leaf, false) &&
                    decode_proof(json_object_get(c, "proof"), proof, &count) &&
                    merkle_verify_inclusion(leaf, index, size, (const hash_t *)proof, count,
                                            root);
    record(&inclusion_tally, want_err, accepted, path);
}

static void run_consistency(const json_t *c, const char *path)
{
    hash_t proof[MERKLE_PROOF_HASHES_MAX];
    uint8_t r1[32], r2[32];
    size_t count = 0;
    bool want_err = json_is_true(json_object_get(c, "wantErr"));
    uint64_t s1 = 0, s2 = 0;
    bool accepted = text_u64("size1", &s1) && text_u64("size2", &s2) &&
                    decode_hash(json_object_get(c, "root1"), r1, true) &&
                    decode_hash(json_object_get(c, "root2"), r2, true) &&
                    decode_proof(json_object_get(c, "proof"), proof, &count) &&
                    merkle_verify_consistency(s1, s2, (const hash_t *)proof, count, r1, r2);
    record(&consistency_tally, want_err, accepted, path);
}

static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len_out = (size_t)n;
    }
    return buf;
}

static void walk(const char *dir, void (*run)(const json_t *, const char *))
{
    DIR *d = opendir(dir);
    struct dirent *e;

    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path, run);
        } else if (strstr(e->d_name, ".json") != NULL) {
            json_error_t jerr;
            size_t len = 0;
            char *text = read_file(path, &len);
            json_t *c = text != NULL ? json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr) : NULL;
            CU_ASSERT_PTR_NOT_NULL(c);
            case_text = text;
            if (c != NULL)
                run(c, path);
            json_decref(c);
            free(text);
        }
    }
    closedir(d);
}

static void test_inclusion_vectors(void)
{
    char dir[4096];

    snprintf(dir, sizeof dir, "%s/merkle/inclusion", test_data_path());
    walk(dir, run_inclusion);
    printf("\ninclusion: %d valid verified, %d invalid rejected\n", inclusion_tally.valid_ok,
           inclusion_tally.invalid_rejected);
    CU_ASSERT_EQUAL(inclusion_tally.valid_ok, 6);
    CU_ASSERT_EQUAL(inclusion_tally.invalid_rejected, 92);
    CU_ASSERT_EQUAL(inclusion_tally.valid_failed, 0);
    CU_ASSERT_EQUAL(inclusion_tally.invalid_accepted, 0);
}

static void test_consistency_vectors(void)
{
    char dir[4096];

    snprintf(dir, sizeof dir, "%s/merkle/consistency", test_data_path());
    walk(dir, run_consistency);
    printf("\nconsistency: %d valid verified, %d invalid rejected\n",
           consistency_tally.valid_ok, consistency_tally.invalid_rejected);
    CU_ASSERT_EQUAL(consistency_tally.valid_ok, 6);
    CU_ASSERT_EQUAL(consistency_tally.invalid_rejected, 92);
    CU_ASSERT_EQUAL(consistency_tally.valid_failed, 0);
    CU_ASSERT_EQUAL(consistency_tally.invalid_accepted, 0);
}

static void test_signed_notes(void)
{
    char path[4096];
    json_error_t jerr;
    json_t *cases, *c;
    size_t ci;
    int signatures = 0, reproduced = 0;

    snprintf(path, sizeof path, "%s/merkle/signed-notes/signed_note_cases.json",
             test_data_path());
    cases = json_load_file(path, 0, &jerr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cases);
    json_array_foreach(cases, ci, c) {
        struct note_verifier v[8];
        bool verified[8];
        size_t nv = 0, text_len = 0, vi, file_len = 0;
        json_t *vk;
        struct lode_error err;
        const char *note = json_string_value(json_object_get(c, "note"));
        size_t note_len = json_string_length(json_object_get(c, "note"));
        char *file;

        json_array_foreach(json_object_get(c, "vkeys"), vi, vk) {
            const char *text = json_string_value(vk);
            CU_ASSERT_EQUAL_FATAL(note_verifier_parse(text, strlen(text), &v[nv], &err), LODE_OK);
            /* formatting gives back the same text */
            char back[NOTE_KEY_TEXT_BYTES_MAX];
            CU_ASSERT_EQUAL(note_verifier_format(&v[nv], back, sizeof back), LODE_OK);
            CU_ASSERT_STRING_EQUAL(back, text);
            nv++;
        }
        /* the note files hold the same bytes as the JSON transcription */
        snprintf(path, sizeof path, "%s/merkle/signed-notes/note%zu.txt", test_data_path(),
                 ci + 1);
        file = read_file(path, &file_len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(file);
        CU_ASSERT_EQUAL(file_len, note_len);
        CU_ASSERT_EQUAL(memcmp(file, note, note_len), 0);
        free(file);

        CU_ASSERT_EQUAL(note_open(note, note_len, v, nv, &text_len, verified, &err), LODE_OK);
        for (size_t i = 0; i < nv; i++) {
            CU_ASSERT_TRUE(verified[i]);
            signatures += verified[i];
            /* each key alone also opens the note: the others are ignored cosignatures */
            CU_ASSERT_EQUAL(note_open(note, note_len, &v[i], 1, &text_len, NULL, &err), LODE_OK);
        }
        if (ci == 2) {
            struct checkpoint cp;
            CU_ASSERT_EQUAL(checkpoint_parse(note, text_len, &cp, &err), LODE_OK);
            CU_ASSERT_STRING_EQUAL(cp.origin, "go.sum database tree");
            CU_ASSERT_EQUAL(cp.size, 6476701);
        }
        const json_t *skey = json_object_get(c, "skey");
        if (json_is_string(skey)) {
            struct note_signer s;
            char out[LODE_NOTE_BYTES_MAX];
            size_t out_len = 0;
            CU_ASSERT_EQUAL_FATAL(note_signer_parse(json_string_value(skey),
                                                    json_string_length(skey), &s, &err),
                                  LODE_OK);
            CU_ASSERT_EQUAL(memcmp(s.public_key, v[0].public_key, 32), 0);
            CU_ASSERT_EQUAL(note_sign(note, text_len, &s, 1, out, sizeof out, &out_len), LODE_OK);
            /* the signed note is the text, the blank line and the first published line */
            const char *first_end = memchr(note + text_len + 1, '\n', note_len - text_len - 1);
            size_t expect_len = (size_t)(first_end + 1 - note);
            CU_ASSERT_EQUAL(out_len, expect_len);
            if (out_len == expect_len && memcmp(out, note, out_len) == 0)
                reproduced++;
            /* 101 signature lines are malformed */
            char *many = malloc(text_len + 1 + 101 * 200);
            size_t line_len = expect_len - text_len - 1, pos = text_len + 1;
            memcpy(many, note, text_len + 1);
            for (int k = 0; k < 101; k++, pos += line_len)
                memcpy(many + pos, note + text_len + 1, line_len);
            CU_ASSERT_EQUAL(note_open(many, pos, v, nv, &text_len, NULL, &err), LODE_EINVAL);
            free(many);
            note_signer_wipe(&s);
        }
    }
    printf("\nsigned notes: %d signatures verified, %d reproduced byte for byte\n", signatures,
           reproduced);
    CU_ASSERT_EQUAL(signatures, 7);
    CU_ASSERT_EQUAL(reproduced, 1);
    json_decref(cases);
}

int main(void)
{
    static const struct test_case cases[] = {
        {"inclusion vectors", test_inclusion_vectors},
        {"consistency vectors", test_consistency_vectors},
        {"signed notes", test_signed_notes},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"ledger reference data", cases},
        {NULL, NULL},
    };
    test_require_data("merkle");
    if (sodium_init() < 0)
        return 2;
    return test_main(suites);
}
