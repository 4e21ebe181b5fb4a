/* SPDX-License-Identifier: MIT */
/*
 * interpose_syscall.c - syscall(): the mapping calls made by number get
 * the same routes as their libc wrappers; everything else passes straight
 * through.  A bare `syscall` instruction that does not go through libc's
 * syscall() is not seen (docs/capture.md).
 */
#include <stdarg.h>
#include <sys/shm.h>
#include <unistd.h>

#include "../os/linux/raw.h"
#include "capture.h"
#include "interpose.h"
#include "uffd.h"

/* The kernel's current break (a raw brk(0) never moves it). */
static unsigned long raw_brk_now(void)
{
	return (unsigned long)uhmm__raw_syscall(uhmm__raw_nr(UHMM__NR_BRK),
						0, 0, 0, 0, 0, 0);
}

/* The spans system call @nr with arguments @a changes (0..2). */
static int route_nr(struct uhmm__span s[2], enum uhmm__raw_nr nr,
		    const long a[6])
{
	const unsigned long *u = (const unsigned long *)a;

	switch (nr) {
	case UHMM__NR_MUNMAP:
		return uhmm__route_munmap(s, u[0], u[1]);
	case UHMM__NR_MMAP:
		return uhmm__route_mmap(s, u[0], u[1], (int)a[3]);
	case UHMM__NR_MREMAP:
		return uhmm__route_mremap(s, u[0], u[1], u[2], (int)a[3],
					  u[4]);
	case UHMM__NR_MADVISE:
		return uhmm__route_madvise(s, u[0], u[1], (int)a[2]);
	case UHMM__NR_MPROTECT:
	case UHMM__NR_PKEY_MPROTECT:
		return uhmm__route_mprotect(s, u[0], u[1], (int)a[2]);
	case UHMM__NR_BRK:
		return uhmm__route_brk(s, raw_brk_now(), u[0]);
	case UHMM__NR_SHMAT:
		return ((int)a[2] & SHM_REMAP) &&
		       uhmm__route_shmat(s, u[1], (int)a[2],
					 uhmm__os_shm_size((int)a[0]));
	case UHMM__NR_SHMDT:
		return uhmm__shmdt_span(s, u[0]);
	default:
		return 0;
	}
}

static long call_syscall(const struct uhmm__real *r, long nr, const long a[6])
{
	if (r && r->syscall)
		return r->syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	return uhmm__raw_result(uhmm__raw_syscall(nr, a[0], a[1], a[2], a[3],
						  a[4], a[5]));
}

/*
 * Six arguments are read whatever @nr takes, as libc's own syscall() does:
 * the unused ones are whatever the registers held, and are never looked at.
 */
UHMM__WRAPPER long syscall(long nr, ...)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c[2];
	struct uhmm__span s[2];
	enum uhmm__raw_nr which;
	long a[6], ret;
	va_list ap;
	int i, n = 0;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	which = uhmm__raw_classify(nr);
	if (which == UHMM__NR_OTHER || !uhmm__capture_on())
		return call_syscall(r, nr, a);
	n = route_nr(s, which, a);
	uhmm__change_begin(&c[0], n > 0 ? &s[0] : NULL);
	uhmm__change_begin(&c[1], n > 1 ? &s[1] : NULL);
	ret = call_syscall(r, nr, a);
	if (which == UHMM__NR_MUNMAP && ret == 0)
		uhmm__change_unmapped(&c[0]);
	uhmm__change_end(&c[1]);
	uhmm__change_end(&c[0]);
	if (which == UHMM__NR_MMAP && n == 0 && ret != -1)
		uhmm__uffd_mapped((unsigned long)ret, (unsigned long)a[1]);
	return ret;
}
