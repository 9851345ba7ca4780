/*
 * CPNG: the thin C layer under Vigil's PNG decoding (Imaging/PNGDecoder.swift).
 *
 * Why only libpng's "simplified API" (png_image_*): the classic API reports errors by longjmp,
 * which Swift cannot catch; png_image_begin_read_from_memory / png_image_finish_read report them
 * as a return value and a message in the png_image, so no C code of ours is needed. Debian 12
 * ships libpng 1.6.39. The macros Swift does not import are re-exported as constants/functions.
 */
#ifndef VIGIL_CPNG_SHIM_H
#define VIGIL_CPNG_SHIM_H

#include <png.h>

static const unsigned int CPNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
static const unsigned int CPNG_FORMAT_RGB = PNG_FORMAT_RGB;
/* Bytes a full decode into `format` needs (PNG_IMAGE_SIZE), computed in 64 bits by the caller's check first. */
static inline size_t cpng_row_stride(const png_image *image) { return PNG_IMAGE_ROW_STRIDE(*image); }
static inline int cpng_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }

#endif
