/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - the userfaultfd system call and its ioctls (contract in uffd.h).
 *
 * System calls go through uhmm__raw_syscall(): libuhmm-interpose.so
 * defines syscall() itself, and these must not be announced or re-enter.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "raw.h"
#include "uffd.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define EVENTS (UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE | \
		UFFD_FEATURE_EVENT_REMAP)

static long sys(long nr, long a0, long a1, long a2)
{
	return uhmm__raw_syscall(nr, a0, a1, a2, 0, 0, 0);
}

static int new_fd(void)
{
	long fd = sys(SYS_userfaultfd,
		      O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);

	/* Kernels before 5.11 refuse the flag; root needs none. */
	if (fd == -EINVAL || fd == -EPERM)
		fd = sys(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0);
	return (int)fd;
}

/* The API handshake with @features; the fd is closed on failure. */
static int handshake(int fd, unsigned long long features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	long ret = sys(SYS_ioctl, fd, (long)UFFDIO_API, (long)&api);

	if (ret == 0)
		return fd;
	sys(SYS_close, fd, 0, 0);
	return (int)ret;
}

int uhmm__os_uffd_open(bool *wp_async)
{
	int fd = new_fd();

	*wp_async = false;
	if (fd < 0)
		return fd;
	/* A failed handshake leaves the fd unusable: retry on a new one. */
	fd = handshake(fd, EVENTS | UFFD_FEATURE_WP_ASYNC);
	if (fd >= 0) {
		*wp_async = true;
		return fd;
	}
	fd = new_fd();
	if (fd < 0)
		return fd;
	return handshake(fd, EVENTS);
}

int uhmm__os_uffd_register_wp(int fd, unsigned long start, unsigned long len)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return (int)sys(SYS_ioctl, fd, (long)UFFDIO_REGISTER, (long)&reg);
}

int uhmm__os_uffd_unregister(int fd, unsigned long start, unsigned long len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return (int)sys(SYS_ioctl, fd, (long)UFFDIO_UNREGISTER, (long)&r);
}

int uhmm__os_uffd_unprotect(int fd, unsigned long addr, unsigned long len)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = 0,	/* clear protection, and wake */
	};

	return (int)sys(SYS_ioctl, fd, (long)UFFDIO_WRITEPROTECT, (long)&wp);
}

static void decode(const struct uffd_msg *m, struct uhmm__uffd_event *e)
{
	e->kind = UHMM__UFFD_OTHER;
	e->start = e->end = e->to = 0;
	switch (m->event) {
	case UFFD_EVENT_UNMAP:
	case UFFD_EVENT_REMOVE:
		e->kind = m->event == UFFD_EVENT_UNMAP ? UHMM__UFFD_UNMAP :
							 UHMM__UFFD_REMOVE;
		e->start = m->arg.remove.start;
		e->end = m->arg.remove.end;
		break;
	case UFFD_EVENT_REMAP:
		e->kind = UHMM__UFFD_REMAP;
		e->start = m->arg.remap.from;
		e->end = m->arg.remap.from + m->arg.remap.len;
		e->to = m->arg.remap.to;
		break;
	case UFFD_EVENT_PAGEFAULT:
		e->kind = UHMM__UFFD_WP_FAULT;
		e->start = m->arg.pagefault.address;
		break;
	}
}

int uhmm__os_uffd_read(int fd, struct uhmm__uffd_event *ev, int max)
{
	struct uffd_msg msg[16];
	long ret;
	int i, n;

	if (max > 16)
		max = 16;
	ret = sys(SYS_read, fd, (long)msg, (long)(max * sizeof(msg[0])));
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return (int)ret;
	n = (int)(ret / (long)sizeof(msg[0]));
	for (i = 0; i < n; i++)
		decode(&msg[i], &ev[i]);
	return n;
}
