/*
 * cli/cmd_verify_jury.c — `lode verify jury`: recomputes a bond's jury draw from public data.
 *
 *   lode verify jury --url BASE --vkey KEY --bond ID [--round 0|1]
 *
 * Fetches, without a token: the log's latest checkpoint (BASE/ledger/checkpoint, its signature
 * checked with KEY), the draw's public inputs (BASE/v1/bonds/ID/jury), the filing entry and the
 * juror.drawn entries (BASE/v1/ledger/entries/N), an inclusion proof of the filing entry in the
 * tree the draw used and a consistency proof from that tree to the signed checkpoint. Checks
 * that the pool snapshot hashes to the value in the filing entry (the round's challenge.filed
 * or appeal.filed, or its latest pool.renewed after a refused draw), that the draw's checkpoint
 * covers the filing entry and is part of the signed log, then derives the seed and draws the
 * seats (reputation/reputation.h, the normative algorithm) and compares them with the recorded
 * jurors. Prints "verified: ..." and exits 0; 1 when anything does not match; 2 usage; 3 I/O.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/options.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "reputation/reputation.h"
#include "storage/bond_store.h"

#define JURY_FETCH_BYTES_MAX (64u << 20)
#define JURY_URL_BYTES_MAX 2048

struct jury_fetch {
    CURL *curl;
    char base[JURY_URL_BYTES_MAX];
    char error[CURL_ERROR_SIZE];
};

struct grow_buf {
    char *data;
    size_t len, cap;
    bool overflow;
};

static int jury_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int jury_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("lode verify jury: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static size_t grow_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct grow_buf *b = userdata;
    size_t n = size * nmemb;

    if (n > JURY_FETCH_BYTES_MAX - b->len) {
        b->overflow = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* GETs base + path; the body (NUL-terminated, malloc'd) in *out. Returns an exit code. */
static int get_text(struct jury_fetch *f, const char *path, char **out, size_t *len_out)
{
    char url[JURY_URL_BYTES_MAX + 256];
    struct grow_buf b = {0};
    CURLcode cc;

    snprintf(url, sizeof url, "%s%s", f->base, path);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, grow_write);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &b);
    f->error[0] = '\0';
    cc = curl_easy_perform(f->curl);
    if (cc == CURLE_HTTP_RETURNED_ERROR) {
        long status = 0;
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 404) { /* nothing of that name was published: a negative answer */
            free(b.data);
            return jury_fail(EXIT_NEGATIVE, "%s: not found (404)", url);
        }
    }
    if (cc != CURLE_OK || b.data == NULL) {
        free(b.data);
        return jury_fail(EXIT_RUNTIME, "could not fetch %s: %s", url,
                         b.overflow ? "too large"
                         : f->error[0] != '\0' ? f->error
                                               : curl_easy_strerror(cc));
    }
    *out = b.data;
    if (len_out != NULL)
        *len_out = b.len;
    return EXIT_OK;
}

static int get_json(struct jury_fetch *f, const char *path, json_t **out)
{
    json_error_t jerr;
    char *text = NULL;
    size_t len = 0;
    int rc = get_text(f, path, &text, &len);

    if (rc != EXIT_OK)
        return rc;
    *out = json_loadb(text, len, 0, &jerr);
    free(text);
    if (*out == NULL)
        return jury_fail(EXIT_USAGE, "%s is not JSON: %s", path, jerr.text);
    return EXIT_OK;
}

static bool hex32(const json_t *v, uint8_t out[32])
{
    const char *s = json_string_value(v);
    size_t n = 0;
    return s != NULL && strlen(s) == 64 && hex_decode(s, 64, out, 32, &n) && n == 32;
}

static int64_t int_of(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Reads a proof (array of base64 hashes). */
static bool proof_of(const json_t *arr, uint8_t (*proof)[MERKLE_HASH_BYTES], size_t *count)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > MERKLE_PROOF_HASHES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        size_t got = 0;
        if (s == NULL || !base64_decode(s, strlen(s), proof[i], MERKLE_HASH_BYTES, &got) ||
            got != MERKLE_HASH_BYTES)
            return false;
    }
    *count = n;
    return true;
}

