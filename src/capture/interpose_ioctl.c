/* SPDX-License-Identifier: MIT */
/*
 * interpose_ioctl.c - the application's own userfaultfd comes first.
 *
 * One VMA belongs to at most one userfaultfd, so once uhmm registered
 * subscribed memory with its own, an application registering the same
 * memory with its userfaultfd gets EBUSY.  This wrapper of ioctl() sees
 * that one failure, ends uhmm's registration of the range and retries:
 * the application gets its range, and uhmm leaves it to patching and
 * interposition (its later registrations there get EBUSY and are
 * skipped), said once on stderr.  Every other ioctl passes straight
 * through.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "../os/linux/raw.h"
#include "capture.h"
#include "interpose.h"
#include "uffd.h"

static int call_ioctl(const struct uhmm__real *r, int fd, unsigned long req,
		      void *arg)
{
	if (r && r->ioctl)
		return r->ioctl(fd, req, arg);
	return (int)uhmm__raw_result(uhmm__raw_syscall(SYS_ioctl, fd,
						       (long)req, (long)arg,
						       0, 0, 0));
}

UHMM__WRAPPER int ioctl(int fd, unsigned long req, ...)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uffdio_register *reg;
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	ret = call_ioctl(r, fd, req, arg);
	if (__builtin_expect(req != UFFDIO_REGISTER, 1) || ret == 0 ||
	    errno != EBUSY)
		return ret;
	reg = arg;
	if (uhmm__uffd_yield(fd, reg->range.start, reg->range.len))
		ret = call_ioctl(r, fd, req, arg);
	return ret;
}
