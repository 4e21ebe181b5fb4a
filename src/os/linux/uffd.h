/* SPDX-License-Identifier: MIT */
/*
 * uffd.h - userfaultfd for the capture layer (src/capture/uffd*.c): every
 * userfaultfd system call and ioctl uhmm makes lives in uffd.c.
 *
 * The capture layer uses a userfaultfd only for its non-cooperative events
 * (a range was unmapped, moved or discarded), never to resolve faults: it
 * registers memory in write-protect mode and write-protects nothing.
 *
 * Contract as os.h: 0 or a count on success, -errno on failure; nothing
 * allocates, no uhmm lock is taken.
 */
#ifndef UHMM_OS_LINUX_UFFD_H
#define UHMM_OS_LINUX_UFFD_H

#include <stdbool.h>

/* What happened, decoded from one uffd_msg. */
enum uhmm__uffd_kind {
	UHMM__UFFD_UNMAP,	/* [start, end) unmapped (munmap, mremap shrink) */
	UHMM__UFFD_REMOVE,	/* [start, end) discarded (madvise DONTNEED...) */
	UHMM__UFFD_REMAP,	/* [start, end) moved to [to, to + end - start) */
	UHMM__UFFD_WP_FAULT,	/* a write-protect fault at start (unexpected) */
	UHMM__UFFD_OTHER,	/* anything else: ignored */
};

struct uhmm__uffd_event {
	enum uhmm__uffd_kind kind;
	unsigned long start, end, to;
};

/*
 * uhmm__os_uffd_open() - a non-blocking, close-on-exec userfaultfd with the
 * UNMAP, REMOVE and REMAP events, and asynchronous write protection where
 * the kernel has it (6.7+; *@wp_async tells).  User-mode-only faults are
 * asked for first (allowed to unprivileged users), then plain.
 * Return: the file descriptor, or -errno (-ENOSYS, -EPERM: unavailable).
 */
int uhmm__os_uffd_open(bool *wp_async);

/*
 * uhmm__os_uffd_register_wp() - register [start, start + len) (one VMA's
 * worth, page aligned) in write-protect mode only.
 * Return: 0; -EBUSY: another userfaultfd holds it; -EINVAL: a kind of
 * memory userfaultfd cannot take; other -errno.
 */
int uhmm__os_uffd_register_wp(int fd, unsigned long start, unsigned long len);

/*
 * uhmm__os_uffd_unregister() - end our registration of [start, start +
 * len) (page aligned; holes and memory not registered are fine).
 * Return: 0; -EINVAL: the range holds a VMA userfaultfd cannot take or
 * one another userfaultfd registered (then nothing was unregistered), or
 * holds no VMA at all; other -errno.
 */
int uhmm__os_uffd_unregister(int fd, unsigned long start, unsigned long len);

/*
 * uhmm__os_uffd_unprotect() - clear write protection on one page and wake
 * whoever faulted on it (defensive: nothing is ever write-protected).
 */
int uhmm__os_uffd_unprotect(int fd, unsigned long addr, unsigned long len);

/*
 * uhmm__os_uffd_read() - read up to @max pending events without blocking.
 * Reading is what lets the thread that caused an event go on.
 * Return: how many were read (0: none pending), or -errno.
 */
int uhmm__os_uffd_read(int fd, struct uhmm__uffd_event *ev, int max);

#endif /* UHMM_OS_LINUX_UFFD_H */
