/*
 * detector/text.c — validation, normalisation, tokenisation and the model-free features.
 *
 * Normalisation removes conventions that belong to a corpus rather than to a writer: case
 * (73 of 200 human texts in one development set are all lower case), accents, typographic
 * quotes and dashes, digits (all become '0'), runs of whitespace and newlines (one set has no
 * newlines at all), and tokeniser spacing such as "word , word" or "( x )".
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/limits.h"
#include "detector/internal.h"

/* English function words, sorted for bsearch. */
static const char *const function_words[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "although", "am", "an",
    "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
    "during", "each", "either", "even", "every", "few", "for", "from", "further", "had", "has",
    "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
    "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me",
    "might", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
    "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "though",
    "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "was", "we",
    "were", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why",
    "will", "with", "within", "without", "would", "yet", "you", "your", "yours", "yourself",
};

/* Words that instruction-tuned language models use far more often than people do, written
 * down before any measurement (docs/detector.md, "assistant_vocabulary"), sorted for bsearch. */
static const char *const assistant_words[] = {
    "additionally", "boast", "boasts", "bustling", "commendable", "comprehensive", "crucial",
    "crucially", "delve", "delved", "delves", "delving", "diverse", "dynamic", "embark", "enhance",
    "enhanced", "enhances", "enhancing", "ensure", "ensures", "ensuring", "essential", "evolving",
    "facilitate", "facilitates", "facilitating", "foster", "fostering", "fosters", "furthermore",
    "groundbreaking", "highlight", "highlighting", "highlights", "holistic", "innovative",
    "insight", "insights", "intricate", "invaluable", "landscape", "leverage", "leveraging",
    "meticulous", "meticulously", "moreover", "multifaceted", "myriad", "navigate", "navigating",
    "notably", "noteworthy", "nuanced", "overall", "paramount", "pivotal", "plethora", "potential",
    "realm", "resonate", "resonates", "robust", "seamless", "seamlessly", "showcase", "showcases",
    "showcasing", "significant", "significantly", "streamline", "tapestry", "testament",
    "transformative", "underscore", "underscores", "underscoring", "unparalleled", "utilization",
    "utilize", "utilizes", "utilizing", "valuable", "various", "vibrant", "vital",
};

