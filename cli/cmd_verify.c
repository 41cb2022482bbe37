/*
 * cli/cmd_verify.c — `lode verify`: offline checks of the ledger from public data only.
 *
 *   lode verify checkpoint  --vkey KEY FILE
 *   lode verify inclusion   --vkey KEY --checkpoint FILE --index N --proof FILE
 *                           (--entry FILE | --leaf-hash BASE64)
 *   lode verify consistency --vkey KEY --old FILE --new FILE --proof FILE
 *   lode verify monitor     --url URL --state FILE --vkey KEY
 *
 * KEY is verifier key text (name+keyid+base64) or @FILE holding it. Proof files hold one
 * base64 hash per line, or a JSON array of base64 strings, or a JSON object whose "proof"
 * member is such an array (docs/ledger.md). Each run prints one line: "verified: ..." on
 * standard output with exit 0, or "lode verify: ..." on standard error with exit 1 (does not
 * verify), 2 (usage or malformed input) or 3 (I/O).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/options.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/tile.h"

#define PROOF_FILE_BYTES_MAX 65536
#define URL_BYTES_MAX 2048

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("lode verify: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* Reads at most max bytes of a file; returns NULL (errno set, EFBIG when over max). */
static char *slurp(const char *path, size_t max, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = malloc(max + 2);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        fclose(f);
        free(buf);
        errno = n > max ? EFBIG : EIO;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len_out = n;
    return buf;
}

/* The verifier key from text or @file (one line, trailing newline allowed). */
static int load_vkey(const char *arg, struct note_verifier *v)
{
    struct lode_error err;
    char *text = NULL;
    size_t len;
    int rc = EXIT_OK;

    if (arg == NULL || arg[0] == '\0')
        return fail(EXIT_USAGE, "--vkey is required");
    if (arg[0] == '@') {
        text = slurp(arg + 1, NOTE_KEY_TEXT_BYTES_MAX + 1, &len);
        if (text == NULL)
            return fail(EXIT_RUNTIME, "could not read key file \"%s\": %s", arg + 1,
                        strerror(errno));
        if (len > 0 && text[len - 1] == '\n')
            len--;
    } else {
        len = strlen(arg);
    }
    if (note_verifier_parse(text != NULL ? text : arg, len, v, &err) != LODE_OK)
        rc = fail(EXIT_USAGE, "verifier key is not valid: %s", err.message);
    free(text);
    return rc;
}

/* Reads and opens a signed checkpoint file. */
static int load_checkpoint(const char *path, const struct note_verifier *v, struct checkpoint *cp)
{
    struct lode_error err;
    size_t len = 0;
    char *note;
    enum lode_code rc;

    memset(cp, 0, sizeof *cp);
    if (path == NULL || path[0] == '\0')
        return fail(EXIT_USAGE, "a checkpoint file is required");
    note = slurp(path, LODE_NOTE_BYTES_MAX, &len);
    if (note == NULL)
        return fail(errno == EFBIG ? EXIT_USAGE : EXIT_RUNTIME,
                    "could not read checkpoint \"%s\": %s", path, strerror(errno));
    rc = checkpoint_open(note, len, v, cp, &err);
    free(note);
    if (rc == LODE_EVERIFY)
        return fail(EXIT_NEGATIVE, "checkpoint \"%s\" does not verify: %s", path, err.message);
    if (rc != LODE_OK)
        return fail(EXIT_USAGE, "checkpoint \"%s\" is malformed: %s", path, err.message);
    return EXIT_OK;
}

static bool decode_hash_text(const char *s, size_t len, uint8_t out[MERKLE_HASH_BYTES])
{
    size_t n = 0;
    return base64_decode(s, len, out, MERKLE_HASH_BYTES, &n) && n == MERKLE_HASH_BYTES;
}

