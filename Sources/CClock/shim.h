/*
 * CClock: the kernel's NTP status for the agent's clock trust (see Sources/Agent/TrustedClock.swift).
 *
 * Why a shim: <sys/timex.h> (adjtimex, STA_UNSYNC, TIME_ERROR) is not part of Swift's Glibc
 * module. A read-only query (modes = 0) needs no privilege.
 */
#ifndef VIGIL_CCLOCK_SHIM_H
#define VIGIL_CCLOCK_SHIM_H

#include <sys/timex.h>

/* 1 when the kernel's clock is synchronized (an NTP daemon cleared STA_UNSYNC), 0 when it is
 * not, -1 when the query failed. */
static inline int cclock_synchronized(void) {
    struct timex t = {0};
    int state = adjtimex(&t);
    if (state < 0) return -1;
    return (state != TIME_ERROR && !(t.status & STA_UNSYNC)) ? 1 : 0;
}

#endif