/* true when s[0..n), n >= 1, is one of the n_list sorted words of list */
static bool in_word_list(const char *const *list, size_t n_list, const char *s, size_t n)
{
    size_t lo = 0, hi = n_list;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *w = list[mid];
        /* the first letters decide most steps without a call */
        int c = (unsigned char)s[0] - (unsigned char)w[0];
        if (c == 0) {
            size_t wl = strlen(w);
            c = strncmp(s, w, n < wl ? n : wl);
            if (c == 0)
                c = (n > wl) - (n < wl);
        }
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

static bool is_latin_letter(utf8proc_int32_t cp)
{
    return cp < 0x250 || (cp >= 0x1E00 && cp <= 0x1EFF) || (cp >= 0x2C60 && cp <= 0x2C7F) ||
           (cp >= 0xA720 && cp <= 0xA7FF) || (cp >= 0xFF21 && cp <= 0xFF5A);
}

/* Maps one folded code point to at most one ASCII byte; 0 = drop. */
static char ascii_of(utf8proc_int32_t r)
{
    if (r < 0x80) {
        if (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f')
            return ' ';
        if (r < 0x20 || r == 0x7f)
            return 0;
        if (r >= '0' && r <= '9')
            return '0';
        return (char)r;
    }
    switch (r) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x02BC: case 0x00B4:
        return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: case 0x00AB: case 0x00BB:
        return '"';
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015: case 0x2212:
        return '-';
    default: break;
    }
    switch (utf8proc_category(r)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return ' ';
    case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_CC:
        return 0;
    default: return '#';
    }
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || c == '0';
}

/* Appends c to the normalised buffer, collapsing whitespace and tokeniser spacing. */
static void emit(struct detector_text *t, bool *pending_space, char c)
{
    if (c == ' ') {
        *pending_space = t->len > 0;
        return;
    }
    if (*pending_space) {
        char prev = t->buf[t->len - 1];
        bool glue = strchr(",.;:!?)]%", c) != NULL || prev == '(' || prev == '[';
        if (!glue)
            t->buf[t->len++] = ' ';
        *pending_space = false;
    }
    t->buf[t->len++] = c;
}

/* Second pass: "x - y" -> "x-y", "don 't"/"do n't"/"it 's" -> joined. In place. */
static void glue_tokens(struct detector_text *t)
{
    size_t w = 0;
    for (size_t r = 0; r < t->len; r++) {
        char c = t->buf[r];
        if (c == ' ' && w > 0 && r + 2 < t->len && is_alnum(t->buf[w - 1])) {
            if (t->buf[r + 1] == '-' && t->buf[r + 2] == ' ' && r + 3 < t->len &&
                is_alnum(t->buf[r + 3])) {
                t->buf[w++] = '-';
                r += 2;
                continue;
            }
            if (t->buf[r + 1] == '\'' && is_alnum(t->buf[r + 2]) &&
                (r + 3 >= t->len || !is_alnum(t->buf[r + 3]) ||
                 (r + 4 >= t->len || !is_alnum(t->buf[r + 4]))))
                continue; /* " 's", " 're", " 'll" */
            if (t->buf[r + 1] == 'n' && r + 3 < t->len && t->buf[r + 2] == '\'' &&
                t->buf[r + 3] == 't')
                continue; /* " n't" */
        }
        t->buf[w++] = c;
    }
    t->len = w;
}

static void tokenise(struct detector_text *t)
{
    size_t i = 0;
    t->nwords = 0;
    t->function_words = 0;
    while (i < t->len) {
        while (i < t->len && !is_alnum(t->buf[i]))
            i++;
        if (i >= t->len)
            break;
        size_t s = i;
        while (i < t->len && (is_alnum(t->buf[i]) ||
                              (t->buf[i] == '\'' && i + 1 < t->len && is_alnum(t->buf[i + 1]))))
            i++;
        t->words[t->nwords].start = (uint32_t)s;
        t->words[t->nwords].len = (uint32_t)(i - s);
        if (in_word_list(function_words, sizeof function_words / sizeof function_words[0],
                         t->buf + s, i - s))
            t->function_words++;
        t->nwords++;
    }
}

/*
 * Lines that are not prose. People paste program output and tables into what they write: a
 * log, an error repeated line after line, columns of figures. Read as prose, such lines look
 * like a model looping (word_trigram_repeat) or like no English at all, so they are left out
 * of what is scored (they are still validated and counted by the checks above). A line is left
 * out when
 *   - fewer than half of its non-space characters (at least 4) are letters: a table row, a
 *     rule of '=' or '-', a formula; or
 *   - it is a template line: at most DETECTOR_TEMPLATE_WORDS words, not ending a sentence, and
 *     at least DETECTOR_TEMPLATE_REPEATS lines of the text are the same once case, whitespace
 *     and numbers are ignored ("18:51:25 lists/l-k has 57 msgs", "E: Tried to dequeue").
 * A sentence repeated word for word still counts, as it would in a model's loop. Only the
 * first DETECTOR_LINE_SCAN_BYTES of the input are examined, and nothing after them is scored
 * (the text counts as truncated there), so a long log cannot fill the window past the scan.
 */
#define DETECTOR_TEMPLATE_WORDS 12
#define DETECTOR_TEMPLATE_REPEATS 3

struct line_info {
    uint32_t start, end; /* byte offsets of the line without its '\n' */
    uint64_t hash;       /* of the line with case, whitespace runs and numbers masked */
    uint8_t template_ok; /* short and not ending a sentence */
    uint8_t table;
};

static bool is_space_cp(utf8proc_int32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\v' || cp == '\f' ||
           (cp > 0x7f && utf8proc_category(cp) >= UTF8PROC_CATEGORY_ZS &&
            utf8proc_category(cp) <= UTF8PROC_CATEGORY_ZP);
}

static void line_classify(const unsigned char *s, struct line_info *l)
{
    uint64_t h = 1469598103934665603ull;
    size_t nonspace = 0, letters = 0, words = 0;
    bool in_space = true, in_digits = false;
    utf8proc_int32_t last = 0;

    for (size_t i = l->start; i < l->end;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(l->end - i), &cp);
        if (n < 0) { /* invalid UTF-8 is refused later; here it is one symbol */
            cp = 0xFFFD;
            n = 1;
        }
        size_t at = i;
        i += (size_t)n;
        if (is_space_cp(cp)) {
            in_space = true;
            in_digits = false;
            continue;
        }
        if (in_space && nonspace > 0)
            h = (h ^ ' ') * 1099511628211ull;
        if (in_space)
            words++;
        in_space = false;
        nonspace++;
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO)
            letters++;
        if (cp >= '0' && cp <= '9') {
            if (in_digits)
                continue;
            in_digits = true;
            h = (h ^ '0') * 1099511628211ull;
        } else {
            in_digits = false;
            for (size_t k = at; k < i; k++) {
                unsigned char c = s[k];
                if (c >= 'A' && c <= 'Z')
                    c = (unsigned char)(c - 'A' + 'a');
                h = (h ^ c) * 1099511628211ull;
            }
        }
        if (cp > 0x7f || strchr("\"')]*", (int)cp) == NULL)
            last = cp;
    }
    l->hash = h;
    l->table = nonspace >= 4 && letters * 2 < nonspace;
    l->template_ok = nonspace > 0 && words <= DETECTOR_TEMPLATE_WORDS && last != '.' &&
                     last != '!' && last != '?';
}

