/* SPDX-License-Identifier: MIT */
/*
 * cache_index.c - where the hit path finds a region without a lock.
 *
 * A hashed multi-level grid (cache.h: struct rc_index).  Level i has chunks
 * of 2^shift[i] = page size * 4^i bytes; a region of length L is indexed at
 * the smallest level whose chunk size is >= L, so it touches at most two
 * chunks there, and is linked into those chunks' hash chains by the two
 * rc_link entries embedded in it.
 *
 * Why this and not a radix page table (UCX's ucs_pgtable): regions here may
 * overlap (access the backend would not merge; a new region and the
 * dominated ones it replaces while their holders finish), which a page
 * table slot holding one region cannot express; and publishing or
 * unpublishing must never allocate (unpublish runs inside free()), which
 * embedded entries give for free while a page table needs directory nodes.
 *
 * Lookup of [start, end): a covering region contains @start, so it is
 * linked into the chain of chunk (start >> shift) of its level.  For each
 * occupied level (a bitmask, usually a few bits) hash (level, chunk) and
 * walk one chain.  Cost: one probe per occupied level plus the chain.
 *
 * Concurrency: writers (insert, remove) run under the cache lock; readers
 * walk chains under RCU.  A removed entry keeps its ->next, so a reader
 * standing on it walks on into the list; entries are never reinserted, and
 * regions are freed only after a grace period (cache_region.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "cache.h"

#define LEVEL_BITS	2	/* chunk size grows 4x per level */
#define MIN_BUCKETS	1024UL
#define MAX_BUCKETS	(1UL << 20)
#define DEFAULT_BUCKETS	(1UL << 14)	/* max_regions 0: no limit */

static unsigned int log2_ul(unsigned long v)
{
	return 63 - (unsigned int)__builtin_clzl(v);
}

static unsigned long bucket_count(size_t max_regions)
{
	unsigned long n;

	if (!max_regions)
		return DEFAULT_BUCKETS;
	if (max_regions >= MAX_BUCKETS / 2)
		return MAX_BUCKETS;
	n = MIN_BUCKETS;
	while (n < 2 * max_regions)
		n <<= 1;
	return n;
}

int uhmm__rc_index_init(struct rc_index *ix, unsigned long page_size,
			size_t max_regions)
{
	unsigned long n = bucket_count(max_regions);
	unsigned int s, i;

	ix->buckets = calloc(n, sizeof(*ix->buckets));
	if (!ix->buckets)
		return -ENOMEM;
	ix->hash_shift = 64 - log2_ul(n);
	s = log2_ul(page_size);
	for (i = 0; i < RC_LEVELS && s <= 63; i++, s += LEVEL_BITS)
		ix->shift[i] = (unsigned char)s;
	ix->nlevels = i;
	ix->occupied = 0;
	ix->nr = 0;
	return 0;
}

void uhmm__rc_index_fini(struct rc_index *ix)
{
	if (ix->nr)
		RC_DIE("index destroyed with regions in it");
	free(ix->buckets);
}

static unsigned int level_of(const struct rc_index *ix, unsigned long len)
{
	unsigned int i;

	for (i = 0; i + 1 < ix->nlevels; i++)
		if (len <= 1UL << ix->shift[i])
			break;
	return i;
}

static struct rc_link **bucket(const struct rc_index *ix, unsigned int level,
			       unsigned long chunk)
{
	uint64_t h = (chunk ^ ((uint64_t)level << 57)) * 0x9E3779B97F4A7C15ULL;

	return &ix->buckets[h >> ix->hash_shift];
}

static void link_insert(struct rc_index *ix, struct rc_link *l)
{
	struct rc_link **head = bucket(ix, l->level, l->chunk);
	struct rc_link *first = *head;

	l->next = first;
	l->pprev = head;
	if (first)
		first->pprev = &l->next;
	rc_rcu_assign(*head, l);	/* pairs with rc_rcu_deref in find */
}

static void link_remove(struct rc_link *l)
{
	struct rc_link *next = l->next;

	/* l->next stays: a reader standing on l walks on. */
	rc_rcu_assign(*l->pprev, next);
	if (next)
		next->pprev = l->pprev;
}

static void level_count(struct rc_index *ix, unsigned int level, long delta)
{
	ix->count[level] += (unsigned long)delta;
	ix->nr += (unsigned long)delta;
	if (ix->count[level])
		__atomic_or_fetch(&ix->occupied, 1UL << level, __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&ix->occupied, ~(1UL << level),
				   __ATOMIC_RELAXED);
}

void uhmm__rc_index_insert(struct rc_index *ix, struct rc_region *r)
{
	unsigned int level = level_of(ix, rc_len(r));
	unsigned int s = ix->shift[level];
	unsigned long first = r->pub.start >> s;
	unsigned long last = (r->pub.end - 1) >> s;
	unsigned int i;

	r->nlinks = first == last ? 1 : 2;
	r->link[0].chunk = first;
	r->link[1].chunk = last;
	for (i = 0; i < r->nlinks; i++) {
		r->link[i].level = level;
		r->link[i].idx = i;
		link_insert(ix, &r->link[i]);
	}
	level_count(ix, level, 1);
}

