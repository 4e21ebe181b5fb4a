/* SPDX-License-Identifier: MIT */
/*
 * proc.h - what the Linux OS layer's /proc and sysfs readers (vma*.c,
 * pagemap*.c, populate.c) share: cached descriptors, the backend-override
 * environment variables, full reads, and the fork hooks that forget
 * per-process state.
 *
 * Why fork needs hooks: opening /proc/self/maps or /proc/self/pagemap binds
 * the descriptor to the address space of the process that opened it, not to
 * "self" at each read.  A child that kept its parent's descriptor would read
 * (and PAGEMAP_SCAN would walk) the parent's memory.  uhmm__os_fork_child()
 * calls the hooks below, in the child, before anything else runs there.
 *
 * Nothing here allocates.  The helpers may change errno: the OS layer's
 * entry points save and restore it around them.
 */
#ifndef UHMM_OS_LINUX_PROC_H
#define UHMM_OS_LINUX_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "raw.h"

/* In a fork child: drop the parent's /proc/self/maps descriptor
 * (vma_query.c). */
void uhmm__os_vma_fork_child(void);
/* In a fork child: drop the parent's /proc/self/pagemap descriptor
 * (pagemap.c). */
void uhmm__os_page_fork_child(void);

#define UHMM__FD_NONE	(-1)	/* not opened yet */

/*
 * The descriptor cached in *@cache, opening @path read-only on first use.
 * Threads racing to open keep one descriptor and close the others.
 * Return: the descriptor, or -errno.
 */
static inline int uhmm__proc_fd(int *cache, const char *path)
{
	int fd = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	int expected = UHMM__FD_NONE;

	if (fd >= 0)
		return fd;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (__atomic_compare_exchange_n(cache, &expected, fd, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fd;
	close(fd);		/* another thread won; use its descriptor */
	return expected;
}

/*
 * Forget the descriptor in *@cache (fork child: it is the parent's).  A
 * bare system call, not libc's close(): this runs among the atfork child
 * handlers, where a library that wraps close() (an LD_PRELOAD shim) may
 * still hold, until its own child handler runs, the lock it took in its
 * prepare handler.
 */
static inline void uhmm__proc_fd_reset(int *cache)
{
	int fd = __atomic_exchange_n(cache, UHMM__FD_NONE, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		(void)uhmm__raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

/*
 * Which of two backends the environment variable @name asks for: 1 for @a,
 * 2 for @b, 0 if unset or anything else (then the run-time probe decides).
 * getenv() neither allocates nor locks in glibc.
 */
static inline int uhmm__env_choice(const char *name, const char *a,
				   const char *b)
{
	const char *v = getenv(name);

	if (!v)
		return 0;
	if (!strcmp(v, a))
		return 1;
	if (!strcmp(v, b))
		return 2;
	return 0;
}

/*
 * pread() all of @len bytes at @off, retrying short reads and EINTR.
 * Return: bytes read (less than @len only at end of file), or -errno.
 */
static inline long uhmm__pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)done;
}

/*
 * Read a small file (sysfs, procfs) whole into @buf, NUL-terminated.
 * Return: its length, or -errno.
 */
static inline long uhmm__read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n;

	if (fd < 0)
		return -errno;
	n = uhmm__pread_full(fd, buf, size - 1, 0);
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

#endif /* UHMM_OS_LINUX_PROC_H */