/* A line ends at '\n', or at a '\r' that no '\n' follows (old Mac line ends). */
static bool line_end_at(const unsigned char *s, size_t i, size_t len)
{
    return s[i] == '\n' || (s[i] == '\r' && i + 1 < len && s[i + 1] != '\n');
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* true when sorted[0..n) holds v at least `times` times (times >= 1); a binary search, so a
 * text of one line repeated costs n log n, not n^2. */
static bool repeated_at_least(const uint64_t *sorted, size_t n, uint64_t v, size_t times)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n - lo >= times && sorted[lo + times - 1] == v;
}

/* Finds the lines to leave out of the first DETECTOR_LINE_SCAN_BYTES of text. On success
 * *spans_out holds *count_out byte ranges in order (malloc'd; NULL when there are none). */
static enum lode_code structured_lines(const char *text, size_t len,
                                       struct detector_span **spans_out, size_t *count_out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t scan = len < DETECTOR_LINE_SCAN_BYTES ? len : DETECTOR_LINE_SCAN_BYTES;
    size_t nlines = 1, n = 0, out = 0;
    struct line_info *lines;
    struct detector_span *spans;
    uint64_t *sorted;

    *spans_out = NULL;
    *count_out = 0;
    for (size_t i = 0; i < scan; i++)
        nlines += line_end_at(s, i, len);
    if (nlines < 2)
        return LODE_OK; /* one line: the letter-share check of the whole text covers it */
    lines = malloc(nlines * sizeof *lines);
    sorted = malloc(nlines * sizeof *sorted);
    if (lines == NULL || sorted == NULL) {
        free(lines);
        free(sorted);
        return LODE_ENOMEM;
    }
    for (size_t i = 0, start = 0; i <= scan; i++) {
        if (i < scan && !line_end_at(s, i, len))
            continue;
        if (i == scan && scan < len)
            break; /* a line cut by the scan limit is kept */
        lines[n].start = (uint32_t)start;
        lines[n].end = (uint32_t)i;
        line_classify(s, &lines[n]);
        sorted[n] = lines[n].hash;
        n++;
        start = i + 1;
    }
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    spans = malloc((n ? n : 1) * sizeof *spans);
    if (spans == NULL) {
        free(lines);
        free(sorted);
        return LODE_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        const struct line_info *l = &lines[k];
        if (l->table || (l->template_ok && repeated_at_least(sorted, n, l->hash,
                                                             DETECTOR_TEMPLATE_REPEATS))) {
            spans[out].start = l->start;
            spans[out].len = l->end - l->start;
            out++;
        }
    }
    free(lines);
    free(sorted);
    if (out == 0) {
        free(spans);
        return LODE_OK;
    }
    *spans_out = spans;
    *count_out = out;
    return LODE_OK;
}

