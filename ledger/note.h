/*
 * ledger/note.h — C2SP signed notes with Ed25519 keys, and checkpoints (C2SP tlog-checkpoint).
 *
 * What: a note is UTF-8 text ending in a newline, a blank line, then signature lines
 * `— <name> <base64(4-byte key id || signature)>\n`. The key id is the first 4 bytes of
 * SHA-256(name || 0x0A || 0x01 || public key), big-endian. Keys travel as text:
 *   verifier  name+<8 hex key id>+base64(0x01 || 32-byte public key)
 *   signer    PRIVATE+KEY+name+<8 hex key id>+base64(0x01 || 32-byte seed)
 * A checkpoint is the note text `origin\n<size>\n<base64 root>\n` plus optional extension lines.
 *
 * Opening a note checks every signature line; a line from a known key (name and key id both
 * match a given verifier) must verify, a line from an unknown key is ignored (cosignatures of
 * witnesses the caller does not know about). Duplicate lines for the same key are malformed.
 *
 * Invariants: notes are at most LODE_NOTE_BYTES_MAX bytes with at most
 * LODE_NOTE_SIGNATURES_MAX signature lines; names are at most LODE_NOTE_NAME_BYTES_MAX bytes of
 * UTF-8 without spaces or '+'; the text has no control characters but newlines. Parsers
 * accept only what the formatters write. Ownership: caller buffers; struct note_signer holds a
 * secret key (note_signer_wipe() erases it). Threads: pure functions after sodium_init().
 */
#ifndef LODE_LEDGER_NOTE_H
#define LODE_LEDGER_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/limits.h"
#include "ledger/merkle.h"

#define NOTE_KEY_BYTES 32
#define NOTE_SIGNATURE_BYTES 64
#define NOTE_KEY_TEXT_BYTES_MAX (LODE_NOTE_NAME_BYTES_MAX + 80)

struct note_verifier {
    char name[LODE_NOTE_NAME_BYTES_MAX + 1];
    uint32_t key_id;
    uint8_t public_key[NOTE_KEY_BYTES];
};

struct note_signer {
    char name[LODE_NOTE_NAME_BYTES_MAX + 1];
    uint32_t key_id;
    uint8_t public_key[NOTE_KEY_BYTES];
    uint8_t secret_key[64]; /* libsodium form: seed || public key */
};

/* Is `name` a valid key name (non-empty, UTF-8, no Unicode space, no '+', length bound)? */
bool note_name_is_valid(const char *name, size_t len);

/* The key id of an Ed25519 public key under `name`. */
uint32_t note_key_id(const char *name, size_t name_len, const uint8_t public_key[NOTE_KEY_BYTES]);

/* Parses verifier key text; the key id must match the name and key.
 * Returns LODE_OK or LODE_EINVAL (malformed, unsupported algorithm, key id mismatch). */
enum lode_code note_verifier_parse(const char *text, size_t len, struct note_verifier *out,
                                   struct lode_error *err);
/* Writes verifier key text and a NUL (cap >= NOTE_KEY_TEXT_BYTES_MAX suffices).
 * Returns LODE_OK or LODE_EINVAL. */
enum lode_code note_verifier_format(const struct note_verifier *v, char *out, size_t cap);

/* Parses signer key text (as note_verifier_parse; the key id must match the derived key). */
enum lode_code note_signer_parse(const char *text, size_t len, struct note_signer *out,
                                 struct lode_error *err);
enum lode_code note_signer_format(const struct note_signer *s, char *out, size_t cap);
/* A signer from a 32-byte seed, or (seed NULL) from a fresh random one.
 * Returns LODE_OK or LODE_EINVAL (bad name). */
enum lode_code note_signer_create(const char *name, const uint8_t *seed, struct note_signer *out);
/* The verifier that matches a signer. */
void note_signer_verifier(const struct note_signer *s, struct note_verifier *out);
void note_signer_wipe(struct note_signer *s);

/* Signs `text` (valid note text ending in '\n') with each signer and writes the note (text,
 * blank line, signature lines in signer order) into out. Returns LODE_OK, LODE_EINVAL
 * (malformed text, out too small) or LODE_ETOOBIG (note over LODE_NOTE_BYTES_MAX). */
enum lode_code note_sign(const char *text, size_t text_len, const struct note_signer *signers,
                         size_t signer_count, char *out, size_t cap, size_t *len_out);

/* Opens a note: checks its syntax and every signature from a known key. On LODE_OK, at least
 * one known key signed, text_len_out is the length of the signed text (note[0..text_len)),
 * and verified_out[i] (if not NULL) says whether verifiers[i] signed.
 * Returns LODE_OK, LODE_EINVAL (malformed), LODE_ETOOBIG, or LODE_EVERIFY (a known key's
 * signature is invalid, or no known key signed). */
enum lode_code note_open(const char *note, size_t len, const struct note_verifier *verifiers,
                         size_t verifier_count, size_t *text_len_out, bool *verified_out,
                         struct lode_error *err);

struct checkpoint {
    char origin[LODE_NOTE_NAME_BYTES_MAX + 1];
    uint64_t size;
    uint8_t root[MERKLE_HASH_BYTES];
    char extensions[LODE_CHECKPOINT_EXTENSION_BYTES_MAX + 1]; /* whole lines, each ending '\n' */
    size_t extensions_len;
};

/* Writes the checkpoint text (not NUL-terminated). Returns LODE_OK or LODE_EINVAL. */
enum lode_code checkpoint_format(const struct checkpoint *cp, char *out, size_t cap,
                                 size_t *len_out);
/* Parses checkpoint text (a note's signed text). Returns LODE_OK or LODE_EINVAL. */
enum lode_code checkpoint_parse(const char *text, size_t len, struct checkpoint *out,
                                struct lode_error *err);

/* note_open with one verifier that must have signed, then checkpoint_parse.
 * Returns LODE_OK, LODE_EINVAL, LODE_ETOOBIG or LODE_EVERIFY. */
enum lode_code checkpoint_open(const char *note, size_t len, const struct note_verifier *verifier,
                               struct checkpoint *out, struct lode_error *err);

#endif
