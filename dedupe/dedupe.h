/*
 * dedupe/dedupe.h — exact and near-duplicate detection of text records (pure engine).
 *
 * What: a text goes through four steps.
 *  1. Exact keys: SHA-256 of its bytes, and SHA-256 of its normalised form.
 *  2. Normalisation (utf8proc): strict UTF-8 (invalid input is an error, never repaired), NFKC
 *     with Unicode case folding, default-ignorable and format characters (Cf) and control
 *     characters (Cc) removed, punctuation (P*) and white space folded to a separator, runs of
 *     separators collapsed to one U+0020, none at either end. Symbols, marks, digits and
 *     letters of every script are kept.
 *  3. Shingles of the normalised text (character k-grams over code points, or word k-grams),
 *     each hashed to 64 bits with a seed that names the scheme, and a MinHash signature of
 *     DEDUPE_HASHES 32-bit minima under fixed, seeded multiply-shift hash functions.
 *  4. LSH: the signature is cut into `bands` bands of `rows` rows; each band becomes one 64-bit
 *     band key (the band number is mixed in, so one table column can index every band). Two
 *     items that share a band key are candidates; a candidate is called a duplicate only after
 *     verification: its Jaccard similarity (exact over shingle sets when both normalised texts
 *     are at hand, else estimated from the signatures) must reach the threshold.
 *
 * Invariants: every output is a deterministic function of the input bytes and the parameters
 * (fixed seeds; no randomness, no locale, no platform dependence: hashes read bytes in
 * little-endian order). Signatures are comparable only when made with the same shingle scheme;
 * the scheme is recorded in the signature and mismatched signatures have similarity 0.
 * Band keys are stable across releases as long as DEDUPE_SCHEME_VERSION is unchanged; a
 * persisted index stores them as bigint (same 64 bits, read as signed).
 *
 * Ownership: a `struct dedupe_workspace` owns the scratch buffers; results handed back through
 * it (normalised text, shingle sets) stay valid until the next call on the same workspace.
 * `struct dedupe_index` owns its tables; candidate lists it returns stay valid until its next
 * call. Plain structs (signature, keys, params) are caller-owned values.
 *
 * Threads: pure functions and const tables; any thread. A workspace or an index is used by one
 * thread at a time.
 */
#ifndef LODE_DEDUPE_DEDUPE_H
#define LODE_DEDUPE_DEDUPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define DEDUPE_HASHES 128           /* MinHash functions per signature */
#define DEDUPE_SCHEME_VERSION 1     /* bumps when hashing or normalisation changes */
#define DEDUPE_SHINGLE_K_MAX 32     /* largest shingle size accepted */
#define DEDUPE_THRESHOLD_DEFAULT 0.75 /* chosen on the evaluation set, docs/dedupe.md */
#define DEDUPE_THRESHOLD_DEFAULT_TEXT "0.75"
#define DEDUPE_BUCKET_MAX 256       /* items kept per band key in the in-memory index */
#define DEDUPE_VERIFY_MARGIN 0.15   /* estimate below threshold - margin skips exact check */

enum dedupe_shingle_kind {
    DEDUPE_SHINGLE_CHAR = 1, /* k consecutive code points of the normalised text */
    DEDUPE_SHINGLE_WORD = 2, /* k consecutive words */
};

struct dedupe_params {
    enum dedupe_shingle_kind kind;
    uint32_t k;       /* shingle size, 1..DEDUPE_SHINGLE_K_MAX */
    double threshold; /* Jaccard similarity at or above which two texts are near duplicates */
    uint32_t bands;   /* LSH bands; bands * rows <= DEDUPE_HASHES */
    uint32_t rows;    /* signature rows per band */
};

struct dedupe_keys {
    uint8_t bytes_sha256[32]; /* SHA-256 of the exact bytes */
    uint8_t text_sha256[32];  /* SHA-256 of the normalised text */
};

struct dedupe_signature {
    uint32_t scheme;   /* kind, k and DEDUPE_SCHEME_VERSION packed; 0 = not computed */
    uint32_t shingles; /* shingles hashed (with repeats); 0 for an empty normalised text */
    uint32_t mins[DEDUPE_HASHES];
};

/* Scratch buffers for normalisation and shingling; zero-initialise or dedupe_workspace_init. */
struct dedupe_workspace {
    int32_t *cps;    /* code points */
    size_t cps_cap;
    char *text;      /* normalised UTF-8 */
    size_t text_cap;
    uint64_t *set_a; /* shingle hashes */
    size_t set_a_cap;
    uint64_t *set_b;
    size_t set_b_cap;
    size_t *bounds;  /* shingle unit start offsets */
    size_t bounds_cap;
};