enum lode_code detector_text_prepare(const char *text, size_t len, struct detector_text *out,
                                     bool *insufficient_out, struct lode_error *err)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t cap = DETECTOR_WINDOW_BYTES + 64, off = 0, codepoints = 0;
    bool pending_space = false, nul = false;
    struct detector_span *skip = NULL;
    size_t nskip = 0, next_skip = 0;
    const utf8proc_option_t opts =
        UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK;

    memset(out, 0, sizeof *out);
    *insufficient_out = true;
    if (len > LODE_DETECTOR_TEXT_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "text is larger than %u bytes",
                              LODE_DETECTOR_TEXT_BYTES_MAX);
    out->buf = malloc(cap);
    if (out->buf == NULL || structured_lines(text, len, &skip, &nskip) != LODE_OK) {
        detector_text_release(out);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the text buffer");
    }
    while (off < len) {
        utf8proc_int32_t cp, dec[16];
        utf8proc_ssize_t n = utf8proc_iterate(p + off, (utf8proc_ssize_t)(len - off), &cp);
        if (n < 0) {
            free(skip);
            detector_text_release(out);
            return lode_error_set(err, LODE_EINVAL, "text is not valid UTF-8 (byte %zu)", off);
        }
        if (off >= DETECTOR_LINE_SCAN_BYTES)
            out->truncated = true; /* lines past the scan were never classified */
        while (next_skip < nskip && off >= (size_t)skip[next_skip].start + skip[next_skip].len)
            next_skip++;
        bool skipped = next_skip < nskip && off >= skip[next_skip].start;
        if (skipped && off == skip[next_skip].start && !out->truncated)
            out->lines_left_out++;
        off += (size_t)n;
        codepoints++;
        if (cp == 0)
            nul = true;
        if (out->truncated)
            continue; /* keep validating the rest */
        utf8proc_category_t cat = utf8proc_category(cp);
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7f && cp < 0xa0))
            out->controls++;
        if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) {
            out->letters++;
            if (is_latin_letter(cp))
                out->latin_letters++;
        }
        if (!(cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP) && cp != ' ' &&
            cp != '\t' && cp != '\n' && cp != '\r')
            out->nonspace++;
        int last_boundclass = 0;
        utf8proc_ssize_t nd = utf8proc_decompose_char(cp, dec, 16, opts, &last_boundclass);
        if (nd < 0 || nd > 16)
            nd = 0;
        for (utf8proc_ssize_t k = 0; k < nd && !skipped; k++) {
            char c = ascii_of(dec[k]);
            if (c != 0)
                emit(out, &pending_space, c);
        }
        if (out->len >= DETECTOR_WINDOW_BYTES) {
            /* cut back to the last space so that no word is split */
            size_t cut = out->len;
            while (cut > 0 && out->buf[cut - 1] != ' ')
                cut--;
            if (cut > DETECTOR_WINDOW_BYTES / 2)
                out->len = cut - 1;
            out->truncated = true;
        }
    }
    free(skip);
    if (nul || out->controls * 100 > codepoints) {
        detector_text_release(out);
        return lode_error_set(err, LODE_EINVAL, "input looks like binary data, not text");
    }
    glue_tokens(out);
    out->words = malloc((out->len / 2 + 1) * sizeof *out->words);
    if (out->words == NULL) {
        detector_text_release(out);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the word list");
    }
    tokenise(out);
    for (size_t i = 0; i < out->len; i++)
        if (out->buf[i] == '.' || out->buf[i] == '!' || out->buf[i] == '?')
            if (i + 1 == out->len || out->buf[i + 1] == ' ')
                out->sentences++;
    *insufficient_out = false;
    if (out->nonspace >= 20 && out->letters * 10 < out->nonspace * 6) {
        size_t pct = out->letters * 100 / out->nonspace;
        detector_text_release(out);
        return lode_error_set(err, LODE_EINVAL,
                              "mostly not words: only %zu%% of the characters are letters", pct);
    }
    if (out->letters >= 20 && out->latin_letters * 10 < out->letters * 9) {
        detector_text_release(out);
        return lode_error_set(err, LODE_EINVAL,
                              "written in a script the model was not trained on (it knows "
                              "English text only)");
    }
    if (out->nwords < DETECTOR_MIN_WORDS) {
        size_t n = out->nwords, left_out = out->lines_left_out;
        detector_text_release(out);
        *insufficient_out = true;
        if (left_out > 0)
            return lode_error_set(err, LODE_EINVAL,
                                  "too short to judge: %zu words besides %zu lines of program "
                                  "output or tables, at least %d are needed",
                                  n, left_out, DETECTOR_MIN_WORDS);
        return lode_error_set(err, LODE_EINVAL,
                              "too short to judge: %zu words, at least %d are needed", n,
                              DETECTOR_MIN_WORDS);
    }
    if (out->function_words * 100 < out->nwords * 15) {
        detector_text_release(out);
        return lode_error_set(err, LODE_EINVAL,
                              "does not read as English (few English function words): the "
                              "model knows English text only");
    }
    return LODE_OK;
}

