/*
 * tests/fuzz/fuzz_ledger_note.c — signed-note opening, checkpoint parsing, key text parsing.
 *
 * The input is tried as a whole note against two fixed verifiers (one of them the key that
 * signs the seed corpus), as checkpoint text, and as verifier and signer key text. A note that
 * opens must have been signed: re-signing its text with the known key must open as well.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "ledger/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct note_signer signers[2];
    static struct note_verifier verifiers[2];
    static bool ready;
    const char *text = (const char *)data;
    struct lode_error err;
    struct checkpoint cp;
    struct note_verifier v;
    struct note_signer s;
    size_t text_len = 0;
    bool verified[2];

    if (!ready) {
        uint8_t seed[32] = {42}, seed2[32] = {43};
        if (sodium_init() < 0)
            return 0;
        note_signer_create("lode.test/log", seed, &signers[0]);
        note_signer_create("witness", seed2, &signers[1]);
        note_signer_verifier(&signers[0], &verifiers[0]);
        note_signer_verifier(&signers[1], &verifiers[1]);
        ready = true;
    }
    if (note_open(text, size, verifiers, 2, &text_len, verified, &err) == LODE_OK) {
        static char out[LODE_NOTE_BYTES_MAX];
        size_t out_len = 0;
        if (text_len > size || (!verified[0] && !verified[1]))
            __builtin_trap();
        if (note_sign(text, text_len, signers, 1, out, sizeof out, &out_len) == LODE_OK &&
            note_open(out, out_len, verifiers, 1, &text_len, NULL, &err) != LODE_OK)
            __builtin_trap();
        checkpoint_parse(text, text_len, &cp, &err);
    }
    if (checkpoint_parse(text, size, &cp, &err) == LODE_OK) {
        static char again[LODE_NOTE_BYTES_MAX];
        size_t n = 0;
        /* what parses formats back to the same bytes */
        if (checkpoint_format(&cp, again, sizeof again, &n) != LODE_OK || n != size ||
            memcmp(again, text, size) != 0)
            __builtin_trap();
    }
    if (note_verifier_parse(text, size, &v, &err) == LODE_OK) {
        char back[NOTE_KEY_TEXT_BYTES_MAX];
        if (note_verifier_format(&v, back, sizeof back) != LODE_OK || strlen(back) != size ||
            memcmp(back, text, size) != 0)
            __builtin_trap();
    }
    if (note_signer_parse(text, size, &s, &err) == LODE_OK)
        note_signer_wipe(&s);
    return 0;
}
