/*
 * ledger/bundle_codec.c — zstd entry-bundle compression with content-addressed dictionaries.
 */
#include "ledger/bundle_codec.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "core/limits.h"

static const uint8_t magic[3] = {'L', 'B', 0x01};

enum lode_code bundle_dict_train(const uint8_t *const *samples, const size_t *sample_lens,
                                 size_t count, size_t dict_bytes_max, uint8_t **dict_out,
                                 size_t *dict_len_out, struct lode_error *err)
{
    size_t total = 0, pos = 0, n;
    uint8_t *flat, *dict;
    size_t *lens;

    if (count < 8 || dict_bytes_max < 256 || dict_bytes_max > LODE_ZSTD_DICT_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "could not train a dictionary on %zu samples",
                              count);
    for (size_t i = 0; i < count; i++)
        total += sample_lens[i];
    flat = malloc(total > 0 ? total : 1);
    lens = malloc(count * sizeof *lens);
    dict = malloc(dict_bytes_max);
    if (flat == NULL || lens == NULL || dict == NULL) {
        free(flat);
        free(lens);
        free(dict);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate dictionary training buffers");
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(flat + pos, samples[i], sample_lens[i]);
        pos += sample_lens[i];
        lens[i] = sample_lens[i];
    }
    n = ZDICT_trainFromBuffer(dict, dict_bytes_max, flat, lens, (unsigned)count);
    free(flat);
    free(lens);
    if (ZDICT_isError(n)) {
        free(dict);
        return lode_error_set(err, LODE_EINVAL, "could not train a dictionary: %s",
                              ZDICT_getErrorName(n));
    }
    *dict_out = dict;
    *dict_len_out = n;
    return LODE_OK;
}

enum lode_code bundle_dict_init(struct bundle_dict *dict, const uint8_t *bytes, size_t len,
                                uint32_t version, int level, struct lode_error *err)
{
    memset(dict, 0, sizeof *dict);
    if (len > LODE_ZSTD_DICT_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "dictionary is over %u bytes",
                              LODE_ZSTD_DICT_BYTES_MAX);
    if (len == 0 || version == 0)
        return lode_error_set(err, LODE_EINVAL, "dictionary is empty or has version 0");
    dict->bytes = malloc(len);
    if (dict->bytes == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate a dictionary");
    memcpy(dict->bytes, bytes, len);
    dict->len = len;
    dict->version = version;
    crypto_hash_sha256(dict->id, bytes, len);
    dict->cdict = ZSTD_createCDict(dict->bytes, len, level);
    dict->ddict = ZSTD_createDDict(dict->bytes, len);
    if (dict->cdict == NULL || dict->ddict == NULL) {
        bundle_dict_fini(dict);
        return lode_error_set(err, LODE_EINVAL, "could not load the dictionary into zstd");
    }
    return LODE_OK;
}

void bundle_dict_fini(struct bundle_dict *dict)
{
    ZSTD_freeCDict(dict->cdict);
    ZSTD_freeDDict(dict->ddict);
    free(dict->bytes);
    memset(dict, 0, sizeof *dict);
}

size_t bundle_codec_bound(size_t len)
{
    return BUNDLE_HEADER_BYTES + ZSTD_compressBound(len);
}

enum lode_code bundle_codec_compress(const struct bundle_dict *dict, int level, const uint8_t *in,
                                     size_t len, uint8_t *out, size_t cap, size_t *len_out)
{
    ZSTD_CCtx *cctx;
    size_t n;

    if (cap < BUNDLE_HEADER_BYTES)
        return LODE_EINVAL;
    memcpy(out, magic, sizeof magic);
    if (dict != NULL)
        memcpy(out + 3, dict->id, BUNDLE_DICT_ID_BYTES);
    else
        memset(out + 3, 0, BUNDLE_DICT_ID_BYTES);
    cctx = ZSTD_createCCtx();
    if (cctx == NULL)
        return LODE_ENOMEM;
    /* the content size goes into the frame header so readers can check it against their cap */
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0);
    if (dict != NULL)
        ZSTD_CCtx_refCDict(cctx, dict->cdict);
    else
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    n = ZSTD_compress2(cctx, out + BUNDLE_HEADER_BYTES, cap - BUNDLE_HEADER_BYTES, in, len);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n))
        return LODE_EINVAL;
    *len_out = BUNDLE_HEADER_BYTES + n;
    return LODE_OK;
}

enum lode_code bundle_codec_dict_id(const uint8_t *in, size_t len,
                                    uint8_t id_out[BUNDLE_DICT_ID_BYTES])
{
    if (len < BUNDLE_HEADER_BYTES || memcmp(in, magic, sizeof magic) != 0)
        return LODE_EINVAL;
    memcpy(id_out, in + 3, BUNDLE_DICT_ID_BYTES);
    return LODE_OK;
}

enum lode_code bundle_codec_decompress(const struct bundle_dict *const *dicts, size_t dict_count,
                                       const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                       size_t *len_out, struct lode_error *err)
{
    static const uint8_t none[BUNDLE_DICT_ID_BYTES] = {0};
    uint8_t id[BUNDLE_DICT_ID_BYTES];
    const struct bundle_dict *dict = NULL;
    const uint8_t *frame;
    size_t frame_len, n;
    unsigned long long content;
    ZSTD_DCtx *dctx;

    if (bundle_codec_dict_id(in, len, id) != LODE_OK)
        return lode_error_set(err, LODE_EINVAL, "stored bundle has no valid header");
    if (memcmp(id, none, sizeof id) != 0) {
        for (size_t i = 0; i < dict_count && dict == NULL; i++)
            if (memcmp(dicts[i]->id, id, sizeof id) == 0)
                dict = dicts[i];
        if (dict == NULL)
            return lode_error_set(err, LODE_ENOTFOUND, "stored bundle needs an unknown dictionary");
    }
    frame = in + BUNDLE_HEADER_BYTES;
    frame_len = len - BUNDLE_HEADER_BYTES;
    /* exactly one frame, with a declared size within the cap */
    if (ZSTD_findFrameCompressedSize(frame, frame_len) != frame_len)
        return lode_error_set(err, LODE_EINVAL, "stored bundle is not one zstd frame");
    content = ZSTD_getFrameContentSize(frame, frame_len);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
        return lode_error_set(err, LODE_EINVAL, "stored bundle does not declare its size");
    if (content > cap)
        return lode_error_set(err, LODE_ETOOBIG, "stored bundle is over %zu bytes", cap);
    dctx = ZSTD_createDCtx();
    if (dctx == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate a zstd context");
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 24);
    if (dict != NULL)
        n = ZSTD_decompress_usingDDict(dctx, out, (size_t)content, frame, frame_len, dict->ddict);
    else
        n = ZSTD_decompressDCtx(dctx, out, (size_t)content, frame, frame_len);
    ZSTD_freeDCtx(dctx);
    if (ZSTD_isError(n) || n != content)
        return lode_error_set(err, LODE_EINVAL, "stored bundle is corrupt");
    *len_out = n;
    return LODE_OK;
}
