/*
 * ledger/note.c — signed notes, Ed25519 keys in note text form, checkpoints.
 */
#include "ledger/note.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "core/encoding.h"

#define ALG_ED25519 0x01
#define SIG_PREFIX "\xe2\x80\x94 " /* em dash, space */
#define SIG_PREFIX_BYTES 4
#define SIG_B64_BYTES_MAX 1024     /* base64 of one signature line, any algorithm */

/* Valid UTF-8 without control characters other than '\n'. */
static bool text_is_clean(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || (cp < 0x20 && cp != '\n') || cp == 0x7f)
            return false;
        i += (size_t)n;
    }
    return true;
}

static bool is_space(utf8proc_int32_t cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0)
        return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool note_name_is_valid(const char *name, size_t len)
{
    size_t i = 0;

    if (len == 0 || len > LODE_NOTE_NAME_BYTES_MAX)
        return false;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)name + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || cp < 0x20 || cp == 0x7f || cp == '+' || is_space(cp))
            return false;
        i += (size_t)n;
    }
    return true;
}

uint32_t note_key_id(const char *name, size_t name_len, const uint8_t public_key[NOTE_KEY_BYTES])
{
    crypto_hash_sha256_state st;
    uint8_t digest[crypto_hash_sha256_BYTES];
    static const uint8_t sep[2] = {'\n', ALG_ED25519};

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, name_len);
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, public_key, NOTE_KEY_BYTES);
    crypto_hash_sha256_final(&st, digest);
    return ((uint32_t)digest[0] << 24) | ((uint32_t)digest[1] << 16) |
           ((uint32_t)digest[2] << 8) | digest[3];
}

/* Splits "name+<8 lower hex>+<base64 of 0x01 || 32 bytes>" into its parts. */
static enum lode_code parse_key_text(const char *text, size_t len, char *name_out,
                                     uint32_t *key_id_out, uint8_t key_out[NOTE_KEY_BYTES],
                                     struct lode_error *err)
{
    const char *plus1 = memchr(text, '+', len), *plus2;
    uint8_t raw[NOTE_KEY_BYTES + 1];
    size_t name_len, raw_len = 0;
    uint32_t id = 0;

    if (len > NOTE_KEY_TEXT_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "key text is longer than %d bytes",
                              NOTE_KEY_TEXT_BYTES_MAX);
    if (plus1 == NULL)
        return lode_error_set(err, LODE_EINVAL, "key text has no name");
    name_len = (size_t)(plus1 - text);
    if (!note_name_is_valid(text, name_len))
        return lode_error_set(err, LODE_EINVAL, "key name is not valid");
    plus2 = plus1 + 1 + 8;
    if ((size_t)(plus2 - text) >= len || *plus2 != '+')
        return lode_error_set(err, LODE_EINVAL, "key id is not 8 hex digits");
    for (const char *p = plus1 + 1; p < plus2; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (d < 0)
            return lode_error_set(err, LODE_EINVAL, "key id is not 8 lower-case hex digits");
        id = (id << 4) | (uint32_t)d;
    }
    if (!base64_decode(plus2 + 1, len - (size_t)(plus2 + 1 - text), raw, sizeof raw, &raw_len) ||
        raw_len != sizeof raw)
        return lode_error_set(err, LODE_EINVAL, "key is not base64 of 33 bytes");
    if (raw[0] != ALG_ED25519)
        return lode_error_set(err, LODE_EINVAL, "key algorithm %u is not supported (Ed25519 is 1)",
                              raw[0]);
    memcpy(name_out, text, name_len);
    name_out[name_len] = '\0';
    *key_id_out = id;
    memcpy(key_out, raw + 1, NOTE_KEY_BYTES);
    sodium_memzero(raw, sizeof raw);
    return LODE_OK;
}

enum lode_code note_verifier_parse(const char *text, size_t len, struct note_verifier *out,
                                   struct lode_error *err)
{
    struct note_verifier v;
    enum lode_code rc = parse_key_text(text, len, v.name, &v.key_id, v.public_key, err);

    if (rc != LODE_OK)
        return rc;
    if (note_key_id(v.name, strlen(v.name), v.public_key) != v.key_id)
        return lode_error_set(err, LODE_EINVAL, "key id does not match the key");
    *out = v;
    return LODE_OK;
}

