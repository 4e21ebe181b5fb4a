/* SPDX-License-Identifier: MIT */
/*
 * ifilter.c - a lock-free "may anything here be subscribed?" summary of an
 * mm's interval subscriptions, so an invalidation that overlaps nothing
 * (most of a process's munmaps) costs a few loads instead of the interval
 * lock and a tree descent.  Contract in internal.h.
 *
 * A counting filter at five granularities: the page, 64 KiB, 2 MiB,
 * 64 MiB and 2 GiB, each a factor of 16 to 32 above the last.  A
 * subscription is counted at the finest granularity at which it spans at
 * most COUNT_SPAN granules, once in the slot each of those granules hashes
 * to, so it takes at most COUNT_SPAN slots and a registration cache's
 * thousand regions leave most slots empty; one wider than COUNT_SPAN * 2
 * GiB is counted in 'wide', which makes every query answer "maybe".  A
 * query looks at each granularity's granules of its range: any non-zero
 * slot is "maybe" (a hash collision only costs the locked path); a
 * granularity at which nothing is counted is skipped.  A query
 * range wider than QUERY_SPAN pages is always "maybe": munmaps that large
 * are expensive system calls already, and the locked path is exact.
 *
 * Writers hold mm->itree_lock; readers hold nothing.  Every access is
 * sequentially consistent, so the filter is one side of the Dekker pair in
 * interval.c: an insert stores here, then reads the mm's active count; an
 * invalidation increments that count, then reads here.  At least one of
 * them sees the other.
 */
#include "internal.h"

#define COUNT_SPAN	4u	/* granules per subscription, at most */
#define QUERY_SPAN	16u	/* granules per query and level, at most */

/* log2 of each granularity above the page's. */
static const unsigned int coarse_shift[UHMM__IFILTER_LEVELS - 1] = {
	16, 21, 26, 31,
};

_Static_assert((UHMM__IFILTER_SLOTS & (UHMM__IFILTER_SLOTS - 1)) == 0,
	       "filter slots must be a power of two");

void uhmm__ifilter_init(struct uhmm__ifilter *f)
{
	unsigned int i;

	f->shift[0] = (unsigned int)__builtin_ctzl(uhmm__os_page_size());
	for (i = 1; i < UHMM__IFILTER_LEVELS; i++)	/* never below a page */
		f->shift[i] = coarse_shift[i - 1] > f->shift[0] ?
			      coarse_shift[i - 1] : f->shift[0];
}

/*
 * 64 KiB per handle: its own mapping rather than malloc's, so only the
 * slots in use cost memory and a fork child creating its handle takes no
 * allocator lock another thread of the parent may have held (a sanitizer's
 * allocator is not fork-safe for such a size).
 */
struct uhmm__ifilter *uhmm__ifilter_new(void)
{
	struct uhmm__ifilter *f = uhmm__os_map_zeroed(sizeof(*f));

	if (f)
		uhmm__ifilter_init(f);
	return f;
}

void uhmm__ifilter_delete(struct uhmm__ifilter *f)
{
	uhmm__os_unmap(f, sizeof(*f));
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
		if (g1 - g0 < COUNT_SPAN)
			break;
	}
	if (level == UHMM__IFILTER_LEVELS) {
		bump(&f->wide, delta);
		return;
	}
	bump(&f->at_level[level], delta);
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
		/* A granularity nothing is counted at cannot collide. */
		if (!__atomic_load_n(&f->at_level[level], __ATOMIC_SEQ_CST))
			continue;
		g0 = start >> f->shift[level];
		g1 = last >> f->shift[level];
		if (g1 - g0 >= QUERY_SPAN)
			return true;
		for (g = g0; g <= g1; g++)
			if (__atomic_load_n(&f->slot[slot_of(level, g)],
					    __ATOMIC_SEQ_CST))
				return true;
	}
	return false;
}