enum dedupe_verdict {
    DEDUPE_DISTINCT = 0,
    DEDUPE_EXACT = 1, /* same normalised text */
    DEDUPE_NEAR = 2,  /* verified Jaccard >= threshold */
};

struct dedupe_match {
    enum dedupe_verdict verdict;
    double similarity; /* exact Jaccard when computed, else the estimate */
    double estimate;   /* Jaccard estimated from the signatures */
    bool exact;        /* similarity is the exact Jaccard over shingle sets */
};

void dedupe_workspace_init(struct dedupe_workspace *ws);
void dedupe_workspace_fini(struct dedupe_workspace *ws);

/* Fills params for a shingle scheme and threshold, choosing bands and rows with
 * dedupe_lsh_choose(). Returns LODE_OK, or LODE_EINVAL for k or threshold out of range. */
enum lode_code dedupe_params_init(struct dedupe_params *p, enum dedupe_shingle_kind kind,
                                  uint32_t k, double threshold, struct lode_error *err);

/* Parses a scheme written "char:5" or "word:3" into p->kind and p->k.
 * Returns LODE_OK or LODE_EINVAL. */
enum lode_code dedupe_params_parse_scheme(struct dedupe_params *p, const char *text,
                                          struct lode_error *err);

/* Chooses LSH bands and rows for a threshold: among bands * rows <= hashes, the one with the
 * smallest false-positive area (integral of the candidate probability over [0, threshold])
 * whose false-negative probability at the threshold is at most 1%. */
void dedupe_lsh_choose(double threshold, uint32_t hashes, uint32_t *bands_out,
                       uint32_t *rows_out);

/* Probability that two items of Jaccard similarity s share at least one band key:
 * 1 - (1 - s^rows)^bands. */
double dedupe_lsh_probability(double s, uint32_t bands, uint32_t rows);

/* SHA-256 of bytes (libsodium). */
void dedupe_sha256(const void *bytes, size_t len, uint8_t out[32]);

/* Normalises text (see above). *norm_out points into ws and is NUL-terminated.
 * Returns LODE_OK, LODE_EINVAL for invalid UTF-8 (the message gives the byte offset), or
 * LODE_ETOOBIG for text over LODE_DEDUPE_TEXT_BYTES_MAX bytes. */
enum lode_code dedupe_text_normalise(struct dedupe_workspace *ws, const char *text, size_t len,
                                     const char **norm_out, size_t *norm_len_out,
                                     struct lode_error *err);

/* The MinHash signature of an already normalised text. Empty text gives shingles = 0 and all
 * minima UINT32_MAX. Returns LODE_OK or LODE_EINVAL for bad params. */
enum lode_code dedupe_signature_compute(struct dedupe_workspace *ws,
                                        const struct dedupe_params *p, const char *norm,
                                        size_t norm_len, struct dedupe_signature *sig_out,
                                        struct lode_error *err);

/* One call for the contribution path: exact keys, normalisation and signature of raw text.
 * *norm_out / *norm_len_out (may be NULL) point into ws.
 * Returns LODE_OK, LODE_EINVAL (invalid UTF-8, bad params) or LODE_ETOOBIG. */
enum lode_code dedupe_text_analyse(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                   const char *text, size_t len, struct dedupe_keys *keys_out,
                                   struct dedupe_signature *sig_out, const char **norm_out,
                                   size_t *norm_len_out, struct lode_error *err);

/* Writes the p->bands band keys of sig to keys_out (room for DEDUPE_HASHES) and returns how
 * many were written: p->bands, or 0 for an empty text (empty texts are matched by exact key
 * only, never by band). */
size_t dedupe_signature_bands(const struct dedupe_params *p, const struct dedupe_signature *sig,
                              uint64_t keys_out[DEDUPE_HASHES]);

/* Jaccard similarity estimated from two signatures (fraction of equal minima); 0 when the
 * schemes differ or either text is empty. */
double dedupe_signature_similarity(const struct dedupe_signature *a,
                                   const struct dedupe_signature *b);

/* Sorted, distinct 64-bit shingle hashes of a normalised text, in ws (valid until the next
 * call). Returns LODE_OK or LODE_EINVAL for bad params. */
