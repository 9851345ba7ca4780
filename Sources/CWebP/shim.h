/*
 * CWebP: the thin C layer under Vigil's WebP decoding (Imaging/WebPDecoder.swift).
 *
 * libwebp's decode API reports errors as return values (no longjmp), so this only includes the
 * header. Debian 12 ships libwebp 1.2.4. VP8_STATUS_* and WebPGetFeatures (a static inline over
 * WebPGetFeaturesInternal) import into Swift as they are.
 */
#ifndef VIGIL_CWEBP_SHIM_H
#define VIGIL_CWEBP_SHIM_H

#include <webp/decode.h>

#endif
