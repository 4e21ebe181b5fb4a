/* SPDX-License-Identifier: MIT */
/*
 * interpose.c - the mapping wrappers of libuhmm-interpose.so: munmap, mmap,
 * mmap64, mremap, madvise, mprotect, pkey_mprotect.  Each asks its route
 * whether existing memory changes, announces it before the real call and
 * ends it after (capture.h).  The real call's result and errno are the
 * caller's; announcing never makes a call fail.
 *
 * Hook hygiene: no malloc, errno preserved by dispatch, and no libc call
 * that could come back here before the real functions are resolved (until
 * then the raw path runs, see interpose.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "../os/linux/raw.h"
#include "capture.h"
#include "interpose.h"
#include "patch.h"
#include "uffd.h"

#define RAW(nr, a0, a1, a2, a3, a4, a5)                                    \
	uhmm__raw_result(uhmm__raw_syscall(uhmm__raw_nr(nr), (long)(a0),   \
					   (long)(a1), (long)(a2),          \
					   (long)(a3), (long)(a4), (long)(a5)))

/*
 * A span, or NULL when capture is off, when libc's function @fn is patched
 * (it announces the change itself: patch.h), or nothing existing changes.
 */
#define ROUTE(fn, s, call)                                                 \
	((uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_##fn) && (call)) \
		 ? (s) : NULL)

static void *call_mmap(void *(*fn)(void *, size_t, int, int, int, off_t),
		       void *addr, size_t len, int prot, int flags, int fd,
		       off_t off)
{
	if (fn)
		return fn(addr, len, prot, flags, fd, off);
	return (void *)RAW(UHMM__NR_MMAP, addr, len, prot, flags, fd, off);
}

static void *mmap_common(bool is64, void *addr, size_t len, int prot,
			 int flags, int fd, off_t off)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	bool ours = uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_MMAP64);
	bool hit = ours && uhmm__route_mmap(&s, (unsigned long)addr, len,
					    flags);
	void *ret;

	uhmm__change_begin(&c, hit ? &s : NULL);
	ret = call_mmap(r ? (is64 ? r->mmap64 : r->mmap) : NULL, addr, len,
			prot, flags, fd, off);
	uhmm__change_end(&c);
	if (ours && !hit && ret != MAP_FAILED)
		uhmm__uffd_mapped((unsigned long)ret, len);
	return ret;
}

UHMM__WRAPPER void *mmap(void *addr, size_t len, int prot, int flags, int fd,
			 off_t off)
{
	return mmap_common(false, addr, len, prot, flags, fd, off);
}

UHMM__WRAPPER void *mmap64(void *addr, size_t len, int prot, int flags,
			   int fd, off_t off)
{
	return mmap_common(true, addr, len, prot, flags, fd, off);
}

UHMM__WRAPPER int munmap(void *addr, size_t len)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	int ret;

	uhmm__change_begin(&c, ROUTE(MUNMAP, &s, uhmm__route_munmap(&s,
				(unsigned long)addr, len)));
	ret = (r && r->munmap) ? r->munmap(addr, len) :
				 (int)RAW(UHMM__NR_MUNMAP, addr, len, 0, 0, 0, 0);
	if (ret == 0)
		uhmm__change_unmapped(&c);
	uhmm__change_end(&c);
	return ret;
}

static void *call_mremap(const struct uhmm__real *r, void *old,
			 size_t old_size, size_t new_size, int flags,
			 void *new_addr)
{
	if (r && r->mremap)
		return r->mremap(old, old_size, new_size, flags, new_addr);
	return (void *)RAW(UHMM__NR_MREMAP, old, old_size, new_size, flags,
			   new_addr, 0);
}

UHMM__WRAPPER void *mremap(void *old, size_t old_size, size_t new_size,
			   int flags, ...)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c[2];
	struct uhmm__span s[2];
	void *new_addr = NULL, *ret;
	va_list ap;
	int n = 0;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_MREMAP))
		n = uhmm__route_mremap(s, (unsigned long)old, old_size,
				       new_size, flags,
				       (unsigned long)new_addr);
	uhmm__change_begin(&c[0], n > 0 ? &s[0] : NULL);
	uhmm__change_begin(&c[1], n > 1 ? &s[1] : NULL);
	ret = call_mremap(r, old, old_size, new_size, flags, new_addr);
	uhmm__change_end(&c[1]);
	uhmm__change_end(&c[0]);
	if (ret == MAP_FAILED && errno == EFAULT &&
	    uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_MREMAP) &&
	    uhmm__mremap_split(&s[0], old, old_size)) {
		/* Our registration split the mapping: once more, quiet. */
		uhmm__change_begin(&c[0], &s[0]);
		ret = call_mremap(r, old, old_size, new_size, flags, new_addr);
		uhmm__change_end(&c[0]);
	}
	return ret;
}

UHMM__WRAPPER int madvise(void *addr, size_t len, int advice)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	int ret;

	uhmm__change_begin(&c, ROUTE(MADVISE, &s, uhmm__route_madvise(&s,
				(unsigned long)addr, len, advice)));
	ret = (r && r->madvise) ? r->madvise(addr, len, advice) :
		(int)RAW(UHMM__NR_MADVISE, addr, len, advice, 0, 0, 0);
	uhmm__change_end(&c);
	return ret;
}

UHMM__WRAPPER int mprotect(void *addr, size_t len, int prot)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	int ret;

	uhmm__change_begin(&c, ROUTE(MPROTECT, &s, uhmm__route_mprotect(&s,
				(unsigned long)addr, len, prot)));
	ret = (r && r->mprotect) ? r->mprotect(addr, len, prot) :
		(int)RAW(UHMM__NR_MPROTECT, addr, len, prot, 0, 0, 0);
	uhmm__change_end(&c);
	return ret;
}

UHMM__WRAPPER int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	int ret;

	uhmm__change_begin(&c, ROUTE(PKEY_MPROTECT, &s,
		uhmm__route_mprotect(&s, (unsigned long)addr, len, prot)));
	ret = (r && r->pkey_mprotect) ?
		r->pkey_mprotect(addr, len, prot, pkey) :
		(int)RAW(UHMM__NR_PKEY_MPROTECT, addr, len, prot, pkey, 0, 0);
	uhmm__change_end(&c);
	return ret;
}