void detector_text_release(struct detector_text *t)
{
    free(t->buf);
    free(t->words);
    t->buf = NULL;
    t->words = NULL;
    t->len = t->nwords = 0;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint32_t bucket_of(uint64_t h)
{
    return (uint32_t)(mix64(h) >> (64 - DETECTOR_TABLE_BITS));
}

size_t detector_char_grams(const struct detector_text *t, detector_gram_fn fn, void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i + DETECTOR_CHAR_N <= t->len; i++) {
        fn(bucket_of(hash_bytes(t->buf + i, DETECTOR_CHAR_N)), ctx);
        n++;
    }
    return n;
}

size_t detector_word_grams(const struct detector_text *t, detector_gram_fn fn, void *ctx)
{
    uint64_t prev = 0;
    size_t n = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        uint64_t h = hash_bytes(t->buf + t->words[i].start, t->words[i].len);
        fn(bucket_of(h), ctx);
        n++;
        if (i > 0) {
            fn(bucket_of(mix64(prev) ^ (h * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995ull), ctx);
            n++;
        }
        prev = h;
    }
    return n;
}

uint32_t detector_word_bucket(const struct detector_text *t, size_t i)
{
    return bucket_of(hash_bytes(t->buf + t->words[i].start, t->words[i].len));
}

size_t detector_word_unigrams(const struct detector_text *t, detector_gram_fn fn, void *ctx)
{
    for (size_t i = 0; i < t->nwords; i++)
        fn(detector_word_bucket(t, i), ctx);
    return t->nwords;
}

static bool same_word(const struct detector_text *t, size_t a, size_t b)
{
    return t->words[a].len == t->words[b].len &&
           memcmp(t->buf + t->words[a].start, t->buf + t->words[b].start, t->words[a].len) == 0;
}

/* true when word i is one of the words [from, to) */
static bool occurs_in(const struct detector_text *t, size_t i, size_t from, size_t to)
{
    for (size_t j = from; j < to; j++)
        if (same_word(t, i, j))
            return true;
    return false;
}

/* Moving-average type-token ratio over windows of `w` words. */
static double mattr(const struct detector_text *t, size_t w)
{
    size_t n = t->nwords, distinct = 0;
    double sum = 0;
    size_t windows = 0;
    if (n < w)
        w = n;
    if (w == 0)
        return 0;
    for (size_t i = 0; i < w; i++)
        distinct += !occurs_in(t, i, 0, i);
    sum = (double)distinct / (double)w;
    windows = 1;
    for (size_t i = w; i < n; i++) {
        /* drop word i-w: distinct falls if it does not recur in (i-w, i) */
        distinct -= !occurs_in(t, i - w, i - w + 1, i);
        distinct += !occurs_in(t, i, i - w + 1, i);
        sum += (double)distinct / (double)w;
        windows++;
    }
    return sum / (double)windows;
}

