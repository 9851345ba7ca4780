/*
 * CV4L2: the thin C layer under Vigil's Capture module.
 *
 * Why it exists: Swift cannot call C variadic functions (v4l2_open, v4l2_ioctl) and does not
 * import function-like macros (VIDIOC_*, v4l2_fourcc), so this header gives fixed-arity wrappers
 * and re-exports the constants Vigil uses as `static const` values. Every symbol is prefixed
 * `cv4l2_` / `CV4L2_` so nothing collides with the real headers. No logic lives here.
 */
#ifndef VIGIL_CV4L2_SHIM_H
#define VIGIL_CV4L2_SHIM_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/videodev2.h>
#include <libv4l2.h>

/* v4l2_open is variadic (mode_t only matters with O_CREAT, which a device never needs). */
static inline int cv4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
/* Hands an fd that is already open to libv4l2 (v4l2_fd_open takes flags, not varargs). */
static inline int cv4l2_fd_open(int fd, int v4l2_flags) { return v4l2_fd_open(fd, v4l2_flags); }
static inline int cv4l2_sys_open(const char *path, int flags) { return open(path, flags); }
static inline int cv4l2_sys_close(int fd) { return close(fd); }
static inline int cv4l2_close(int fd) { return v4l2_close(fd); }
/* v4l2_ioctl is variadic; every V4L2 request takes exactly one pointer argument. */
static inline int cv4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
static inline void *cv4l2_mmap(size_t length, int fd, int64_t offset) {
    return v4l2_mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
}
static inline int cv4l2_munmap(void *start, size_t length) { return v4l2_munmap(start, length); }
static inline int cv4l2_errno(void) { return errno; }
/*
 * libv4l2 prints its own error lines to stderr unless v4l2_log_file is set. Vigil reports every
 * failure itself (with path, request and errno), so libv4l2's lines go to `path` — /dev/null
 * unless VIGIL_V4L2_LOG names a file for debugging. Called once, before the first open.
 */
static inline void cv4l2_redirect_log(const char *path) {
    if (v4l2_log_file == NULL) v4l2_log_file = fopen(path, "a");
}
static inline void *cv4l2_map_failed(void) { return MAP_FAILED; }
/* Plain (non-libv4l) ioctl for the writer side of v4l2loopback in the kernel-level tests. */
static inline int cv4l2_sys_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }

/* ioctl requests (function-like macros in <linux/videodev2.h>). */
static const unsigned long CV4L2_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long CV4L2_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long CV4L2_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long CV4L2_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long CV4L2_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long CV4L2_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long CV4L2_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long CV4L2_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long CV4L2_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long CV4L2_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long CV4L2_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long CV4L2_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long CV4L2_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long CV4L2_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;

/* Pixel formats (v4l2_fourcc macros). */
static const uint32_t CV4L2_PIX_FMT_MJPEG = V4L2_PIX_FMT_MJPEG;
static const uint32_t CV4L2_PIX_FMT_JPEG = V4L2_PIX_FMT_JPEG;
static const uint32_t CV4L2_PIX_FMT_YUYV = V4L2_PIX_FMT_YUYV;
static const uint32_t CV4L2_PIX_FMT_NV12 = V4L2_PIX_FMT_NV12;
static const uint32_t CV4L2_PIX_FMT_GREY = V4L2_PIX_FMT_GREY;

/* Capability, buffer and enumeration constants (enums/macros imported for clarity in one place). */
static const uint32_t CV4L2_CAP_VIDEO_CAPTURE = V4L2_CAP_VIDEO_CAPTURE;
static const uint32_t CV4L2_CAP_VIDEO_OUTPUT = V4L2_CAP_VIDEO_OUTPUT;
static const uint32_t CV4L2_CAP_STREAMING = V4L2_CAP_STREAMING;
static const uint32_t CV4L2_CAP_READWRITE = V4L2_CAP_READWRITE;
static const uint32_t CV4L2_CAP_DEVICE_CAPS = V4L2_CAP_DEVICE_CAPS;
static const uint32_t CV4L2_BUF_TYPE_VIDEO_CAPTURE = V4L2_BUF_TYPE_VIDEO_CAPTURE;
static const uint32_t CV4L2_BUF_TYPE_VIDEO_OUTPUT = V4L2_BUF_TYPE_VIDEO_OUTPUT;
static const uint32_t CV4L2_MEMORY_MMAP = V4L2_MEMORY_MMAP;
static const uint32_t CV4L2_FIELD_NONE = V4L2_FIELD_NONE;
static const uint32_t CV4L2_FIELD_ANY = V4L2_FIELD_ANY;
static const uint32_t CV4L2_FMT_FLAG_COMPRESSED = V4L2_FMT_FLAG_COMPRESSED;
static const uint32_t CV4L2_FMT_FLAG_EMULATED = V4L2_FMT_FLAG_EMULATED;
static const uint32_t CV4L2_FRMSIZE_TYPE_DISCRETE = V4L2_FRMSIZE_TYPE_DISCRETE;
static const uint32_t CV4L2_FRMSIZE_TYPE_CONTINUOUS = V4L2_FRMSIZE_TYPE_CONTINUOUS;
static const uint32_t CV4L2_FRMSIZE_TYPE_STEPWISE = V4L2_FRMSIZE_TYPE_STEPWISE;
static const uint32_t CV4L2_FRMIVAL_TYPE_DISCRETE = V4L2_FRMIVAL_TYPE_DISCRETE;
static const uint32_t CV4L2_FRMIVAL_TYPE_CONTINUOUS = V4L2_FRMIVAL_TYPE_CONTINUOUS;
static const uint32_t CV4L2_FRMIVAL_TYPE_STEPWISE = V4L2_FRMIVAL_TYPE_STEPWISE;
static const uint32_t CV4L2_CAP_TIMEPERFRAME = V4L2_CAP_TIMEPERFRAME;
static const uint32_t CV4L2_BUF_FLAG_ERROR = V4L2_BUF_FLAG_ERROR;
static const uint32_t CV4L2_BUF_FLAG_TIMESTAMP_MASK = V4L2_BUF_FLAG_TIMESTAMP_MASK;
static const uint32_t CV4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
static const short CV4L2_POLLIN = POLLIN;
static const short CV4L2_POLLERR = POLLERR;
static const short CV4L2_POLLHUP = POLLHUP;
static const short CV4L2_POLLNVAL = POLLNVAL;

#endif
