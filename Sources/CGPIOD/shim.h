/*
 * CGPIOD: the thin C layer under Vigil's GPIO/LED code (libgpiod v1.6, as Debian 12 ships it).
 *
 * Why it exists: libgpiod v1's request flags and directions are macros/enums that are clearer
 * re-exported under one prefix, and keeping every C include in a shim target keeps C out of the
 * Swift modules above it.
 */
#ifndef VIGIL_CGPIOD_SHIM_H
#define VIGIL_CGPIOD_SHIM_H

#include <errno.h>
#include <gpiod.h>

static const int CGPIOD_LINE_ACTIVE_STATE_HIGH = GPIOD_LINE_ACTIVE_STATE_HIGH;
static const int CGPIOD_LINE_ACTIVE_STATE_LOW = GPIOD_LINE_ACTIVE_STATE_LOW;
static const int CGPIOD_LINE_DIRECTION_OUTPUT = GPIOD_LINE_DIRECTION_OUTPUT;
static const int CGPIOD_REQUEST_FLAG_ACTIVE_LOW = GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
static inline int cgpiod_errno(void) { return errno; }

#endif