/* Share of word 3-grams that repeat an earlier 3-gram of the same 100-word window, averaged
 * over the consecutive windows (a last window shorter than 50 words is left out unless it is
 * the only one): fixed windows keep the rate independent of the text's length. */
#define TRIGRAM_WINDOW 100
static double trigram_repeat(const struct detector_text *t)
{
    uint64_t h[TRIGRAM_WINDOW];
    double sum = 0;
    size_t windows = 0;
    for (size_t start = 0; start < t->nwords; start += TRIGRAM_WINDOW) {
        size_t end = start + TRIGRAM_WINDOW < t->nwords ? start + TRIGRAM_WINDOW : t->nwords;
        size_t n = 0, repeats = 0;
        if (end - start < TRIGRAM_WINDOW / 2 && windows > 0)
            break;
        for (size_t i = start + 2; i < end; i++) {
            uint64_t x = 0x9e3779b97f4a7c15ull;
            for (size_t k = i - 2; k <= i; k++)
                x = mix64(x ^ hash_bytes(t->buf + t->words[k].start, t->words[k].len));
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = h[j] == x;
            repeats += seen;
            h[n++] = x;
        }
        if (n == 0)
            continue;
        sum += (double)repeats / (double)n;
        windows++;
    }
    return windows > 0 ? sum / (double)windows : 0;
}

/* Words of the assistant list per word. A word counts only when it did not occur in the
 * DETECTOR_ASSISTANT_WINDOW words before it: a term of art repeated ("potential energy", "various
 * tribes") is the topic, while the style shows in how many such words a text reaches for. */
static double assistant_rate(const struct detector_text *t)
{
    size_t hits = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        if (!in_word_list(assistant_words, sizeof assistant_words / sizeof assistant_words[0],
                          t->buf + t->words[i].start, t->words[i].len))
            continue;
        hits += !occurs_in(t, i, i > DETECTOR_ASSISTANT_WINDOW ? i - DETECTOR_ASSISTANT_WINDOW : 0,
                           i);
    }
    return t->nwords > 0 ? (double)hits / (double)t->nwords : 0;
}

/* true when a sentence ends between word i and the next word (or the end of the text) */
static bool sentence_ends_after(const struct detector_text *t, size_t i)
{
    size_t from = t->words[i].start + t->words[i].len;
    size_t to = i + 1 < t->nwords ? t->words[i + 1].start : t->len;
    for (size_t p = from; p < to; p++) {
        char c = t->buf[p];
        if ((c == '.' || c == '!' || c == '?') && (p + 1 == t->len || t->buf[p + 1] == ' '))
            return true;
    }
    return false;
}

double detector_sentence_spread(const struct detector_text *t, const double *value)
{
    double sum = 0, sumsq = 0, acc = 0;
    size_t nsent = 0, words = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        acc += value[i];
        words++;
        if (sentence_ends_after(t, i) || i + 1 == t->nwords) {
            if (words >= 3) {
                double m = acc / (double)words;
                sum += m;
                sumsq += m * m;
                nsent++;
            }
            acc = 0;
            words = 0;
        }
    }
    if (nsent < 2)
        return 0;
    double mean = sum / (double)nsent, var = sumsq / (double)nsent - mean * mean;
    return var > 0 ? sqrt(var) : 0;
}

void detector_rank_features(const size_t counts[DETECTOR_RANK_CLASSES], size_t nwords,
                            double f[DETECTOR_FEATURE_COUNT])
{
    double nw = nwords > 0 ? (double)nwords : 1.0;
    f[FEAT_RANK_TOP10] = (double)counts[0] / nw;
    f[FEAT_RANK_TOP100] = (double)counts[1] / nw;
    f[FEAT_RANK_TOP1000] = (double)counts[2] / nw;
}

