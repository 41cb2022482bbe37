/*
 * dedupe/normalise.c — Unicode normalisation for duplicate detection, and exact keys.
 *
 * utf8proc decomposes (compatibility mappings, case folding, default ignorables removed), a
 * filter pass folds white space and punctuation to one separator and drops controls and format
 * characters, and utf8proc composes the result (NFKC). Pure ASCII input, the common case, takes
 * a table-driven path that yields the same bytes (the unit tests check it against utf8proc's
 * categories for every ASCII character).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/limits.h"
#include "dedupe/dedupe.h"
#include "dedupe/internal.h"

#define SEP 0x20

/* Options of utf8proc_NFKC_Casefold, without NULLTERM (lengths are explicit). */
#define NORM_OPTIONS \
    (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

enum fold { KEEP, SEPARATE, DROP };

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 64;

    if (need <= *cap)
        return p;
    while (n < need)
        n *= 2;
    p = realloc(p, n * elem);
    if (p == NULL)
        abort(); /* process-level out of memory (STYLE.md) */
    *cap = n;
    return p;
}

void dedupe_workspace_init(struct dedupe_workspace *ws)
{
    memset(ws, 0, sizeof *ws);
}

void dedupe_workspace_fini(struct dedupe_workspace *ws)
{
    if (ws == NULL)
        return;
    free(ws->cps);
    free(ws->text);
    free(ws->set_a);
    free(ws->set_b);
    free(ws->bounds);
    memset(ws, 0, sizeof *ws);
}

void dedupe_sha256(const void *bytes, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, bytes, len);
}

/* How one (already decomposed and case-folded) code point is treated. */
static enum fold fold_of(int32_t cp)
{
    if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x85)
        return SEPARATE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return SEPARATE;
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
        return DROP;
    default:
        return KEEP;
    }
}

/* ASCII: 'k' keep, 's' separate, 'd' drop; upper case letters are lowered separately. */
static const char ascii_class[129] =
    "ddddddddd" "sssss" "dddddddddddddddddd"   /* 0x00-0x1f */
    "ssss" "k" "ssssss" "k" "ssss"             /* space ! " # $ % & ' ( ) * + , - . / */
    "kkkkkkkkkk" "ss" "kkk" "ss"              /* 0-9 : ; < = > ? @ */
    "kkkkkkkkkkkkkkkkkkkkkkkkkk"               /* A-Z */
    "sss" "k" "s" "k"                          /* [ \ ] ^ _ ` */
    "kkkkkkkkkkkkkkkkkkkkkkkkkk"               /* a-z */
    "s" "k" "s" "k" "d";                       /* { | } ~ DEL */

static bool is_ascii(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint64_t acc = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* Output position and whether a separator is owed before the next kept character. */
struct norm_state {
    size_t out;
    bool pending;
};

static void emit_ascii(const char *s, size_t len, char *dst, struct norm_state *st)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char cls = ascii_class[c];
        if (cls == 'd')
            continue;
        if (cls == 's') {
            st->pending = st->out > 0;
            continue;
        }
        if (st->pending) {
            dst[st->out++] = SEP;
            st->pending = false;
        }
        dst[st->out++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
}

/* Appends the normalised form of s (any UTF-8) to ws->text at st->out. Returns the utf8proc
 * result: negative on invalid input. */
static utf8proc_ssize_t emit_unicode(struct dedupe_workspace *ws, const char *s, size_t len,
                                     struct norm_state *st)
{
    utf8proc_ssize_t n;
    size_t w = 0;
    bool lead_sep = false; /* owed from before this run: written directly, it never composes */

    /* Decomposition rarely grows text past its byte count; retry once with the exact size. */
    ws->cps = grow(ws->cps, &ws->cps_cap, len + 16, sizeof *ws->cps);
    n = utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, ws->cps,
                                  (utf8proc_ssize_t)ws->cps_cap, NORM_OPTIONS, NULL, NULL);
    if (n > (utf8proc_ssize_t)ws->cps_cap) {
        ws->cps = grow(ws->cps, &ws->cps_cap, (size_t)n, sizeof *ws->cps);
        n = utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                      ws->cps, (utf8proc_ssize_t)ws->cps_cap, NORM_OPTIONS, NULL,
                                      NULL);
    }
    if (n < 0)
        return n;
    /* Fold separators, drop controls and format characters. */
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        int32_t cp = ws->cps[i];
        switch (fold_of(cp)) {
        case DROP:
            break;
        case SEPARATE:
            st->pending = st->out > 0 || w > 0;
            break;
        case KEEP:
            if (st->pending) {
                /* a separator owed from an earlier run would overtake the read position */
                if (w == 0)
                    lead_sep = true;
                else
                    ws->cps[w++] = SEP;
                st->pending = false;
            }
            ws->cps[w++] = cp;
            break;
        }
    }
    n = utf8proc_normalize_utf32(ws->cps, (utf8proc_ssize_t)w, NORM_OPTIONS);
    if (n < 0)
        return n;
    ws->text = grow(ws->text, &ws->text_cap, st->out + (size_t)n * 4 + 2, 1);
    if (lead_sep)
        ws->text[st->out++] = SEP;
    for (utf8proc_ssize_t i = 0; i < n; i++)
        st->out += (size_t)utf8proc_encode_char(ws->cps[i], (utf8proc_uint8_t *)ws->text + st->out);
    return n;
}