static enum lode_code format_key_text(const char *prefix, const char *name, uint32_t key_id,
                                      const uint8_t key[NOTE_KEY_BYTES], char *out, size_t cap)
{
    uint8_t raw[NOTE_KEY_BYTES + 1];
    char b64[BASE64_ENCODED_BYTES(NOTE_KEY_BYTES + 1)];
    int n;

    if (!note_name_is_valid(name, strlen(name)))
        return LODE_EINVAL;
    raw[0] = ALG_ED25519;
    memcpy(raw + 1, key, NOTE_KEY_BYTES);
    base64_encode(raw, sizeof raw, b64);
    sodium_memzero(raw, sizeof raw);
    n = snprintf(out, cap, "%s%s+%08" PRIx32 "+%s", prefix, name, key_id, b64);
    sodium_memzero(b64, sizeof b64);
    return n < 0 || (size_t)n >= cap ? LODE_EINVAL : LODE_OK;
}

enum lode_code note_verifier_format(const struct note_verifier *v, char *out, size_t cap)
{
    return format_key_text("", v->name, v->key_id, v->public_key, out, cap);
}

enum lode_code note_signer_create(const char *name, const uint8_t *seed, struct note_signer *out)
{
    uint8_t fresh[crypto_sign_SEEDBYTES];
    size_t len = strlen(name);

    if (!note_name_is_valid(name, len))
        return LODE_EINVAL;
    if (seed == NULL) {
        randombytes_buf(fresh, sizeof fresh);
        seed = fresh;
    }
    memcpy(out->name, name, len + 1);
    crypto_sign_seed_keypair(out->public_key, out->secret_key, seed);
    out->key_id = note_key_id(name, len, out->public_key);
    sodium_memzero(fresh, sizeof fresh);
    return LODE_OK;
}

enum lode_code note_signer_parse(const char *text, size_t len, struct note_signer *out,
                                 struct lode_error *err)
{
    static const char prefix[] = "PRIVATE+KEY+";
    char name[LODE_NOTE_NAME_BYTES_MAX + 1];
    uint8_t seed[NOTE_KEY_BYTES];
    uint32_t key_id = 0;
    enum lode_code rc;

    if (len < sizeof prefix - 1 || memcmp(text, prefix, sizeof prefix - 1) != 0)
        return lode_error_set(err, LODE_EINVAL, "signer key text does not start with PRIVATE+KEY+");
    rc = parse_key_text(text + sizeof prefix - 1, len - (sizeof prefix - 1), name, &key_id, seed,
                        err);
    if (rc == LODE_OK)
        rc = note_signer_create(name, seed, out);
    sodium_memzero(seed, sizeof seed);
    if (rc != LODE_OK)
        return lode_error_set(err, rc, "signer key name is not valid");
    if (out->key_id != key_id) {
        note_signer_wipe(out);
        return lode_error_set(err, LODE_EINVAL, "key id does not match the key");
    }
    return LODE_OK;
}

enum lode_code note_signer_format(const struct note_signer *s, char *out, size_t cap)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    enum lode_code rc;

    crypto_sign_ed25519_sk_to_seed(seed, s->secret_key);
    rc = format_key_text("PRIVATE+KEY+", s->name, s->key_id, seed, out, cap);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

void note_signer_verifier(const struct note_signer *s, struct note_verifier *out)
{
    memcpy(out->name, s->name, sizeof out->name);
    out->key_id = s->key_id;
    memcpy(out->public_key, s->public_key, NOTE_KEY_BYTES);
}

void note_signer_wipe(struct note_signer *s)
{
    sodium_memzero(s, sizeof *s);
}

enum lode_code note_sign(const char *text, size_t text_len, const struct note_signer *signers,
                         size_t signer_count, char *out, size_t cap, size_t *len_out)
{
    size_t len;

    if (text_len == 0 || text[text_len - 1] != '\n' || !text_is_clean(text, text_len) ||
        signer_count == 0 || signer_count > LODE_NOTE_SIGNATURES_MAX)
        return LODE_EINVAL;
    if (text_len + 1 > cap)
        return LODE_EINVAL;
    memcpy(out, text, text_len);
    out[text_len] = '\n';
    len = text_len + 1;
    for (size_t i = 0; i < signer_count; i++) {
        uint8_t sig[4 + NOTE_SIGNATURE_BYTES];
        char b64[BASE64_ENCODED_BYTES(sizeof sig)];
        size_t name_len = strlen(signers[i].name);
        size_t line_len;

        sig[0] = (uint8_t)(signers[i].key_id >> 24);
        sig[1] = (uint8_t)(signers[i].key_id >> 16);
        sig[2] = (uint8_t)(signers[i].key_id >> 8);
        sig[3] = (uint8_t)signers[i].key_id;
        crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, text_len,
                             signers[i].secret_key);
        base64_encode(sig, sizeof sig, b64);
        line_len = SIG_PREFIX_BYTES + name_len + 1 + strlen(b64) + 1;
        if (len + line_len > LODE_NOTE_BYTES_MAX)
            return LODE_ETOOBIG;
        if (len + line_len > cap)
            return LODE_EINVAL;
        memcpy(out + len, SIG_PREFIX, SIG_PREFIX_BYTES);
        memcpy(out + len + SIG_PREFIX_BYTES, signers[i].name, name_len);
        out[len + SIG_PREFIX_BYTES + name_len] = ' ';
        memcpy(out + len + SIG_PREFIX_BYTES + name_len + 1, b64, strlen(b64));
        out[len + line_len - 1] = '\n';
        len += line_len;
    }
    *len_out = len;
    return LODE_OK;
}

