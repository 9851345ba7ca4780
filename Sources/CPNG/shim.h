/*
 * CPNG: the thin C layer under Vigil's PNG decoding (Imaging/PNGDecoder.swift).
 *
 * Why only libpng's "simplified API" (png_image_*): the classic API reports errors by longjmp,
 * which Swift cannot catch; png_image_begin_read_from_memory / png_image_finish_read report them
 * as a return value and a message in the png_image, so no C code of ours is needed. Debian 12
 * ships libpng 1.6.39. The macros Swift does not import are re-exported as constants/functions.
 *
 * The write side (png_image_write_to_memory, also error-by-return) is used only to make test
 * fixtures and fuzz seeds (Imaging's package-level PNGEncoder).
 */
#ifndef VIGIL_CPNG_SHIM_H
#define VIGIL_CPNG_SHIM_H

#include <png.h>

static const unsigned int CPNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
static const unsigned int CPNG_FORMAT_FLAG_ALPHA = PNG_FORMAT_FLAG_ALPHA;
static const unsigned int CPNG_FORMAT_RGB = PNG_FORMAT_RGB;
static const unsigned int CPNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static const unsigned int CPNG_FORMAT_GRAY = PNG_FORMAT_GRAY;
static const unsigned int CPNG_FORMAT_GA = PNG_FORMAT_GA;
static const unsigned int CPNG_FORMAT_LINEAR_RGB = PNG_FORMAT_LINEAR_RGB;
static const unsigned int CPNG_FORMAT_LINEAR_RGB_ALPHA = PNG_FORMAT_LINEAR_RGB_ALPHA;
static const unsigned int CPNG_FORMAT_LINEAR_Y = PNG_FORMAT_LINEAR_Y;
static const unsigned int CPNG_FORMAT_RGB_COLORMAP = PNG_FORMAT_RGB_COLORMAP;
static const unsigned int CPNG_FORMAT_RGBA_COLORMAP = PNG_FORMAT_RGBA_COLORMAP;
/* On read: a 16-bit file without gAMA/sRGB chunks holds sRGB-encoded samples (else libpng assumes linear). */
static const unsigned int CPNG_IMAGE_FLAG_16BIT_sRGB = PNG_IMAGE_FLAG_16BIT_sRGB;
/* Bytes a full decode into `format` needs (PNG_IMAGE_SIZE), computed in 64 bits by the caller's check first. */
static inline size_t cpng_row_stride(const png_image *image) { return PNG_IMAGE_ROW_STRIDE(*image); }
static inline int cpng_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }

#endif