void uhmm__rc_index_remove(struct rc_index *ix, struct rc_region *r)
{
	unsigned int i;

	for (i = 0; i < r->nlinks; i++)
		link_remove(&r->link[i]);
	level_count(ix, r->link[0].level, -1);
}

static struct rc_region *link_region(struct rc_link *l)
{
	return rc_container_of(l - l->idx, struct rc_region, link[0]);
}

static bool covers(const struct rc_region *r, unsigned long start,
		   unsigned long end, unsigned int access)
{
	return r->pub.start <= start && end <= r->pub.end &&
	       !(access & ~r->pub.access);
}

static struct rc_region *find_in_chain(struct rc_index *ix, unsigned int level,
				       unsigned long start, unsigned long end,
				       unsigned int access)
{
	unsigned long chunk = start >> ix->shift[level];
	struct rc_link *l;

	for (l = rc_rcu_deref(*bucket(ix, level, chunk)); l;
	     l = rc_rcu_deref(l->next)) {
		struct rc_region *r;

		if (l->chunk != chunk || l->level != level)
			continue;
		r = link_region(l);
		if (covers(r, start, end, access) && rc_tryget(r))
			return r;
	}
	return NULL;
}

struct rc_region *uhmm__rc_index_find(struct rc_index *ix, unsigned long start,
				      unsigned long end, unsigned int access)
{
	unsigned long levels = __atomic_load_n(&ix->occupied, __ATOMIC_RELAXED);
	struct rc_region *r;

	while (levels) {
		unsigned int level = (unsigned int)__builtin_ctzl(levels);

		levels &= levels - 1;
		r = find_in_chain(ix, level, start, end, access);
		if (r)
			return r;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Overlap walks, under the cache lock                                 */

static bool overlaps(const struct rc_region *r, unsigned long start,
		     unsigned long end)
{
	return r->pub.start < end && start < r->pub.end;
}

/* Chunks of [start, end) at every occupied level, saturating. */
static unsigned long chunks_to_scan(const struct rc_index *ix,
				    unsigned long start, unsigned long end)
{
	unsigned long n = 0, levels = ix->occupied;

	while (levels) {
		unsigned int s = ix->shift[__builtin_ctzl(levels)];
		unsigned long k = ((end - 1) >> s) - (start >> s) + 1;

		levels &= levels - 1;
		n = n + k < n ? ~0UL : n + k;
	}
	return n;
}

/*
 * A region touching chunks [first, last] of the walk is visited once:
 * through link[0], or through link[1] when link[0]'s chunk is before the
 * walk.  @fn may unpublish the region: its entries keep their ->next.
 */
static void scan_chunk(struct uhmm_rcache *c, unsigned int level,
		       unsigned long chunk, unsigned long first,
		       unsigned long start, unsigned long end,
		       rc_visit_fn fn, void *arg)
{
	struct rc_link *l, *next;

	for (l = *bucket(&c->index, level, chunk); l; l = next) {
		struct rc_region *r;

		next = l->next;
		if (l->chunk != chunk || l->level != level)
			continue;
		r = link_region(l);
		if (l->idx == 1 && r->link[0].chunk >= first)
			continue;
		if (r->state == RC_LIVE && overlaps(r, start, end))
			fn(c, r, arg);
	}
}

static void scan_levels(struct uhmm_rcache *c, unsigned long start,
			unsigned long end, rc_visit_fn fn, void *arg)
{
	unsigned long levels = c->index.occupied;

	while (levels) {
		unsigned int level = (unsigned int)__builtin_ctzl(levels);
		unsigned int s = c->index.shift[level];
		unsigned long first = start >> s, last = (end - 1) >> s, k;

		levels &= levels - 1;
		for (k = first;; k++) {
			scan_chunk(c, level, k, first, start, end, fn, arg);
			if (k == last)
				break;
		}
	}
}

static void scan_lru(struct uhmm_rcache *c, unsigned long start,
		     unsigned long end, rc_visit_fn fn, void *arg)
{
	struct rc_region *r, *tmp;

	cds_list_for_each_entry_safe(r, tmp, &c->lru, list)
		if (overlaps(r, start, end))
			fn(c, r, arg);
}

/* A big range over many small regions: walking every region is cheaper. */
void uhmm__rc_for_each_overlap(struct uhmm_rcache *c, unsigned long start,
			       unsigned long end, rc_visit_fn fn, void *arg)
{
	if (chunks_to_scan(&c->index, start, end) > c->index.nr)
		scan_lru(c, start, end, fn, arg);
	else
		scan_levels(c, start, end, fn, arg);
}