struct seen_sig {
    const char *name;
    size_t name_len;
    uint32_t key_id;
};

enum lode_code note_open(const char *note, size_t len, const struct note_verifier *verifiers,
                         size_t verifier_count, size_t *text_len_out, bool *verified_out,
                         struct lode_error *err)
{
    struct seen_sig seen[LODE_NOTE_SIGNATURES_MAX];
    size_t seen_count = 0, text_len, pos, verified = 0;

    if (len > LODE_NOTE_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "note is longer than %d bytes",
                              LODE_NOTE_BYTES_MAX);
    if (!text_is_clean(note, len))
        return lode_error_set(err, LODE_EINVAL,
                              "note is not UTF-8 text without control characters");
    if (verified_out != NULL)
        for (size_t i = 0; i < verifier_count; i++)
            verified_out[i] = false;
    /* the signature block follows the last blank line */
    text_len = 0;
    for (size_t i = len; i >= 2; i--)
        if (note[i - 2] == '\n' && note[i - 1] == '\n') {
            text_len = i - 1;
            break;
        }
    if (text_len == 0)
        return lode_error_set(err, LODE_EINVAL, "note has no signature block");
    pos = text_len + 1;
    if (pos >= len || note[len - 1] != '\n')
        return lode_error_set(err, LODE_EINVAL, "note has no signature lines");
    while (pos < len) {
        const char *line = note + pos;
        const char *end = memchr(line, '\n', len - pos);
        size_t line_len = (size_t)(end - line), name_len;
        const char *space;
        uint8_t sig[(SIG_B64_BYTES_MAX / 4) * 3];
        size_t sig_len = 0;
        uint32_t key_id;

        pos += line_len + 1;
        if (line_len < SIG_PREFIX_BYTES || memcmp(line, SIG_PREFIX, SIG_PREFIX_BYTES) != 0)
            return lode_error_set(err, LODE_EINVAL, "note signature line does not start with "
                                                    "an em dash and a space");
        line += SIG_PREFIX_BYTES;
        line_len -= SIG_PREFIX_BYTES;
        space = memchr(line, ' ', line_len);
        if (space == NULL)
            return lode_error_set(err, LODE_EINVAL, "note signature line has no signature");
        name_len = (size_t)(space - line);
        if (!note_name_is_valid(line, name_len))
            return lode_error_set(err, LODE_EINVAL, "note signature line has an invalid name");
        if (line_len - name_len - 1 > SIG_B64_BYTES_MAX ||
            !base64_decode(space + 1, line_len - name_len - 1, sig, sizeof sig, &sig_len) ||
            sig_len < 5)
            return lode_error_set(err, LODE_EINVAL, "note signature is not valid base64");
        if (seen_count >= LODE_NOTE_SIGNATURES_MAX)
            return lode_error_set(err, LODE_EINVAL, "note has more than %d signatures",
                                  LODE_NOTE_SIGNATURES_MAX);
        key_id = ((uint32_t)sig[0] << 24) | ((uint32_t)sig[1] << 16) | ((uint32_t)sig[2] << 8) |
                 sig[3];
        for (size_t i = 0; i < seen_count; i++)
            if (seen[i].key_id == key_id && seen[i].name_len == name_len &&
                memcmp(seen[i].name, line, name_len) == 0)
                return lode_error_set(err, LODE_EINVAL, "note has two signatures by one key");
        seen[seen_count].name = line;
        seen[seen_count].name_len = name_len;
        seen[seen_count].key_id = key_id;
        seen_count++;
        for (size_t i = 0; i < verifier_count; i++) {
            const struct note_verifier *v = &verifiers[i];
            if (v->key_id != key_id || strlen(v->name) != name_len ||
                memcmp(v->name, line, name_len) != 0)
                continue;
            if (sig_len != 4 + NOTE_SIGNATURE_BYTES ||
                crypto_sign_verify_detached(sig + 4, (const uint8_t *)note, text_len,
                                            v->public_key) != 0)
                return lode_error_set(err, LODE_EVERIFY,
                                      "signature by \"%.100s\" does not verify", v->name);
            if (verified_out != NULL)
                verified_out[i] = true;
            verified++;
        }
    }
    if (verified == 0)
        return lode_error_set(err, LODE_EVERIFY, "note carries no signature by a known key");
    *text_len_out = text_len;
    return LODE_OK;
}

