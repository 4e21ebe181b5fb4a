/* SPDX-License-Identifier: MIT */
/*
 * copy.c - the device's data path: copies that survive memory vanishing.
 *
 * The device copies through virtual addresses while holding its lock.  The
 * lock keeps every change that uhmm announces *before* it happens away
 * from the copy, but a change uhmm only hears about afterwards (a raw
 * munmap system call, reported by userfaultfd or not at all) can remove the
 * memory under it.  A memcpy() would then die of SIGSEGV.  The kernel's
 * process_vm_readv()/process_vm_writev() on our own process do the same
 * copy with the kernel's fault handling instead: an unmapped or
 * inaccessible page ends the copy with a short count or EFAULT.  They
 * respect the mappings' protections (no FOLL_FORCE), as a device access
 * through the CPU's page tables would, and neither allocates nor changes
 * any mapping, so they are safe under the device lock.
 */
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "device.h"

/* Copy a piece; a partial count means the next byte is not accessible. */
static ssize_t copy_once(bool to_app, void *local, unsigned long app,
			 size_t len)
{
	struct iovec l = { .iov_base = local, .iov_len = len };
	struct iovec r = { .iov_base = (void *)app, .iov_len = len };

	if (to_app)
		return process_vm_writev(getpid(), &l, 1, &r, 1, 0);
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0);
}

static int copy(bool to_app, void *local, unsigned long app, size_t len,
		size_t *done)
{
	ssize_t n;

	*done = 0;
	while (*done < len) {
		n = copy_once(to_app, (char *)local + *done, app + *done,
			      len - *done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EFAULT;
		*done += (size_t)n;
	}
	return 0;
}

int dm_copy_from(void *dst, unsigned long src, size_t len, size_t *done)
{
	int saved = errno, ret = copy(false, dst, src, len, done);

	errno = saved;
	return ret;
}

int dm_copy_to(unsigned long dst, const void *src, size_t len, size_t *done)
{
	int saved = errno, ret = copy(true, (void *)(uintptr_t)src, dst, len,
				      done);

	errno = saved;
	return ret;
}
