/* SPDX-License-Identifier: MIT */
/*
 * cache_tlb.h - the hit path's per-thread lookaside: the regions this
 * thread got last, tried before the index.
 *
 * A runtime sends from the same few buffers again and again; the index
 * probe and the RCU read-side section around it (two calls into liburcu,
 * each with a TLS lookup) are most of what such a hit costs.  Each thread
 * keeps the last RC_TLB_ENTRIES regions it was given, with the range,
 * access and generation they had, and a get covered by one of them takes
 * its reference with one compare-and-swap and nothing else: no lock, no
 * RCU section, no index.
 *
 * Why a pointer kept without a reference is safe to follow:
 *  - the entry names its cache by id (unique in the process, never
 *    reused), and the caller's cache is alive by contract, so an entry of
 *    a destroyed cache is never followed;
 *  - a cache's regions are type-stable (cache.h): the memory stays a
 *    region of that cache, live, dead or on the free list, until destroy;
 *  - the increment compares the whole reference word: it succeeds only
 *    if the region is still the generation the entry was filled from and
 *    not DEAD.  DEAD is set under the cache lock before any change to the
 *    range goes ahead (the interval callback), so a region that changed
 *    is never returned, exactly as through the index.  A generation
 *    repeats after 2^31 reuses of the same region; an entry would have to
 *    sit unused through all of them and then meet a live region.
 *
 * Only the owning thread touches its entries (plain TLS); nothing here
 * allocates or makes a system call.
 */
#ifndef UHMM_RCACHE_CACHE_TLB_H
#define UHMM_RCACHE_CACHE_TLB_H

#include "cache.h"

#define RC_TLB_ENTRIES	4

struct rc_tlb_entry {
	uint64_t cid;			/* the cache's id; 0: empty */
	struct rc_region *r;
	unsigned long gen;		/* r->refs & RC_GEN_MASK when filled */
	unsigned long start, end;	/* r->pub's, immutable once published */
	unsigned int access;
};

struct rc_tlb {
	struct rc_tlb_entry e[RC_TLB_ENTRIES];
	unsigned int next;		/* round-robin replacement */
};

extern __thread struct rc_tlb uhmm__rc_tlb
	__attribute__((tls_model("initial-exec")));

/* A referenced region covering [start, end) with @access, or NULL. */
static inline struct rc_region *rc_tlb_get(const struct uhmm_rcache *c,
					   unsigned long start,
					   unsigned long end,
					   unsigned int access)
{
	struct rc_tlb_entry *e = uhmm__rc_tlb.e;
	unsigned int i;

	for (i = 0; i < RC_TLB_ENTRIES; i++, e++) {
		if (e->cid != c->id || start < e->start || end > e->end ||
		    (access & ~e->access))
			continue;
		if (rc_likely(rc_tryget_gen(e->r, e->gen)))
			return e->r;
		e->cid = 0;	/* gone: the index or a miss will refill */
		return NULL;
	}
	return NULL;
}

/* Remember @r, which the caller holds (so its generation is stable). */
static inline void rc_tlb_fill(const struct uhmm_rcache *c,
			       struct rc_region *r)
{
	struct rc_tlb *t = &uhmm__rc_tlb;
	struct rc_tlb_entry *e;
	unsigned int i;

	for (i = 0; i < RC_TLB_ENTRIES; i++)
		if (t->e[i].cid == c->id && t->e[i].r == r)
			break;
	if (i == RC_TLB_ENTRIES)
		i = t->next++ % RC_TLB_ENTRIES;
	e = &t->e[i];
	e->cid = c->id;
	e->r = r;
	e->gen = __atomic_load_n(&r->refs, __ATOMIC_RELAXED) & RC_GEN_MASK;
	e->start = r->pub.start;
	e->end = r->pub.end;
	e->access = r->pub.access;
}

#endif /* UHMM_RCACHE_CACHE_TLB_H */