enum lode_code checkpoint_format(const struct checkpoint *cp, char *out, size_t cap,
                                 size_t *len_out)
{
    char root[BASE64_ENCODED_BYTES(MERKLE_HASH_BYTES)];
    size_t origin_len = strlen(cp->origin);
    int n;

    if (origin_len == 0 || origin_len > LODE_NOTE_NAME_BYTES_MAX ||
        memchr(cp->origin, '\n', origin_len) != NULL || cp->size > MERKLE_TREE_SIZE_MAX ||
        cp->extensions_len > LODE_CHECKPOINT_EXTENSION_BYTES_MAX ||
        (cp->extensions_len > 0 && cp->extensions[cp->extensions_len - 1] != '\n'))
        return LODE_EINVAL;
    base64_encode(cp->root, MERKLE_HASH_BYTES, root);
    n = snprintf(out, cap, "%s\n%" PRIu64 "\n%s\n", cp->origin, cp->size, root);
    if (n < 0 || (size_t)n + cp->extensions_len > cap)
        return LODE_EINVAL;
    memcpy(out + n, cp->extensions, cp->extensions_len);
    *len_out = (size_t)n + cp->extensions_len;
    return LODE_OK;
}

enum lode_code checkpoint_parse(const char *text, size_t len, struct checkpoint *out,
                                struct lode_error *err)
{
    struct checkpoint cp;
    const char *line[3];
    size_t line_len[3], pos = 0, root_len = 0;

    memset(&cp, 0, sizeof cp);
    if (len > LODE_NOTE_BYTES_MAX || !text_is_clean(text, len))
        return lode_error_set(err, LODE_EINVAL, "checkpoint is not clean text");
    for (int i = 0; i < 3; i++) {
        const char *end = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
        if (end == NULL)
            return lode_error_set(err, LODE_EINVAL, "checkpoint has fewer than 3 lines");
        line[i] = text + pos;
        line_len[i] = (size_t)(end - line[i]);
        pos += line_len[i] + 1;
    }
    if (line_len[0] == 0 || line_len[0] > LODE_NOTE_NAME_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "checkpoint origin is empty or too long");
    memcpy(cp.origin, line[0], line_len[0]);
    if (line_len[1] == 0 || line_len[1] > 19 || (line[1][0] == '0' && line_len[1] > 1))
        return lode_error_set(err, LODE_EINVAL, "checkpoint size is not a decimal number");
    for (size_t i = 0; i < line_len[1]; i++) {
        if (line[1][i] < '0' || line[1][i] > '9')
            return lode_error_set(err, LODE_EINVAL, "checkpoint size is not a decimal number");
        cp.size = cp.size * 10 + (uint64_t)(line[1][i] - '0');
    }
    if (cp.size > MERKLE_TREE_SIZE_MAX)
        return lode_error_set(err, LODE_EINVAL, "checkpoint size is too large");
    if (!base64_decode(line[2], line_len[2], cp.root, sizeof cp.root, &root_len) ||
        root_len != MERKLE_HASH_BYTES)
        return lode_error_set(err, LODE_EINVAL, "checkpoint root is not base64 of 32 bytes");
    if (len - pos > LODE_CHECKPOINT_EXTENSION_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "checkpoint extension lines are too long");
    for (size_t i = pos; i < len; i++)
        if (text[i] == '\n' && (i == pos || text[i - 1] == '\n'))
            return lode_error_set(err, LODE_EINVAL, "checkpoint has an empty extension line");
    if (pos < len && text[len - 1] != '\n')
        return lode_error_set(err, LODE_EINVAL, "checkpoint does not end with a newline");
    memcpy(cp.extensions, text + pos, len - pos);
    cp.extensions_len = len - pos;
    *out = cp;
    return LODE_OK;
}

enum lode_code checkpoint_open(const char *note, size_t len, const struct note_verifier *verifier,
                               struct checkpoint *out, struct lode_error *err)
{
    size_t text_len = 0;
    enum lode_code rc = note_open(note, len, verifier, 1, &text_len, NULL, err);

    if (rc != LODE_OK)
        return rc;
    return checkpoint_parse(note, text_len, out, err);
}