/* Reads a proof file: base64 lines, a JSON array, or {"proof": [...]}. */
static int load_proof(const char *path, uint8_t (*proof)[MERKLE_HASH_BYTES], size_t *count_out)
{
    struct lode_error err;
    size_t len = 0, count = 0, pos = 0;
    char *text;
    int rc = EXIT_OK;

    if (path == NULL || path[0] == '\0')
        return fail(EXIT_USAGE, "--proof is required");
    text = slurp(path, PROOF_FILE_BYTES_MAX, &len);
    if (text == NULL)
        return fail(errno == EFBIG ? EXIT_USAGE : EXIT_RUNTIME, "could not read proof \"%s\": %s",
                    path, strerror(errno));
    while (pos < len && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t'))
        pos++;
    if (pos < len && (text[pos] == '[' || text[pos] == '{')) {
        json_t *doc = json_body_parse(text, len, PROOF_FILE_BYTES_MAX, 4, &err), *arr, *v;
        size_t i;
        arr = json_is_object(doc) ? json_object_get(doc, "proof") : doc;
        if (doc == NULL || !json_is_array(arr) || json_array_size(arr) > MERKLE_PROOF_HASHES_MAX)
            rc = fail(EXIT_USAGE, "proof \"%s\" is not a JSON array of at most %d hashes", path,
                      MERKLE_PROOF_HASHES_MAX);
        else
            json_array_foreach(arr, i, v) {
                if (!json_is_string(v) || !decode_hash_text(json_string_value(v),
                                                            json_string_length(v), proof[i])) {
                    rc = fail(EXIT_USAGE, "proof \"%s\": element %zu is not a base64 hash",
                              path, i);
                    break;
                }
                count++;
            }
        json_decref(doc);
    } else {
        pos = 0;
        while (pos < len && rc == EXIT_OK) {
            char *end = memchr(text + pos, '\n', len - pos);
            size_t line_len = end != NULL ? (size_t)(end - (text + pos)) : len - pos;
            if (line_len > 0) {
                if (count >= MERKLE_PROOF_HASHES_MAX)
                    rc = fail(EXIT_USAGE, "proof \"%s\" has more than %d hashes", path,
                              MERKLE_PROOF_HASHES_MAX);
                else if (!decode_hash_text(text + pos, line_len, proof[count++]))
                    rc = fail(EXIT_USAGE, "proof \"%s\": line %zu is not a base64 hash", path,
                              count);
            }
            pos += line_len + 1;
        }
    }
    free(text);
    *count_out = count;
    return rc;
}

static void root_text(const uint8_t root[MERKLE_HASH_BYTES], char out[BASE64_ENCODED_BYTES(32)])
{
    base64_encode(root, MERKLE_HASH_BYTES, out);
}

static int run_checkpoint(int argc, char **argv)
{
    const char *vkey = NULL;
    const struct option_spec options[] = {
        {"vkey", OPTION_STRING, &vkey, NULL, "verifier key text, or @FILE", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "verify checkpoint", "Verify a checkpoint's signature against a verifier key.",
        "Prints the origin, size and root of a checkpoint signed by the key.", options, "FILE"};
    struct note_verifier v;
    struct checkpoint cp;
    char root[BASE64_ENCODED_BYTES(32)];
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (argc - first != 1)
        return fail(EXIT_USAGE, "checkpoint takes exactly one FILE");
    if ((rc = load_vkey(vkey, &v)) != EXIT_OK || (rc = load_checkpoint(argv[first], &v, &cp)))
        return rc;
    root_text(cp.root, root);
    printf("verified: checkpoint \"%s\" size %" PRIu64 " root %s\n", cp.origin, cp.size, root);
    return EXIT_OK;
}

static int run_inclusion(int argc, char **argv)
{
    const char *vkey = NULL, *cp_path = NULL, *proof_path = NULL, *entry_path = NULL;
    const char *leaf_b64 = NULL;
    int64_t index = -1;
    const struct option_spec options[] = {
        {"vkey", OPTION_STRING, &vkey, NULL, "verifier key text, or @FILE", 0, 0},
        {"checkpoint", OPTION_STRING, &cp_path, NULL, "signed checkpoint file", 0, 0},
        {"index", OPTION_INT, &index, NULL, "ledger index of the entry", 0, INT64_MAX},
        {"proof", OPTION_STRING, &proof_path, NULL, "inclusion proof file", 0, 0},
        {"entry", OPTION_STRING, &entry_path, NULL, "file holding the entry's exact bytes", 0, 0},
        {"leaf-hash", OPTION_STRING, &leaf_b64, NULL, "the leaf hash (base64) instead of --entry",
         0, 0},
        {0},
    };
    const struct command_spec spec = {
        "verify inclusion", "Verify that an entry is in the log at a checkpoint.",
        "The entry is given by its bytes (--entry) or its RFC 9162 leaf hash (--leaf-hash).",
        options, NULL};
    struct note_verifier v;
    struct checkpoint cp;
    uint8_t leaf[MERKLE_HASH_BYTES], proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t count = 0;
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (index < 0)
        return fail(EXIT_USAGE, "--index is required");
    if ((entry_path == NULL) == (leaf_b64 == NULL))
        return fail(EXIT_USAGE, "give exactly one of --entry and --leaf-hash");
    if ((rc = load_vkey(vkey, &v)) != EXIT_OK || (rc = load_checkpoint(cp_path, &v, &cp)) ||
        (rc = load_proof(proof_path, proof, &count)))
        return rc;
    if (entry_path != NULL) {
        size_t len = 0;
        char *entry = slurp(entry_path, LODE_ENTRY_BYTES_MAX, &len);
        if (entry == NULL)
            return fail(errno == EFBIG ? EXIT_USAGE : EXIT_RUNTIME,
                        "could not read entry \"%s\": %s", entry_path, strerror(errno));
        merkle_hash_leaf((const uint8_t *)entry, len, leaf);
        free(entry);
    } else if (!decode_hash_text(leaf_b64, strlen(leaf_b64), leaf)) {
        return fail(EXIT_USAGE, "--leaf-hash is not base64 of 32 bytes");
    }
    if ((uint64_t)index >= cp.size)
        return fail(EXIT_NEGATIVE, "index %" PRId64 " is beyond the checkpoint size %" PRIu64,
                    index, cp.size);
    if (!merkle_verify_inclusion(leaf, (uint64_t)index, cp.size,
                                 (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count, cp.root))
        return fail(EXIT_NEGATIVE, "inclusion proof of index %" PRId64 " in size %" PRIu64
                                   " does not verify",
                    index, cp.size);
    printf("verified: index %" PRId64 " is in \"%s\" at size %" PRIu64 "\n", index, cp.origin,
           cp.size);
    return EXIT_OK;
}

static int run_consistency(int argc, char **argv)
{
    const char *vkey = NULL, *old_path = NULL, *new_path = NULL, *proof_path = NULL;
    const struct option_spec options[] = {
        {"vkey", OPTION_STRING, &vkey, NULL, "verifier key text, or @FILE", 0, 0},
        {"old", OPTION_STRING, &old_path, NULL, "the earlier signed checkpoint", 0, 0},
        {"new", OPTION_STRING, &new_path, NULL, "the later signed checkpoint", 0, 0},
        {"proof", OPTION_STRING, &proof_path, NULL, "consistency proof file", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "verify consistency", "Verify that a later checkpoint extends an earlier one.",
        "An earlier checkpoint of size 0 must carry the empty-tree root and an empty proof.",
        options, NULL};
    struct note_verifier v;
    struct checkpoint a, b;
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t count = 0;
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if ((rc = load_vkey(vkey, &v)) != EXIT_OK || (rc = load_checkpoint(old_path, &v, &a)) ||
        (rc = load_checkpoint(new_path, &v, &b)) || (rc = load_proof(proof_path, proof, &count)))
        return rc;
    if (strcmp(a.origin, b.origin) != 0)
        return fail(EXIT_NEGATIVE, "checkpoints name different origins");
    if (!merkle_verify_checkpoints_consistent(a.size, b.size,
                                              (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                              a.root, b.root))
        return fail(EXIT_NEGATIVE, "size %" PRIu64 " is not consistent with size %" PRIu64,
                    b.size, a.size);
    printf("verified: \"%s\" size %" PRIu64 " extends size %" PRIu64 "\n", b.origin, b.size,
           a.size);
    return EXIT_OK;
}

/* ---- monitor -------------------------------------------------------------------------- */

struct fetch_buf {
    uint8_t *data;
    size_t len, cap;
    bool overflow;
};

static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct fetch_buf *b = userdata;
    size_t n = size * nmemb;

    if (n > b->cap - b->len) {
        b->overflow = true;
        return 0;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

struct monitor {
    CURL *curl;
    const char *base;
    char error[CURL_ERROR_SIZE];
    int failure_exit; /* exit code of the last failed fetch */
};

/* GETs base/path into buf. Returns LODE_OK, LODE_ENOTFOUND (404 or missing file), LODE_ETOOBIG
 * or LODE_EIO. */
static enum lode_code fetch(struct monitor *m, const char *path, uint8_t *out, size_t cap,
                            size_t *len_out)
{
    char url[URL_BYTES_MAX];
    struct fetch_buf b = {out, 0, cap, false};
    long status = 0;
    CURLcode cc;

    if ((size_t)snprintf(url, sizeof url, "%s/%s", m->base, path) >= sizeof url)
        return LODE_EINVAL;
    curl_easy_setopt(m->curl, CURLOPT_URL, url);
    curl_easy_setopt(m->curl, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(m->curl, CURLOPT_WRITEDATA, &b);
    m->error[0] = '\0';
    cc = curl_easy_perform(m->curl);
    curl_easy_getinfo(m->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_WRITE_ERROR && b.overflow) {
        snprintf(m->error, sizeof m->error, "%.200s is larger than %zu bytes", url, cap);
        return LODE_ETOOBIG;
    }
    if (cc == CURLE_FILE_COULDNT_READ_FILE || (cc == CURLE_HTTP_RETURNED_ERROR && status == 404))
        return LODE_ENOTFOUND;
    if (cc != CURLE_OK) {
        if (m->error[0] == '\0')
            snprintf(m->error, sizeof m->error, "%s", curl_easy_strerror(cc));
        return LODE_EIO;
    }
    *len_out = b.len;
    return LODE_OK;
}

/* tile_fetch_fn over HTTP(S) or file://: a missing partial tile falls back to the full one. */
static enum lode_code fetch_tile(void *ctx, const struct tile_id *tile, uint8_t *data_out,
                                 size_t cap, size_t *len_out)
{
    struct monitor *m = ctx;
    struct tile_id t = *tile;
    char path[TILE_PATH_BYTES_MAX];
    enum lode_code rc;

    if (tile_path_format(&t, path, sizeof path) != LODE_OK)
        return LODE_EINVAL;
    rc = fetch(m, path, data_out, cap, len_out);
    if (rc == LODE_ENOTFOUND && t.width < TILE_WIDTH) {
        t.width = TILE_WIDTH;
        if (tile_path_format(&t, path, sizeof path) != LODE_OK)
            return LODE_EINVAL;
        rc = fetch(m, path, data_out, cap, len_out);
    }
    if (rc == LODE_ENOTFOUND)
        snprintf(m->error, sizeof m->error, "tile %s not found", path);
    return rc;
}

static int save_state(const char *path, const char *note, size_t len)
{
    char tmp[4096];
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fail(EXIT_USAGE, "state path is too long");
    f = fopen(tmp, "wb");
    if (f == NULL || fwrite(note, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        if (f != NULL)
            fclose(f);
        return fail(EXIT_RUNTIME, "could not write \"%s\": %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return fail(EXIT_RUNTIME, "could not replace \"%s\": %s", path, strerror(errno));
    return EXIT_OK;
}

static int monitor_check(struct monitor *m, const char *state_path, const struct note_verifier *v)
{
    static char note[LODE_NOTE_BYTES_MAX + 1];
    static struct tile_hash_reader thr;
    struct lode_error err;
    struct checkpoint old_cp, new_cp;
    struct merkle_reader reader;
    uint8_t root[MERKLE_HASH_BYTES], proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t len = 0, count = 0;
    bool have_old = access(state_path, F_OK) == 0;
    enum lode_code rc;
    int code;

    if (have_old && (code = load_checkpoint(state_path, v, &old_cp)) != EXIT_OK)
        return code;
    rc = fetch(m, "checkpoint", (uint8_t *)note, LODE_NOTE_BYTES_MAX, &len);
    if (rc != LODE_OK)
        return fail(rc == LODE_ETOOBIG ? EXIT_NEGATIVE : EXIT_RUNTIME,
                    "could not fetch %s/checkpoint: %s", m->base,
                    rc == LODE_ENOTFOUND ? "not found" : m->error);
    rc = checkpoint_open(note, len, v, &new_cp, &err);
    if (rc == LODE_EVERIFY)
        return fail(EXIT_NEGATIVE, "new checkpoint does not verify: %s", err.message);
    if (rc != LODE_OK)
        return fail(EXIT_NEGATIVE, "new checkpoint is malformed: %s", err.message);
    if (have_old && strcmp(old_cp.origin, new_cp.origin) != 0)
        return fail(EXIT_NEGATIVE, "new checkpoint names origin \"%s\", saved one \"%s\"",
                    new_cp.origin, old_cp.origin);
    if (have_old && new_cp.size < old_cp.size)
        return fail(EXIT_NEGATIVE, "log shrank from size %" PRIu64 " to %" PRIu64, old_cp.size,
                    new_cp.size);

    /* the tiles must reproduce the signed root, and prove the old root a prefix of it */
    tile_hash_reader_init(&thr, new_cp.size, fetch_tile, m, &reader);
    rc = merkle_tree_root(&reader, new_cp.size, root);
    if (rc == LODE_OK && memcmp(root, new_cp.root, MERKLE_HASH_BYTES) != 0)
        return fail(EXIT_NEGATIVE, "tiles do not match the root of size %" PRIu64, new_cp.size);
    if (rc == LODE_OK && have_old)
        rc = merkle_prove_consistency(&reader, old_cp.size, new_cp.size, proof, &count);
    if (rc == LODE_EIO)
        return fail(EXIT_RUNTIME, "could not fetch tiles: %s", m->error);
    if (rc != LODE_OK)
        return fail(EXIT_NEGATIVE, "could not read the tiles of size %" PRIu64 ": %s",
                    new_cp.size, m->error[0] != '\0' ? m->error : lode_code_name(rc));
    if (have_old &&
        !merkle_verify_checkpoints_consistent(old_cp.size, new_cp.size,
                                              (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                              old_cp.root, new_cp.root))
        return fail(EXIT_NEGATIVE, "size %" PRIu64 " is not consistent with saved size %" PRIu64,
                    new_cp.size, old_cp.size);
    if ((code = save_state(state_path, note, len)) != EXIT_OK)
        return code;
    if (have_old)
        printf("verified: \"%s\" size %" PRIu64 " extends saved size %" PRIu64 "\n",
               new_cp.origin, new_cp.size, old_cp.size);
    else
        printf("verified: \"%s\" size %" PRIu64 " matches its tiles; saved as the first state\n",
               new_cp.origin, new_cp.size);
    return EXIT_OK;
}

static int run_monitor(int argc, char **argv)
{
    const char *vkey = NULL, *url = NULL, *state = NULL;
    int64_t timeout_s = 30;
    const struct option_spec options[] = {
        {"url", OPTION_STRING, &url, NULL,
         "log prefix: <url>/checkpoint and <url>/tile/... (http, https or file)", 0, 0},
        {"state", OPTION_STRING, &state, NULL, "file holding the last verified checkpoint", 0, 0},
        {"vkey", OPTION_STRING, &vkey, NULL, "verifier key text, or @FILE", 0, 0},
        {"timeout", OPTION_INT, &timeout_s, "30", "seconds allowed for each fetch", 1, 3600},
        {0},
    };
    const struct command_spec spec = {
        "verify monitor", "Check that the log's current checkpoint extends the saved one.",
        "Fetches the checkpoint and the tiles it needs, verifies the signature, recomputes\n"
        "the root and the consistency proof from the tiles, then saves the new checkpoint.\n"
        "Without a state file, the first checkpoint is checked against its tiles and saved.",
        options, NULL};
    struct note_verifier v;
    struct monitor m;
    char base[URL_BYTES_MAX];
    int first = 0, rc;
    size_t n;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (url == NULL || state == NULL)
        return fail(EXIT_USAGE, "--url and --state are required");
    if ((rc = load_vkey(vkey, &v)) != EXIT_OK)
        return rc;
    n = strlen(url);
    if (n >= sizeof base - TILE_PATH_BYTES_MAX)
        return fail(EXIT_USAGE, "--url is too long");
    memcpy(base, url, n + 1);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail(EXIT_RUNTIME, "could not initialise libcurl");
    memset(&m, 0, sizeof m);
    m.base = base;
    m.curl = curl_easy_init();
    if (m.curl == NULL) {
        curl_global_cleanup();
        return fail(EXIT_RUNTIME, "could not initialise libcurl");
    }
    curl_easy_setopt(m.curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(m.curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(m.curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(m.curl, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(m.curl, CURLOPT_ERRORBUFFER, m.error);
    curl_easy_setopt(m.curl, CURLOPT_USERAGENT, "lode-verify/" LODE_VERSION);
    curl_easy_setopt(m.curl, CURLOPT_ACCEPT_ENCODING, "");
    rc = monitor_check(&m, state, &v);
    curl_easy_cleanup(m.curl);
    curl_global_cleanup();
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {
        {"checkpoint", run_checkpoint},
        {"inclusion", run_inclusion},
        {"consistency", run_consistency},
        {"monitor", run_monitor},
        {"jury", cmd_verify_jury},
    };

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        printf("usage: lode verify <checkpoint|inclusion|consistency|monitor|jury> [options]\n\n"
               "Verify ledger checkpoints and proofs offline, from public data only.\n"
               "'lode verify <subcommand> --help' lists a subcommand's options.\n"
               "Exit status: 0 verified, 1 does not verify, 2 usage or malformed input, 3 I/O.\n");
        return EXIT_OK;
    }
    if (argc < 2)
        return fail(EXIT_USAGE, "a subcommand is required: checkpoint, inclusion, consistency "
                                "or monitor");
    if (sodium_init() < 0)
        return fail(EXIT_RUNTIME, "could not initialise libsodium");
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    return fail(EXIT_USAGE, "unknown subcommand \"%s\"", argv[1]);
}
