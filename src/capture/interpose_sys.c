/* SPDX-License-Identifier: MIT */
/*
 * interpose_sys.c - the wrappers whose route needs the address space's
 * state first: brk and sbrk (the current break), shmat (the segment's
 * size) and shmdt (the mapping's extent); and syscall(), which decodes the
 * same calls made by number and passes everything else straight through.
 *
 * glibc's malloc grows and trims the heap with its internal __sbrk, not
 * through the PLT: only entry patching of __brk sees that (patch.h); when
 * brk is patched, these two pass through (glibc's sbrk calls __brk).
 * brk and sbrk forward to glibc's own, which keep the cached break
 * (__curbrk) right; a raw brk would leave it stale.
 */
#include <stdarg.h>
#include <sys/shm.h>
#include <unistd.h>

#include "../os/os.h"
#include "../os/linux/raw.h"
#include "capture.h"
#include "interpose.h"
#include "patch.h"

extern void *__sbrk(intptr_t incr);	/* glibc: the PLT-free sbrk */

/* A span, or NULL when capture is off, @fn is patched (patch.h) or
 * nothing existing changes. */
#define ROUTE(fn, s, call)                                                 \
	((uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_##fn) && (call)) \
		 ? (s) : NULL)

#define RAW(nr, a0, a1, a2, a3, a4, a5)                                    \
	uhmm__raw_result(uhmm__raw_syscall(uhmm__raw_nr(nr), (long)(a0),   \
					   (long)(a1), (long)(a2),          \
					   (long)(a3), (long)(a4), (long)(a5)))

static void *call_sbrk(const struct uhmm__real *r, intptr_t incr)
{
	return (r && r->sbrk) ? r->sbrk(incr) : __sbrk(incr);
}

static unsigned long cur_brk(const struct uhmm__real *r)
{
	return (unsigned long)call_sbrk(r, 0);
}

UHMM__WRAPPER void *sbrk(intptr_t incr)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	bool hit;
	void *ret;

	hit = incr < 0 && uhmm__capture_on() &&
	      !uhmm__patched(UHMM__PATCH_BRK) &&
	      uhmm__route_sbrk(&s, cur_brk(r), incr);
	uhmm__change_begin(&c, hit ? &s : NULL);
	ret = call_sbrk(r, incr);
	uhmm__change_end(&c);
	return ret;
}

UHMM__WRAPPER int brk(void *addr)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	unsigned long cur;
	bool hit = false;
	int ret;

	if (uhmm__capture_on() && !uhmm__patched(UHMM__PATCH_BRK)) {
		cur = cur_brk(r);
		hit = uhmm__route_brk(&s, cur, (unsigned long)addr);
	}
	uhmm__change_begin(&c, hit ? &s : NULL);
	if (r && r->brk)
		ret = r->brk(addr);
	else
		ret = call_sbrk(r, (intptr_t)((unsigned long)addr -
					      cur_brk(r))) == (void *)-1 ? -1 : 0;
	uhmm__change_end(&c);
	return ret;
}

/* The span shmat(@id, @addr, @flags) replaces, if any. */
static bool shmat_span(struct uhmm__span *s, int id, unsigned long addr,
		       int flags)
{
	if (!(flags & SHM_REMAP) || !uhmm__capture_on() ||
	    uhmm__patched(UHMM__PATCH_SHMAT))
		return false;
	return uhmm__route_shmat(s, addr, flags, uhmm__os_shm_size(id));
}

UHMM__WRAPPER void *shmat(int id, const void *addr, int flags)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	void *ret;

	uhmm__change_begin(&c, shmat_span(&s, id, (unsigned long)addr, flags) ?
				       &s : NULL);
	ret = (r && r->shmat) ? r->shmat(id, addr, flags) :
		(void *)RAW(UHMM__NR_SHMAT, id, addr, flags, 0, 0, 0);
	uhmm__change_end(&c);
	return ret;
}

/*
 * The span shmdt(@addr) unmaps: the mapping that starts at @addr.  A
 * segment split by mprotect into several mappings is announced only up to
 * the first split (a known gap, docs/capture.md).
 */
bool uhmm__shmdt_span(struct uhmm__span *s, unsigned long addr)
{
	struct uhmm__vma v;

	if (uhmm__os_vma_find(addr, &v) || v.start > addr)
		return false;
	return uhmm__route_shmdt(s, addr, v.end);
}

UHMM__WRAPPER int shmdt(const void *addr)
{
	const struct uhmm__real *r = uhmm__real_get();
	struct uhmm__change c;
	struct uhmm__span s;
	int ret;

	uhmm__change_begin(&c, ROUTE(SHMDT, &s, uhmm__shmdt_span(&s,
				(unsigned long)addr)));
	ret = (r && r->shmdt) ? r->shmdt(addr) :
		(int)RAW(UHMM__NR_SHMDT, addr, 0, 0, 0, 0, 0);
	uhmm__change_end(&c);
	return ret;
}
