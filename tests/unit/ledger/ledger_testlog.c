/*
 * tests/unit/ledger/ledger_testlog.c — writes a static ledger folder the way a sequencer would.
 *
 *   ledger_testlog DIR SIZE FORK_AT OLD_SIZE ENTRY_INDEX
 *
 * Appends SIZE synthetic entries in batches of varying size; after each batch writes the hash
 * tiles and entry bundles tile_list_changed() names (full and partial, C2SP tlog-tiles paths)
 * and finally DIR/checkpoint signed with a fixed test key. Entries from index FORK_AT on carry
 * a different field (FORK_AT 0 = no fork), which makes a log that contradicts an unforked one.
 * For the CLI tests it also writes: vkey and vkey.other (verifier keys), checkpoint.OLD_SIZE
 * and consistency.OLD_SIZE (JSON proof), entry.ENTRY_INDEX and inclusion.ENTRY_INDEX
 * (base64 lines). Exits 0, or 1 with a message.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/encoding.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/tile.h"

static const char *dir;

static int die(const char *what)
{
    fprintf(stderr, "ledger_testlog: %s\n", what);
    return 1;
}

/* mkdir -p of the parent folders of dir/rel, then writes the bytes. */
static int write_file(const char *rel, const void *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p != '\0'; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return die("could not create a folder");
            *p = '/';
        }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        return die("could not write a file");
    return 0;
}

static char *make_entry(uint64_t i, uint64_t fork_at, size_t *len_out)
{
    uint8_t h[32];
    char hex[65];
    json_t *e;
    char *bytes = NULL;
    struct lode_error err;

    crypto_hash_sha256(h, (const uint8_t *)&i, sizeof i);
    hex_encode(h, 32, hex);
    e = json_pack("{s:s, s:I, s:I, s:s+}", "type", "item.contributed", "index", (json_int_t)i,
                  "dataset", (json_int_t)(i % 7), "item", "sha256:", hex);
    if (fork_at != 0 && i >= fork_at)
        json_object_set_new(e, "fork", json_true());
    if (ledger_entry_encode(e, &bytes, len_out, &err) != LODE_OK)
        bytes = NULL;
    json_decref(e);
    return bytes;
}

static int write_checkpoint(struct merkle_reader *reader, const struct note_signer *signer,
                            uint64_t size, const char *name)
{
    struct checkpoint cp;
    char text[1024], note[2048];
    size_t text_len = 0, note_len = 0;

    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", signer->name);
    cp.size = size;
    if (merkle_tree_root(reader, size, cp.root) != LODE_OK ||
        checkpoint_format(&cp, text, sizeof text, &text_len) != LODE_OK ||
        note_sign(text, text_len, signer, 1, note, sizeof note, &note_len) != LODE_OK)
        return die("could not sign a checkpoint");
    return write_file(name, note, note_len);
}

