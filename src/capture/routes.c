/* SPDX-License-Identifier: MIT */
/*
 * routes.c - which existing memory a call is about to change, and how
 * (contract in capture.h).  Pure functions: no system call, no state.
 *
 * Where the outcome is known only after the call (does mremap move or grow
 * in place? does mmap MAP_FIXED land on a mapping?) the route announces the
 * change that may happen: over-invalidation only makes a subscriber
 * rebuild, while a missed change leaves it a stale translation.  A call the
 * kernel will refuse (bad alignment, EINVAL) may be announced too, for the
 * same reason.
 */
#include <sys/mman.h>
#include <sys/shm.h>

#include "capture.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED	24
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102	/* Linux 6.13: discards, then guards */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif
#ifndef SHM_REMAP
#define SHM_REMAP		040000
#endif

/* [addr, addr + len) as a span, unless empty or wrapping. */
static bool span(struct uhmm__span *s, unsigned long addr, size_t len,
		 enum uhmm_event event)
{
	if (len == 0 || addr + len < addr)
		return false;
	s->start = addr;
	s->end = addr + len;
	s->event = event;
	return true;
}

bool uhmm__route_munmap(struct uhmm__span *s, unsigned long addr, size_t len)
{
	return span(s, addr, len, UHMM_EVENT_UNMAP);
}

/*
 * MAP_FIXED replaces whatever was at the target.  MAP_FIXED_NOREPLACE wins
 * over MAP_FIXED in the kernel and fails (EEXIST) rather than replace, so it
 * changes nothing that exists.
 */
bool uhmm__route_mmap(struct uhmm__span *s, unsigned long addr, size_t len,
		      int flags)
{
	if (!(flags & MAP_FIXED) || (flags & MAP_FIXED_NOREPLACE))
		return false;
	return span(s, addr, len, UHMM_EVENT_UNMAP);
}

/* The old range: moved away (UNMAP), or emptied in place (DONTUNMAP). */
static int mremap_old(struct uhmm__span *s, unsigned long old,
		      size_t old_size, int flags)
{
	enum uhmm_event ev = (flags & MREMAP_DONTUNMAP) ? UHMM_EVENT_CLEAR :
							  UHMM_EVENT_UNMAP;

	return span(s, old, old_size, ev) ? 1 : 0;
}

/* Without MREMAP_FIXED: shrink, grow in place, or (MAYMOVE) maybe move. */
static int mremap_loose(struct uhmm__span *s, unsigned long old,
			size_t old_size, size_t new_size, int flags)
{
	if (new_size < old_size)	/* shrinks in place, never moves */
		return span(s, old + new_size, old_size - new_size,
			    UHMM_EVENT_UNMAP) ? 1 : 0;
	if ((flags & MREMAP_DONTUNMAP) && (flags & MREMAP_MAYMOVE))
		return mremap_old(s, old, old_size, flags);
	/*
	 * Growing: in place leaves the existing pages alone; a move cannot
	 * be told apart beforehand, so with MAYMOVE the old range is
	 * announced (old_size 0 duplicates a shared mapping: nothing goes).
	 */
	if ((flags & MREMAP_MAYMOVE) && new_size > old_size)
		return mremap_old(s, old, old_size, flags);
	return 0;
}

int uhmm__route_mremap(struct uhmm__span s[2], unsigned long old,
		       size_t old_size, size_t new_size, int flags,
		       unsigned long new_addr)
{
	int n;

	if (!(flags & MREMAP_FIXED))
		return mremap_loose(s, old, old_size, new_size, flags);
	/* A fixed move: the old range goes, and the target is replaced. */
	n = mremap_old(&s[0], old, old_size, flags);
	n += span(&s[n], new_addr, new_size, UHMM_EVENT_UNMAP) ? 1 : 0;
	return n;
}

bool uhmm__route_madvise(struct uhmm__span *s, unsigned long addr,
			 size_t len, int advice)
{
	switch (advice) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_REMOVE:
	case MADV_GUARD_INSTALL:
		return span(s, addr, len, UHMM_EVENT_CLEAR);
	default:
		return false;
	}
}

/*
 * Conservative: announced whenever the new protection lacks read or write,
 * whatever the old one was (knowing it would need a VMA lookup per call);
 * a translation may have been made with either right.
 */
bool uhmm__route_mprotect(struct uhmm__span *s, unsigned long addr,
			  size_t len, int prot)
{
	if ((prot & PROT_READ) && (prot & PROT_WRITE))
		return false;
	return span(s, addr, len, UHMM_EVENT_PROTECTION);
}

bool uhmm__route_brk(struct uhmm__span *s, unsigned long cur_brk,
		     unsigned long new_brk)
{
	if (new_brk == 0 || new_brk >= cur_brk)	/* query or grow */
		return false;
	return span(s, new_brk, cur_brk - new_brk, UHMM_EVENT_UNMAP);
}

bool uhmm__route_sbrk(struct uhmm__span *s, unsigned long cur_brk,
		      intptr_t incr)
{
	unsigned long down = -(unsigned long)incr;

	if (incr >= 0 || down > cur_brk)
		return false;
	return span(s, cur_brk - down, down, UHMM_EVENT_UNMAP);
}

/*
 * Only SHM_REMAP replaces a mapping (the kernel refuses it without an
 * address).  SHM_RND rounds the address down to SHMLBA first.
 */
bool uhmm__route_shmat(struct uhmm__span *s, unsigned long addr, int flags,
		       size_t size)
{
	unsigned long lba = SHMLBA;

	if (!(flags & SHM_REMAP) || addr == 0)
		return false;
	if (flags & SHM_RND)
		addr &= ~(lba - 1);
	return span(s, addr, size, UHMM_EVENT_UNMAP);
}

bool uhmm__route_shmdt(struct uhmm__span *s, unsigned long addr,
		       unsigned long map_end)
{
	if (map_end <= addr)
		return false;
	return span(s, addr, map_end - addr, UHMM_EVENT_UNMAP);
}