/* The entry at a ledger index, and its leaf hash recomputed from the served bytes. */
static int entry_at(struct jury_fetch *f, int64_t index, json_t **entry_out,
                    uint8_t leaf_out[MERKLE_HASH_BYTES])
{
    char path[64];
    json_t *doc = NULL;
    const char *b64;
    uint8_t *raw;
    size_t len = 0;
    int rc;

    snprintf(path, sizeof path, "/v1/ledger/entries/%" PRId64, index);
    if ((rc = get_json(f, path, &doc)) != EXIT_OK)
        return rc;
    b64 = json_string_value(json_object_get(doc, "entry_base64"));
    raw = b64 != NULL ? malloc(strlen(b64) + 1) : NULL;
    if (raw == NULL || !base64_decode(b64, strlen(b64), raw, strlen(b64), &len)) {
        free(raw);
        json_decref(doc);
        return jury_fail(EXIT_USAGE, "entry %" PRId64 " has no valid entry_base64", index);
    }
    merkle_hash_leaf(raw, len, leaf_out);
    *entry_out = json_loadb((const char *)raw, len, 0, NULL);
    free(raw);
    json_decref(doc);
    if (*entry_out == NULL)
        return jury_fail(EXIT_NEGATIVE, "entry %" PRId64 " is not JSON", index);
    return EXIT_OK;
}

/* The round's filing entry is its challenge.filed (round 0) or appeal.filed (round 1), or a
 * pool.renewed of that round when the scheduler renewed the pool after a refused draw. */
static bool filing_type_ok(const json_t *filing, int round)
{
    const char *type = json_string_value(json_object_get(filing, "type"));

    if (type == NULL)
        return false;
    if (strcmp(type, "pool.renewed") == 0)
        return int_of(filing, "round") == round;
    return strcmp(type, round == 0 ? "challenge.filed" : "appeal.filed") == 0;
}

