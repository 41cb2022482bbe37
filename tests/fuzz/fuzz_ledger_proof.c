/*
 * tests/fuzz/fuzz_ledger_proof.c — the proof verifiers on arbitrary sizes, indices and hashes,
 * and the engine on arbitrary sizes over a small in-memory tree. Input: 8-byte a, 8-byte b,
 * then 32-byte hashes (first root(s), then the proof). Verification must never crash, and a
 * proof the engine produces for the same tree must verify.
 */
#include <stdint.h>
#include <string.h>

#include "ledger/merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t read_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct merkle_mem mem;
    static bool ready;
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    uint8_t r1[MERKLE_HASH_BYTES] = {0}, r2[MERKLE_HASH_BYTES] = {0};
    size_t count, got = 0;
    uint64_t a, b;
    struct merkle_reader reader;

    if (!ready) {
        uint8_t leaves[300][MERKLE_HASH_BYTES];
        for (int i = 0; i < 300; i++)
            merkle_hash_leaf((const uint8_t *)&i, sizeof i, leaves[i]);
        merkle_mem_init(&mem);
        merkle_mem_append(&mem, (const uint8_t(*)[MERKLE_HASH_BYTES])leaves, 300);
        ready = true;
    }
    if (size < 16)
        return 0;
    a = read_u64(data);
    b = read_u64(data + 8);
    data += 16;
    size -= 16;
    if (size >= 32) {
        memcpy(r1, data, 32);
        data += 32;
        size -= 32;
    }
    if (size >= 32) {
        memcpy(r2, data, 32);
        data += 32;
        size -= 32;
    }
    count = size / 32;
    if (count > MERKLE_PROOF_HASHES_MAX)
        count = MERKLE_PROOF_HASHES_MAX;
    memcpy(proof, data, count * 32);
    merkle_verify_inclusion(r2, a, b, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count, r1);
    merkle_verify_consistency(a, b, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count, r1, r2);
    merkle_verify_checkpoints_consistent(a, b, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                         r1, r2);

    /* the engine on the 300-leaf tree: sizes beyond it are the reader's error, never a crash */
    merkle_mem_reader(&mem, &reader);
    if (merkle_prove_inclusion(&reader, a % 512, b % 512, proof, &got) == LODE_OK) {
        uint8_t root[32];
        if (merkle_tree_root(&reader, b % 512, root) != LODE_OK ||
            !merkle_verify_inclusion(mem.hashes[merkle_stored_index(0, a % 512)], a % 512,
                                     b % 512, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, got,
                                     root))
            __builtin_trap();
    }
    /* (equal sizes need no reads, so a size beyond the tree shows only in the roots) */
    if (merkle_prove_consistency(&reader, a % 512, b % 512, proof, &got) == LODE_OK &&
        a % 512 > 0 && merkle_tree_root(&reader, a % 512, r1) == LODE_OK &&
        merkle_tree_root(&reader, b % 512, r2) == LODE_OK &&
        !merkle_verify_consistency(a % 512, b % 512, (const uint8_t(*)[MERKLE_HASH_BYTES])proof,
                                   got, r1, r2))
        __builtin_trap();
    return 0;
}