void detector_text_style(const struct detector_text *t, double f[DETECTOR_FEATURE_COUNT])
{
    size_t commas = 0, semis = 0, parens = 0, qe = 0, chars = 0;
    double sum = 0, sumsq = 0;
    size_t nsent = 0, cur = 0, wi = 0;

    for (size_t i = 0; i < t->len; i++) {
        char c = t->buf[i];
        commas += c == ',';
        semis += c == ';' || c == ':';
        parens += c == '(' || c == ')';
        qe += c == '?' || c == '!';
        /* count words ending before i into the current sentence */
        while (wi < t->nwords && t->words[wi].start + t->words[wi].len <= i) {
            cur++;
            wi++;
        }
        if ((c == '.' || c == '!' || c == '?') && (i + 1 == t->len || t->buf[i + 1] == ' ') &&
            cur > 0) {
            sum += (double)cur;
            sumsq += (double)cur * (double)cur;
            nsent++;
            cur = 0;
        }
    }
    cur += t->nwords - wi;
    if (cur > 0) {
        sum += (double)cur;
        sumsq += (double)cur * (double)cur;
        nsent++;
    }
    for (size_t i = 0; i < t->nwords; i++)
        chars += t->words[i].len;
    double nw = t->nwords > 0 ? (double)t->nwords : 1.0;
    double ns = nsent > 0 ? (double)nsent : 1.0;
    double mean = sum / ns;
    double var = sumsq / ns - mean * mean;
    f[FEAT_SENT_CV] = mean > 0 && var > 0 ? sqrt(var) / mean : 0;
    f[FEAT_SENT_MEAN_LOG] = log(mean > 1 ? mean : 1);
    f[FEAT_MATTR] = mattr(t, 50);
    f[FEAT_WORD_LEN] = (double)chars / nw;
    f[FEAT_COMMA] = (double)commas / nw;
    f[FEAT_SEMI_COLON] = (double)semis / nw;
    f[FEAT_PAREN] = (double)parens / nw;
    f[FEAT_QUESTION_EXCL] = (double)qe / ns;
    f[FEAT_FUNCTION] = (double)t->function_words / nw;
    f[FEAT_TRIGRAM_REPEAT] = trigram_repeat(t);
    f[FEAT_ASSISTANT_VOCAB] = assistant_rate(t);
}

ZSTD_CDict *detector_cdict_create(const void *dict, size_t len)
{
    return ZSTD_createCDict(dict, len, DETECTOR_ZSTD_LEVEL);
}

size_t detector_compressed_size(const ZSTD_CDict *dict, const struct detector_text *t)
{
    size_t cap = ZSTD_compressBound(t->len), r;
    void *dst = malloc(cap);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (dst == NULL || cctx == NULL) {
        free(dst);
        ZSTD_freeCCtx(cctx);
        return 0;
    }
    r = ZSTD_compress_usingCDict(cctx, dst, cap, t->buf, t->len, dict);
    free(dst);
    ZSTD_freeCCtx(cctx);
    return ZSTD_isError(r) ? 0 : r;
}

size_t detector_lm_grams(const char *buf, size_t len, detector_gram_fn fn, void *ctx)
{
    size_t n = 0;
    for (size_t k = 0; k < len; k++)
        for (size_t order = 1; order <= DETECTOR_LM_ORDER && order <= k + 1; order++) {
            fn(bucket_of(hash_bytes(buf + k + 1 - order, order)), ctx);
            n++;
        }
    return n;
}

static double lm_count(const struct detector_lm *lm, const char *g, size_t n)
{
    uint32_t b = bucket_of(hash_bytes(g, n));
    double c = lm->counts[b] - (lm->minus != NULL ? lm->minus[b] : 0);
    return c > 0 ? c : 0;
}