int main(int argc, char **argv)
{
    static uint8_t tile[TILE_BUNDLE_BYTES_MAX];
    uint64_t size, fork_at, old_size, entry_index, done = 0, batch_seed = 7;
    uint8_t seed[32] = {42}, seed2[32] = {43};
    struct note_signer signer, other;
    struct note_verifier v;
    struct merkle_mem mem;
    struct merkle_reader reader;
    char **entries;
    size_t *lens;
    char text[NOTE_KEY_TEXT_BYTES_MAX + 1], name[64];

    if (argc != 6)
        return die("usage: ledger_testlog DIR SIZE FORK_AT OLD_SIZE ENTRY_INDEX");
    dir = argv[1];
    size = strtoull(argv[2], NULL, 10);
    fork_at = strtoull(argv[3], NULL, 10);
    old_size = strtoull(argv[4], NULL, 10);
    entry_index = strtoull(argv[5], NULL, 10);
    if (sodium_init() < 0 || size == 0 || size > 1000000 || old_size > size ||
        entry_index >= size)
        return die("bad arguments");
    mkdir(dir, 0755);
    if (note_signer_create("lode.test/log", seed, &signer) != LODE_OK ||
        note_signer_create("lode.test/log", seed2, &other) != LODE_OK)
        return die("could not create keys");
    note_signer_verifier(&signer, &v);
    note_verifier_format(&v, text, sizeof text);
    strcat(text, "\n");
    if (write_file("vkey", text, strlen(text)) != 0)
        return 1;
    note_signer_verifier(&other, &v);
    note_verifier_format(&v, text, sizeof text);
    if (write_file("vkey.other", text, strlen(text)) != 0)
        return 1;

    entries = calloc(size, sizeof *entries);
    lens = calloc(size, sizeof *lens);
    merkle_mem_init(&mem);
    merkle_mem_reader(&mem, &reader);
    while (done < size) {
        uint64_t batch = 1 + (batch_seed = batch_seed * 6364136223846793005u + 1) % 300;
        uint8_t (*leaves)[MERKLE_HASH_BYTES];
        struct tile_id changed[64];
        size_t n_changed = 0;

        if (batch > size - done)
            batch = size - done;
        if (done < old_size && done + batch > old_size)
            batch = old_size - done; /* a batch ends at OLD_SIZE, as a checkpoint would */
        leaves = malloc(batch * sizeof *leaves);
        for (uint64_t i = 0; i < batch; i++) {
            entries[done + i] = make_entry(done + i, fork_at, &lens[done + i]);
            if (entries[done + i] == NULL)
                return die("could not encode an entry");
            merkle_hash_leaf((const uint8_t *)entries[done + i], lens[done + i], leaves[i]);
        }
        if (merkle_mem_append(&mem, (const uint8_t(*)[MERKLE_HASH_BYTES])leaves, batch) !=
            LODE_OK)
            return die("could not append");
        free(leaves);
        if (tile_list_changed(done, done + batch, true, changed, 64, &n_changed) != LODE_OK)
            return die("could not list tiles");
        for (size_t k = 0; k < n_changed; k++) {
            char path[TILE_PATH_BYTES_MAX];
            size_t len = 0;
            tile_path_format(&changed[k], path, sizeof path);
            if (changed[k].entries) {
                struct tile_bundle_entry be[TILE_WIDTH];
                for (unsigned j = 0; j < changed[k].width; j++) {
                    be[j].data = (const uint8_t *)entries[changed[k].index * TILE_WIDTH + j];
                    be[j].len = lens[changed[k].index * TILE_WIDTH + j];
                }
                if (tile_bundle_encode(be, changed[k].width, tile, sizeof tile, &len) != LODE_OK)
                    return die("could not encode a bundle");
            } else if (tile_data_build(&reader, &changed[k], tile, sizeof tile, &len) !=
                       LODE_OK) {
                return die("could not build a tile");
            }
            if (write_file(path, tile, len) != 0)
                return 1;
        }
        done += batch;
        if (done == old_size) {
            snprintf(name, sizeof name, "checkpoint.%llu", (unsigned long long)old_size);
            if (write_checkpoint(&reader, &signer, old_size, name) != 0)
                return 1;
        }
    }
    if (write_checkpoint(&reader, &signer, size, "checkpoint") != 0)
        return 1;
    if (old_size == 0) {
        snprintf(name, sizeof name, "checkpoint.0");
        if (write_checkpoint(&reader, &signer, 0, name) != 0)
            return 1;
    }

    /* proofs for the CLI tests */
    {
        uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
        char out[MERKLE_PROOF_HASHES_MAX * 50 + 32], b64[BASE64_ENCODED_BYTES(32)];
        size_t count = 0, len = 0;

        if (merkle_prove_inclusion(&reader, entry_index, size, proof, &count) != LODE_OK)
            return die("could not prove inclusion");
        for (size_t i = 0; i < count; i++) {
            base64_encode(proof[i], 32, b64);
            len += (size_t)snprintf(out + len, sizeof out - len, "%s\n", b64);
        }
        snprintf(name, sizeof name, "inclusion.%llu", (unsigned long long)entry_index);
        if (write_file(name, out, len) != 0)
            return 1;
        snprintf(name, sizeof name, "entry.%llu", (unsigned long long)entry_index);
        if (write_file(name, entries[entry_index], lens[entry_index]) != 0)
            return 1;
        if (merkle_prove_consistency(&reader, old_size, size, proof, &count) != LODE_OK)
            return die("could not prove consistency");
        len = (size_t)snprintf(out, sizeof out, "{\"proof\": [");
        for (size_t i = 0; i < count; i++) {
            base64_encode(proof[i], 32, b64);
            len += (size_t)snprintf(out + len, sizeof out - len, "%s\"%s\"", i > 0 ? ", " : "",
                                    b64);
        }
        len += (size_t)snprintf(out + len, sizeof out - len, "]}\n");
        snprintf(name, sizeof name, "consistency.%llu", (unsigned long long)old_size);
        if (write_file(name, out, len) != 0)
            return 1;
    }
    for (uint64_t i = 0; i < size; i++)
        free(entries[i]);
    free(entries);
    free(lens);
    merkle_mem_fini(&mem);
    note_signer_wipe(&signer);
    note_signer_wipe(&other);
    return 0;
}
