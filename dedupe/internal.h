/*
 * dedupe/internal.h — not part of the module's contract: hooks for its own tests and fuzz
 * targets. Same ownership and thread rules as dedupe/dedupe.h.
 */
#ifndef LODE_DEDUPE_INTERNAL_H
#define LODE_DEDUPE_INTERNAL_H

#include "dedupe/dedupe.h"

/* dedupe_text_normalise() with every byte through utf8proc (no ASCII table): the reference the
 * fast path must equal byte for byte. Same codes as dedupe_text_normalise(). */
enum lode_code dedupe_text_normalise_reference(struct dedupe_workspace *ws, const char *text,
                                               size_t len, const char **norm_out,
                                               size_t *norm_len_out, struct lode_error *err);

#endif