double detector_lm_log2p(const struct detector_lm *lm, const char *buf, size_t k)
{
    /* interpolated estimate: the add-half unigram, then each longer context mixed in with
     * weight count(context) / (count(context) + 3), as long as the context was seen */
    double p = (lm_count(lm, buf + k, 1) + 0.5) / (lm->total + 0.5 * DETECTOR_LM_ALPHABET);
    for (size_t order = 2; order <= DETECTOR_LM_ORDER && order <= k + 1; order++) {
        const char *g = buf + k + 1 - order;
        double cc = lm_count(lm, g, order - 1);
        if (cc <= 0)
            break;
        double lambda = cc / (cc + 3.0);
        p = lambda * lm_count(lm, g, order) / cc + (1 - lambda) * p;
    }
    return log2(p < 1 ? p : 1); /* hash collisions can push an estimate past 1 */
}

double detector_reference_llr(const struct detector_lm *reference,
                              const struct detector_lm *background, const struct detector_text *t)
{
    size_t n = t->len < DETECTOR_REF_WINDOW ? t->len : DETECTOR_REF_WINDOW;
    double sum = 0;
    if (n == 0 || reference->total <= 0 || background->total <= 0)
        return 0;
    for (size_t k = 0; k < n; k++)
        sum += detector_lm_log2p(reference, t->buf, k) - detector_lm_log2p(background, t->buf, k);
    return sum / (double)n;
}

enum lode_code detector_reference_prepare(const char *corpus, size_t len, char **out,
                                          size_t *len_out, size_t *pieces_out,
                                          struct lode_error *err)
{
    char *buf = malloc(DETECTOR_DICT_BYTES_MAX);
    size_t used = 0, pieces = 0, off = 0;
    if (buf == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the reference corpus");
    while (off < len) {
        /* a piece runs to the next line holding only "%%" */
        size_t start = off, end = off;
        for (;;) {
            const char *nl = memchr(corpus + end, '\n', len - end);
            size_t line_end = nl != NULL ? (size_t)(nl - corpus) : len;
            size_t l = line_end - end;
            if (l >= 2 && corpus[end] == '%' && corpus[end + 1] == '%' &&
                (l == 2 || (l == 3 && corpus[end + 2] == '\r'))) {
                off = line_end < len ? line_end + 1 : len;
                break;
            }
            end = line_end < len ? line_end + 1 : len;
            if (end >= len) {
                off = len;
                break;
            }
        }
        struct detector_text t;
        struct lode_error why;
        bool insufficient;
        enum lode_code rc = detector_text_prepare(corpus + start, end - start, &t, &insufficient,
                                                  &why);
        if (rc == LODE_ENOMEM) {
            free(buf);
            return lode_error_set(err, rc, "%s", why.message);
        }
        if (rc != LODE_OK)
            continue;
        if (used + t.len + 1 > DETECTOR_DICT_BYTES_MAX) {
            detector_text_release(&t);
            free(buf);
            return lode_error_set(err, LODE_EINVAL, "the reference corpus is larger than %u bytes",
                                  DETECTOR_DICT_BYTES_MAX);
        }
        memcpy(buf + used, t.buf, t.len);
        used += t.len;
        buf[used++] = '\n';
        pieces++;
        detector_text_release(&t);
    }
    if (pieces == 0) {
        free(buf);
        return lode_error_set(err, LODE_EINVAL, "the reference corpus has no usable piece");
    }
    *out = buf;
    *len_out = used;
    *pieces_out = pieces;
    return LODE_OK;
}

enum lode_code detector_text_features(const char *text, size_t len,
                                      double features_out[DETECTOR_FEATURE_COUNT],
                                      size_t *words_out, struct lode_error *err)
{
    struct detector_text t;
    bool insufficient;
    enum lode_code rc = detector_text_prepare(text, len, &t, &insufficient, err);
    if (rc != LODE_OK)
        return rc;
    memset(features_out, 0, sizeof(double) * DETECTOR_FEATURE_COUNT);
    detector_text_style(&t, features_out);
    *words_out = t.nwords;
    detector_text_release(&t);
    return LODE_OK;
}
