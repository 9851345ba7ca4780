/*
 * CWebP: the thin C layer under Vigil's WebP decoding (Imaging/WebPDecoder.swift).
 *
 * libwebp's decode API reports errors as return values (no longjmp), so this only includes the
 * headers. Debian 12 ships libwebp 1.2.4. VP8_STATUS_* and WebPGetFeatures / WebPInitDecoderConfig
 * (static inlines over the *Internal functions) import into Swift as they are.
 *
 * encode.h (same library) is here only for test fixtures and fuzz seeds (Imaging's package-level
 * WebPEncoder): WebPEncode[Lossless]RGB[A] + WebPFree.
 */
#ifndef VIGIL_CWEBP_SHIM_H
#define VIGIL_CWEBP_SHIM_H

#include <webp/decode.h>
#include <webp/encode.h>

#endif
