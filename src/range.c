/* SPDX-License-Identifier: MIT */
/*
 * range.c - uhmm_range_fault(): the kernel's hmm_range_fault() built from
 * what userspace can see and do: the OS layer's VMA lookup, page-state
 * reader and MADV_POPULATE_*.  This file checks the call and walks the
 * range from VMA to VMA with its retry passes; range_walk.c does the work
 * on each piece and encodes the results.
 *
 * The kernel walks the page tables under the mmap lock, so what it reads
 * holds until it drops the lock.  Userspace has no such lock: every VMA and
 * page state read here may be stale the moment it arrives.  Two things keep
 * the result honest anyway:
 *  - after every fault the chunk is looked up and read again, as the kernel
 *    restarts its walk after each fault, so a result is always a reading
 *    taken after the last fault, never an assumption about its outcome;
 *  - a change the owner must hear about (unmap, discard, protection) runs
 *    its interval callback: the check before each pass turns that into
 *    -EBUSY early, and uhmm_interval_read_retry() under the owner lock
 *    catches what happens after, exactly as with the kernel.
 *
 * The walk goes VMA by VMA and, inside one, in chunks of
 * UHMM__RANGE_CHUNK_PAGES pages aligned to their size: the states of a
 * chunk fit a stack array, and with 4 KiB pages a chunk is one PMD, so a
 * THP is read whole.  A snapshot (no page may request a fault) reads each
 * VMA piece whole instead.
 */
#include "range_walk.h"

/* ------------------------------------------------------------------ */
/* The walk                                                            */

/* The end of the chunk starting at @addr, at most @limit. */
static unsigned long chunk_end(const struct uhmm__range_walk *w,
			       unsigned long addr, unsigned long limit)
{
	unsigned long size = UHMM__RANGE_CHUNK_PAGES * w->ps;
	unsigned long end = (addr & ~(size - 1)) + size;

	return end > addr && end < limit ? end : limit;
}

/* One step from @addr: a hole, a VMA, or one chunk of it.  Sets *@next. */
static int walk_step(const struct uhmm__range_walk *w, unsigned long addr,
		     unsigned long *next, unsigned int pass)
{
	unsigned long end = w->range->end;
	struct uhmm__vma vma;
	int ret = uhmm__os_vma_find(addr, &vma);

	if (ret == -ENOENT)
		vma.start = end;	/* nothing mapped above: all hole */
	else if (ret)
		return ret;
	if (vma.start > addr) {
		*next = vma.start < end ? vma.start : end;
		return uhmm__range_hole(w, addr, *next);
	}
	*next = vma.end < end ? vma.end : end;
	if (!(vma.flags & UHMM__VMA_READ) || (vma.flags & UHMM__VMA_IO))
		return uhmm__range_hole(w, addr, *next);
	if (!w->may_fault)
		return uhmm__range_snapshot(w, &vma, addr, *next);
	*next = chunk_end(w, addr, *next);
	return uhmm__range_chunk(w, &vma, addr, *next, pass);
}

static bool must_retry(const struct uhmm_range *r)
{
	return r->notifier &&
	       uhmm_interval_check_retry(r->notifier, r->notifier_seq);
}

static int walk_range(const struct uhmm__range_walk *w)
{
	unsigned long addr = w->range->start, next;
	unsigned int pass = 0;
	int ret;

	while (addr < w->range->end) {
		if (must_retry(w->range))
			return -EBUSY;
		ret = walk_step(w, addr, &next, pass);
		if (ret == UHMM__RANGE_AGAIN) {
			/* Pages that never settle: someone keeps taking them
			 * away.  Let the caller start over. */
			if (++pass == UHMM__RANGE_MAX_PASSES)
				return -EBUSY;
			continue;
		}
		/* A failure while a change the owner was told of is running
		 * (or ran) may be that change's doing: start over. */
		if (ret)
			return must_retry(w->range) ? -EBUSY : ret;
		addr = next;
		pass = 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

static int range_check(const struct uhmm_range *r)
{
	unsigned long mask = uhmm__os_page_size() - 1;

	if (!r || !r->pfns || r->start >= r->end || ((r->start | r->end) & mask))
		return -EINVAL;
	return 0;
}

static void walk_init(struct uhmm__range_walk *w, struct uhmm_range *range)
{
	w->range = range;
	w->ps = uhmm__os_page_size();
	w->shift = (unsigned int)__builtin_ctzl(w->ps);
	w->may_fault = ((range->default_flags | range->pfn_flags_mask) &
			UHMM__RANGE_REQ_ALL) != 0;
	w->want_pfn = (range->flags & UHMM_RANGE_WANT_PFN) != 0;
}

int uhmm_range_fault(struct uhmm_range *range)
{
	struct uhmm_mm *mm;
	struct uhmm__range_walk w;
	int ret;

	if (uhmm__in_callback())
		return -EDEADLK;
	ret = range_check(range);
	if (ret)
		return ret;
	mm = range->notifier ? uhmm_interval_sub_mm(range->notifier) : range->mm;
	if (!mm)
		return -EINVAL;
	if (!uhmm_mm_get_not_zero(mm))
		return -ESRCH;
	walk_init(&w, range);
	ret = walk_range(&w);
	uhmm_mm_put(mm);	/* pairs with uhmm_mm_get_not_zero() above */
	return ret;
}

const char *uhmm_range_backend(void)
{
	return uhmm__os_page_backend();
}