static int verify(struct jury_fetch *f, const struct note_verifier *v, int64_t bond, int round)
{
    uint8_t (*proof)[MERKLE_HASH_BYTES] = calloc(MERKLE_PROOF_HASHES_MAX, MERKLE_HASH_BYTES);
    struct reputation_seat_holder holders[LODE_JURY_SEATS_MAX];
    uint8_t root[32], seed[32], pool_hash[32], leaf[32], filed_pool[32];
    struct reputation_juror *pool = NULL;
    struct reputation_config cfg;
    struct checkpoint signed_cp;
    struct lode_error err;
    json_t *jury = NULL, *filing = NULL, *doc = NULL, *drawn;
    int64_t excluded[2], filing_index, seats, deposit, cp_size = -1;
    size_t pool_count, count = 0, holder_count = 0;
    char path[160], *note = NULL, *cfg_text = NULL;
    size_t note_len = 0;
    int rc;

    if (proof == NULL)
        return jury_fail(EXIT_RUNTIME, "out of memory");
    /* the signed checkpoint anchors everything else */
    if ((rc = get_text(f, "/ledger/checkpoint", &note, &note_len)) != EXIT_OK)
        goto out;
    if (checkpoint_open(note, note_len, v, &signed_cp, &err) != LODE_OK) {
        rc = jury_fail(EXIT_NEGATIVE, "the log's checkpoint does not verify: %s", err.message);
        goto out;
    }
    snprintf(path, sizeof path, "/v1/bonds/%" PRId64 "/jury?round=%d", bond, round);
    if ((rc = get_json(f, path, &jury)) != EXIT_OK)
        goto out;
    filing_index = int_of(json_object_get(jury, "filing"), "index");
    seats = int_of(jury, "seats");
    deposit = int_of(jury, "seat_deposit");
    drawn = json_object_get(jury, "drawn_entries");
    cfg_text = json_dumps(json_object_get(jury, "config"), JSON_COMPACT);
    if (filing_index < 0 || seats < 1 || seats > LODE_JURY_SEATS_MAX || deposit < 1 ||
        !json_is_array(drawn) || json_array_size(drawn) == 0 || cfg_text == NULL ||
        reputation_config_parse(cfg_text, strlen(cfg_text), &cfg, &err) != LODE_OK ||
        json_array_size(json_object_get(jury, "excluded")) != 2) {
        rc = jury_fail(EXIT_NEGATIVE, "bond %" PRId64 " round %d has no complete draw to verify",
                       bond, round);
        goto out;
    }
    excluded[0] = (int64_t)json_integer_value(json_array_get(json_object_get(jury, "excluded"), 0));
    excluded[1] = (int64_t)json_integer_value(json_array_get(json_object_get(jury, "excluded"), 1));
    /* the pool snapshot must hash to the value the filing entry committed to */
    pool_count = json_array_size(json_object_get(jury, "pool"));
    pool = calloc(pool_count > 0 ? pool_count : 1, sizeof *pool);
    if (pool == NULL) {
        rc = jury_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pool_count; i++) {
        const json_t *m = json_array_get(json_object_get(jury, "pool"), i);
        pool[i].account = int_of(m, "account");
        pool[i].stake = int_of(m, "stake");
        pool[i].factor_bps = int_of(m, "factor_bps");
    }
    bond_pool_hash(bond, round, pool, pool_count, pool_hash);
    if ((rc = entry_at(f, filing_index, &filing, leaf)) != EXIT_OK)
        goto out;
    if (!filing_type_ok(filing, round) || int_of(filing, "bond") != bond ||
        !hex32(json_object_get(filing, "pool"), filed_pool) ||
        memcmp(filed_pool, pool_hash, 32) != 0) {
        rc = jury_fail(EXIT_NEGATIVE, "the pool snapshot does not match the filing entry %" PRId64,
                       filing_index);
        goto out;
    }
    /* every juror.drawn entry names the same checkpoint; the seats are compared below */
    for (size_t i = 0; i < json_array_size(drawn); i++) {
        json_t *e = NULL;
        uint8_t r[32], s[32], l[32];
        if ((rc = entry_at(f, (int64_t)json_integer_value(json_array_get(drawn, i)), &e, l)) !=
            EXIT_OK)
            goto out;
        if (strcmp(json_string_value(json_object_get(e, "type")) != NULL
                       ? json_string_value(json_object_get(e, "type"))
                       : "",
                   "juror.drawn") != 0 ||
            int_of(e, "bond") != bond || int_of(e, "round") != round ||
            !hex32(json_object_get(e, "checkpoint_root"), r) ||
            !hex32(json_object_get(e, "seed"), s) || i >= LODE_JURY_SEATS_MAX ||
            (i > 0 && (int_of(e, "checkpoint_size") != cp_size || memcmp(r, root, 32) != 0))) {
            json_decref(e);
            rc = jury_fail(EXIT_NEGATIVE, "juror.drawn entries of bond %" PRId64
                                          " round %d are inconsistent", bond, round);
            goto out;
        }
        cp_size = int_of(e, "checkpoint_size");
        memcpy(root, r, 32);
        holders[i].account = int_of(e, "juror");
        holders[i].seats = int_of(e, "seats");
        memcpy(seed, s, 32);
        holder_count = i + 1;
        json_decref(e);
    }
    /* the draw's tree holds the filing entry and is part of the signed log */
    if (cp_size <= filing_index || (uint64_t)cp_size > signed_cp.size) {
        rc = jury_fail(EXIT_NEGATIVE, "checkpoint %" PRId64 " does not cover the filing entry %"
                                      PRId64 " inside the signed log of %" PRIu64,
                       cp_size, filing_index, signed_cp.size);
        goto out;
    }
    snprintf(path, sizeof path, "/v1/ledger/proofs/inclusion?index=%" PRId64 "&tree_size=%" PRId64,
             filing_index, cp_size);
    if ((rc = get_json(f, path, &doc)) != EXIT_OK)
        goto out;
    if (!proof_of(json_object_get(doc, "proof"), proof, &count) ||
        !merkle_verify_inclusion(leaf, (uint64_t)filing_index, (uint64_t)cp_size,
                                 (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count, root)) {
        rc = jury_fail(EXIT_NEGATIVE, "the filing entry is not in the draw's tree");
        goto out;
    }
    json_decref(doc);
    doc = NULL;
    snprintf(path, sizeof path, "/v1/ledger/proofs/consistency?from=%" PRId64 "&to=%" PRIu64,
             cp_size, signed_cp.size);
    if ((rc = get_json(f, path, &doc)) != EXIT_OK)
        goto out;
    if (!proof_of(json_object_get(doc, "proof"), proof, &count) ||
        !merkle_verify_checkpoints_consistent((uint64_t)cp_size, signed_cp.size,
                                              (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                              root, signed_cp.root)) {
        rc = jury_fail(EXIT_NEGATIVE, "the draw's tree is not a prefix of the signed log");
        goto out;
    }
    /* seed and seats */
    {
        uint8_t want_seed[32];
        struct reputation_seat_holder want[LODE_JURY_SEATS_MAX];
        size_t want_count = 0;
        reputation_jury_seed(root, bond, round, want_seed);
        if (memcmp(want_seed, seed, 32) != 0) {
            rc = jury_fail(EXIT_NEGATIVE, "the seed is not derived from the checkpoint");
            goto out;
        }
        if (reputation_jury_draw(&cfg, want_seed, pool, pool_count, excluded, 2, seats, deposit,
                                 want, &want_count, &err) != LODE_OK) {
            rc = jury_fail(EXIT_NEGATIVE, "the draw cannot be recomputed: %s", err.message);
            goto out;
        }
        if (want_count != holder_count) {
            rc = jury_fail(EXIT_NEGATIVE, "%zu jurors recorded, %zu recomputed", holder_count,
                           want_count);
            goto out;
        }
        for (size_t i = 0; i < want_count; i++)
            if (want[i].account != holders[i].account || want[i].seats != holders[i].seats) {
                rc = jury_fail(EXIT_NEGATIVE, "seat holder %zu: recorded account %" PRId64
                                              " with %" PRId64 " seats, recomputed %" PRId64
                                              " with %" PRId64,
                               i, holders[i].account, holders[i].seats, want[i].account,
                               want[i].seats);
                goto out;
            }
    }
    printf("verified: bond %" PRId64 " round %d: %" PRId64 " seats for %zu jurors from a pool of "
           "%zu, checkpoint %" PRId64 " (in the signed log of %" PRIu64 ")\n",
           bond, round, seats, holder_count, pool_count, cp_size, signed_cp.size);
    rc = EXIT_OK;
out:
    json_decref(doc);
    json_decref(filing);
    json_decref(jury);
    free(cfg_text);
    free(note);
    free(pool);
    free(proof);
    return rc;
}

int cmd_verify_jury(int argc, char **argv)
{
    const char *url = NULL, *vkey = NULL;
    int64_t bond = 0, round = 0, timeout_s = 30;
    const struct option_spec options[] = {
        {"url", OPTION_STRING, &url, NULL, "base URL of the lode API (http://host:port)", 0, 0},
        {"vkey", OPTION_STRING, &vkey, NULL, "the log's verifier key text, or @FILE", 0, 0},
        {"bond", OPTION_INT, &bond, NULL, "bond id", 1, INT64_MAX},
        {"round", OPTION_INT, &round, "0", "0 (first jury) or 1 (appeal jury)", 0, 1},
        {"timeout", OPTION_INT, &timeout_s, "30", "seconds per request", 1, 3600},
        {0},
    };
    const struct command_spec spec = {
        "verify jury", "Recompute a bond's jury draw from public data.",
        "Checks the pool snapshot against the filing entry's hash, the draw's checkpoint against\n"
        "the signed log (inclusion and consistency proofs), and the seed and seats against the\n"
        "normative draw. Needs no token.",
        options, NULL};
    struct jury_fetch f;
    struct note_verifier v;
    struct lode_error err;
    char key[NOTE_KEY_TEXT_BYTES_MAX + 2];
    size_t n;
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (url == NULL || vkey == NULL || bond < 1)
        return jury_fail(EXIT_USAGE, "--url, --vkey and --bond are required");
    if (vkey[0] == '@') {
        FILE *kf = fopen(vkey + 1, "r");
        n = kf != NULL ? fread(key, 1, sizeof key - 1, kf) : 0;
        if (kf != NULL)
            fclose(kf);
        if (n == 0)
            return jury_fail(EXIT_RUNTIME, "could not read key file \"%s\"", vkey + 1);
        while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
            n--;
        key[n] = '\0';
    } else {
        snprintf(key, sizeof key, "%s", vkey);
    }
    if (note_verifier_parse(key, strlen(key), &v, &err) != LODE_OK)
        return jury_fail(EXIT_USAGE, "verifier key is not valid: %s", err.message);
    memset(&f, 0, sizeof f);
    n = strlen(url);
    if (n >= sizeof f.base)
        return jury_fail(EXIT_USAGE, "--url is too long");
    memcpy(f.base, url, n + 1);
    while (n > 0 && f.base[n - 1] == '/')
        f.base[--n] = '\0';
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return jury_fail(EXIT_RUNTIME, "could not initialise libcurl");
    f.curl = curl_easy_init();
    if (f.curl == NULL) {
        curl_global_cleanup();
        return jury_fail(EXIT_RUNTIME, "could not initialise libcurl");
    }
    curl_easy_setopt(f.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f.curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(f.curl, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(f.curl, CURLOPT_ERRORBUFFER, f.error);
    curl_easy_setopt(f.curl, CURLOPT_USERAGENT, "lode-verify/" LODE_VERSION);
    rc = verify(&f, &v, bond, (int)round);
    curl_easy_cleanup(f.curl);
    curl_global_cleanup();
    return rc;
}
