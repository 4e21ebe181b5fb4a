/* SPDX-License-Identifier: MIT */
/*
 * ifilter.c - a lock-free "may anything here be subscribed?" summary of an
 * mm's interval subscriptions, so an invalidation that overlaps nothing
 * (most of a process's munmaps) costs a few loads instead of the interval
 * lock and a tree descent.  Contract in internal.h.
 *
 * A counting filter at three granularities: the page, 2 MiB and 1 GiB.
 * A subscription is counted at the finest granularity at which it spans
 * at most IFILTER_SPAN granules, once in the slot each of those granules
 * hashes to; one wider than IFILTER_SPAN gigabytes is counted in 'wide',
 * which makes every query answer "maybe".  A query looks at each
 * granularity's granules of its range: any non-zero slot is "maybe"
 * (a hash collision only costs the locked path).  A query range wider
 * than IFILTER_SPAN pages is always "maybe": munmaps that large are
 * expensive system calls already, and the locked path is exact.
 *
 * Writers hold mm->itree_lock; readers hold nothing.  Every access is
 * sequentially consistent, so the filter is one side of the Dekker pair in
 * interval.c: an insert stores here, then reads the mm's active count; an
 * invalidation increments that count, then reads here.  At least one of
 * them sees the other.
 */
#include "internal.h"

#define IFILTER_SPAN	8u	/* granules per subscription or query */
#define GRAN_2M		21u
#define GRAN_1G		30u

_Static_assert((UHMM__IFILTER_SLOTS & (UHMM__IFILTER_SLOTS - 1)) == 0,
	       "filter slots must be a power of two");

void uhmm__ifilter_init(struct uhmm__ifilter *f)
{
	unsigned int i;

	f->shift[0] = (unsigned int)__builtin_ctzl(uhmm__os_page_size());
	f->shift[1] = GRAN_2M;
	f->shift[2] = GRAN_1G;
	f->wide = 0;
	for (i = 0; i < UHMM__IFILTER_SLOTS; i++)
		f->slot[i] = 0;
}

static unsigned int slot_of(unsigned int level, unsigned long granule)
{
	unsigned long h = (granule ^ ((unsigned long)level << 58)) *
			  0x9e3779b97f4a7c15ul;

	return (unsigned int)(h >> (64 - UHMM__IFILTER_LOG2_SLOTS));
}

static void bump(unsigned int *c, int delta)
{
	unsigned int v = __atomic_load_n(c, __ATOMIC_RELAXED);

	if (delta < 0 && v == 0)
		UHMM_DIE("interval filter count underflow");
	__atomic_store_n(c, v + (unsigned int)delta, __ATOMIC_SEQ_CST);
}

void uhmm__ifilter_count(struct uhmm__ifilter *f, unsigned long start,
			 unsigned long last, int delta)
{
	unsigned long g, g0, g1;
	unsigned int level;

	for (level = 0; level < UHMM__IFILTER_LEVELS; level++) {
		g0 = start >> f->shift[level];
		g1 = last >> f->shift[level];
		if (g1 - g0 < IFILTER_SPAN)
			break;
	}
	if (level == UHMM__IFILTER_LEVELS) {
		bump(&f->wide, delta);
		return;
	}
	for (g = g0; g <= g1; g++)
		bump(&f->slot[slot_of(level, g)], delta);
}

bool uhmm__ifilter_may_overlap(const struct uhmm__ifilter *f,
			       unsigned long start, unsigned long last)
{
	unsigned long g, g0, g1;
	unsigned int level;

	if (__atomic_load_n(&f->wide, __ATOMIC_SEQ_CST))
		return true;
	for (level = 0; level < UHMM__IFILTER_LEVELS; level++) {
		g0 = start >> f->shift[level];
		g1 = last >> f->shift[level];
		if (g1 - g0 >= IFILTER_SPAN)
			return true;
		for (g = g0; g <= g1; g++)
			if (__atomic_load_n(&f->slot[slot_of(level, g)],
					    __ATOMIC_SEQ_CST))
				return true;
	}
	return false;
}