/* Offset of the first invalid UTF-8 sequence, or len when the text is valid. */
static size_t invalid_offset(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;

    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return i;
        i += (size_t)n;
    }
    return len;
}

/*
 * ASCII runs take the table; each non-ASCII run goes through utf8proc together with the
 * characters that could combine with it: a kept ASCII character just before it (a base for
 * combining marks, e.g. "e" + U+0301) and ASCII controls before, inside or after it (they are
 * dropped, so what they separate meets and may compose). No composition has an ASCII second
 * character, so a run ends at the next ASCII byte that is not a control. The result equals
 * normalising the whole text through utf8proc (checked by the unit tests and the fuzz target).
 */
static enum lode_code normalise(struct dedupe_workspace *ws, const char *text, size_t len,
                                bool unicode_only, const char **norm_out, size_t *norm_len_out,
                                struct lode_error *err)
{
    const unsigned char *b = (const unsigned char *)text;
    struct norm_state st = {0, false};
    size_t i = 0;

    if (len > LODE_DEDUPE_TEXT_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "text is %zu bytes, over the limit of %u", len,
                              (unsigned)LODE_DEDUPE_TEXT_BYTES_MAX);
    ws->text = grow(ws->text, &ws->text_cap, len + 1, 1);
    if (!unicode_only && is_ascii(text, len)) {
        emit_ascii(text, len, ws->text, &st);
    } else if (unicode_only) {
        if (emit_unicode(ws, text, len, &st) < 0)
            goto invalid;
    } else {
        while (i < len) {
            size_t j = i, ascii_end, k;
            while (j < len && b[j] < 0x80)
                j++;
            ascii_end = j;
            if (j < len) {
                while (ascii_end > i && ascii_class[b[ascii_end - 1]] == 'd')
                    ascii_end--;
                if (ascii_end > i && ascii_class[b[ascii_end - 1]] == 'k')
                    ascii_end--;
            }
            ws->text = grow(ws->text, &ws->text_cap, st.out + (ascii_end - i) + 1, 1);
            emit_ascii(text + i, ascii_end - i, ws->text, &st);
            if (j == len)
                break;
            k = j;
            while (k < len && (b[k] >= 0x80 || ascii_class[b[k]] == 'd'))
                k++;
            if (emit_unicode(ws, text + ascii_end, k - ascii_end, &st) < 0)
                goto invalid;
            i = k;
        }
    }
    ws->text[st.out] = '\0';
    *norm_out = ws->text;
    *norm_len_out = st.out;
    return LODE_OK;

invalid:
    if (invalid_offset(text, len) < len)
        return lode_error_set(err, LODE_EINVAL, "text is not valid UTF-8 at byte %zu",
                              invalid_offset(text, len));
    return lode_error_set(err, LODE_EINVAL, "could not normalise text");
}

enum lode_code dedupe_text_normalise(struct dedupe_workspace *ws, const char *text, size_t len,
                                     const char **norm_out, size_t *norm_len_out,
                                     struct lode_error *err)
{
    return normalise(ws, text, len, false, norm_out, norm_len_out, err);
}

enum lode_code dedupe_text_normalise_reference(struct dedupe_workspace *ws, const char *text,
                                               size_t len, const char **norm_out,
                                               size_t *norm_len_out, struct lode_error *err)
{
    return normalise(ws, text, len, true, norm_out, norm_len_out, err);
}

enum lode_code dedupe_text_analyse(struct dedupe_workspace *ws, const struct dedupe_params *p,
                                   const char *text, size_t len, struct dedupe_keys *keys_out,
                                   struct dedupe_signature *sig_out, const char **norm_out,
                                   size_t *norm_len_out, struct lode_error *err)
{
    const char *norm = NULL;
    size_t norm_len = 0;
    enum lode_code rc;

    rc = dedupe_text_normalise(ws, text, len, &norm, &norm_len, err);
    if (rc != LODE_OK)
        return rc;
    rc = dedupe_signature_compute(ws, p, norm, norm_len, sig_out, err);
    if (rc != LODE_OK)
        return rc;
    dedupe_sha256(text, len, keys_out->bytes_sha256);
    dedupe_sha256(norm, norm_len, keys_out->text_sha256);
    if (norm_out != NULL)
        *norm_out = norm;
    if (norm_len_out != NULL)
        *norm_len_out = norm_len;
    return LODE_OK;
}