enum lode_code dedupe_shingle_set(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                  const char *norm, size_t norm_len, const uint64_t **set_out,
                                  size_t *count_out, struct lode_error *err);

/* Exact Jaccard similarity of the shingle sets of two normalised texts (two empty texts: 1).
 * Returns LODE_OK or LODE_EINVAL for bad params. */
enum lode_code dedupe_text_jaccard(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                   const char *norm_a, size_t len_a, const char *norm_b,
                                   size_t len_b, double *jaccard_out, struct lode_error *err);

/* Verifies a candidate pair. With both normalised texts (non-NULL): equal texts are EXACT;
 * otherwise, unless the estimate is below threshold - DEDUPE_VERIFY_MARGIN, the exact Jaccard
 * decides. With NULL texts the estimate decides. Returns LODE_OK or LODE_EINVAL. */
enum lode_code dedupe_candidate_verify(struct dedupe_workspace *ws,
                                       const struct dedupe_params *p,
                                       const struct dedupe_signature *a,
                                       const struct dedupe_signature *b, const char *norm_a,
                                       size_t len_a, const char *norm_b, size_t len_b,
                                       struct dedupe_match *match_out, struct lode_error *err);

/*
 * In-memory band index: band key -> item ids (32-bit, caller-chosen, below UINT32_MAX).
 * An open-addressing multimap; at most DEDUPE_BUCKET_MAX ids are kept per band key (a band key
 * shared by more items is boilerplate; later items still find the first ones). For the
 * offline tool; the server keeps the same keys in PostgreSQL.
 */
struct dedupe_index;

/* Creates an index sized for about expected_keys band keys (0 = small). Never returns NULL
 * (out of memory aborts). */
struct dedupe_index *dedupe_index_create(size_t expected_keys);
void dedupe_index_destroy(struct dedupe_index *idx);

/* Adds id under each of the n keys. Returns LODE_OK, or LODE_ETOOBIG when the index would
 * exceed LODE_DEDUPE_INDEX_KEYS_MAX entries, or LODE_EINVAL for id UINT32_MAX. */
enum lode_code dedupe_index_insert(struct dedupe_index *idx, uint32_t id, const uint64_t *keys,
                                   size_t n, struct lode_error *err);

/* The distinct ids stored under any of the n keys, ascending, in a buffer owned by idx
 * (valid until its next call). */
void dedupe_index_candidates(struct dedupe_index *idx, const uint64_t *keys, size_t n,
                             const uint32_t **ids_out, size_t *count_out);

/* Entries stored and bytes allocated by the index. */
size_t dedupe_index_entries(const struct dedupe_index *idx);
size_t dedupe_index_bytes(const struct dedupe_index *idx);

/*
 * JSONL input: a line reader over a caller-supplied read function (so files, pipes and fuzz
 * buffers are read the same way) and a record reader for one line.
 */
typedef long (*dedupe_read_fn)(void *ctx, char *buf, size_t cap); /* bytes, 0 = end, <0 error */

struct dedupe_line_reader {
    dedupe_read_fn read;
    void *ctx;
    size_t line_bytes_max;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    bool eof, failed;
    uint64_t line_no;       /* 1-based number of the line last returned */
};

/* line_bytes_max = 0 means LODE_DEDUPE_LINE_BYTES_MAX. */
void dedupe_line_reader_init(struct dedupe_line_reader *r, dedupe_read_fn read, void *ctx,
                             size_t line_bytes_max);
void dedupe_line_reader_fini(struct dedupe_line_reader *r);

/* The next line without its '\n' (and a '\r' before it), NUL-terminated, valid until the next
 * call; *line_out = NULL at the end of input. A final line without '\n' counts.
 * Returns LODE_OK, LODE_ETOOBIG for a line over the limit (the line is skipped and counted, so
 * reading can go on), or LODE_EIO when the read function fails (reading stops). */
enum lode_code dedupe_line_next(struct dedupe_line_reader *r, const char **line_out,
                                size_t *len_out, struct lode_error *err);

/* Parses one JSONL line as a JSON object and returns its string member `field`. *doc_out
 * (caller json_decref()s) owns the string. Returns LODE_OK, LODE_EINVAL (invalid JSON, which
 * includes invalid UTF-8, not an object, field missing or not a string) or LODE_ETOOBIG
 * (line or text over its limit). */
enum lode_code dedupe_record_text(const char *line, size_t len, const char *field,
                                  json_t **doc_out, const char **text_out, size_t *text_len_out,
                                  struct lode_error *err);

#endif
