/*
 * CTurboJPEG: the thin C layer under Vigil's Imaging module.
 *
 * Why it exists: turbojpeg.h defines its flags and the scaled-size computation as macros
 * (TJFLAG_*, TJSCALED), which Swift does not import; they are re-exported here as `static const`
 * values and one inline function. Debian 12 ships libjpeg-turbo 2.1 (the TurboJPEG 2 API).
 */
#ifndef VIGIL_CTURBOJPEG_SHIM_H
#define VIGIL_CTURBOJPEG_SHIM_H

#include <turbojpeg.h>

static const int CTJ_FLAG_ACCURATEDCT = TJFLAG_ACCURATEDCT;
static const int CTJ_FLAG_FASTDCT = TJFLAG_FASTDCT;
static const int CTJ_FLAG_FASTUPSAMPLE = TJFLAG_FASTUPSAMPLE;
static const int CTJ_FLAG_STOPONWARNING = TJFLAG_STOPONWARNING;
static const int CTJ_FLAG_NOREALLOC = TJFLAG_NOREALLOC;
/* Caps the number of progressive scans, against the "many scans" denial-of-service JPEGs. */
static const int CTJ_FLAG_LIMITSCANS = TJFLAG_LIMITSCANS;
static const int CTJ_ERR_WARNING = TJERR_WARNING;
static const int CTJ_ERR_FATAL = TJERR_FATAL;

/* TJSCALED(dimension, scalingFactor): ceil(dimension * num / denom). */
static inline int ctj_scaled(int dimension, tjscalingfactor factor) { return TJSCALED(dimension, factor); }

#endif
