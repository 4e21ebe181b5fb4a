/* SPDX-License-Identifier: MIT */
/*
 * cache_lru.c - the limits (max_regions, max_bytes) and eviction.
 *
 * used_regions / used_bytes count every region not yet deregistered: held,
 * idle, pending, and the reservations of registrations in flight.  They
 * drop only after ->dereg, so a backend with a fixed table (io_uring's
 * registered buffers) never sees more registrations than the limit.
 *
 * Eviction approximates LRU with a clock: c->lru holds live regions in the
 * order they were published; a hit sets the region's referenced bit (one
 * relaxed store, no lock).  The hand takes the head: referenced -> clear
 * and move to the tail (a second chance); held -> move to the tail; idle
 * -> the victim, if a CAS from 0 to DEAD wins against a concurrent hit.
 * Two full turns visit every region twice: after the first clears every
 * bit, the second finds any idle region.
 */
#include <errno.h>

#include "cache.h"

static bool over(const struct uhmm_rcache *c, unsigned long regions,
		 unsigned long bytes)
{
	return (c->p.max_regions && regions > c->p.max_regions) ||
	       (c->p.max_bytes && bytes > c->p.max_bytes);
}

static struct rc_region *clock_victim_locked(struct uhmm_rcache *c)
{
	unsigned long turns = 2 * c->index.nr, refs;
	struct rc_region *r;

	while (turns-- && !cds_list_empty(&c->lru)) {
		r = cds_list_first_entry(&c->lru, struct rc_region, list);
		cds_list_del(&r->list);
		cds_list_add_tail(&r->list, &c->lru);
		if (__atomic_exchange_n(&r->referenced, false, __ATOMIC_RELAXED))
			continue;
		refs = __atomic_load_n(&r->refs, __ATOMIC_RELAXED);
		if (!rc_holders(refs) && !(refs & RC_DEAD) &&
		    __atomic_compare_exchange_n(&r->refs, &refs,
						refs | RC_DEAD, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return r;
	}
	return NULL;
}

/* Unpublish a victim nobody holds; the caller deregisters it unlocked. */
static void evict_locked(struct uhmm_rcache *c, struct rc_region *r,
			 struct rc_region **victims)
{
	uhmm__rc_index_remove(&c->index, r);
	cds_list_del(&r->list);
	r->state = RC_GONE;
	r->next_dead = *victims;
	*victims = r;
	rc_stat_add(c, evictions, 1);
}

/*
 * Room for one more region of @bytes: evict idle regions, least recently
 * used first, until the new one fits once the victims (still counted until
 * their ->dereg) are gone.  Return 0 with the room reserved and *victims
 * to deregister after unlocking; -ENOSPC when held and pending regions
 * alone leave no room; RC_RETRY when deregistrations under way (the pending
 * list) may make room: drain and try again.
 */
int uhmm__rc_reserve_locked(struct uhmm_rcache *c, unsigned long bytes,
			    struct rc_region **victims)
{
	unsigned long regions = c->used_regions + 1;
	unsigned long total = c->used_bytes + bytes;
	struct rc_region *v;

	if (c->p.max_bytes && bytes > c->p.max_bytes)
		return -ENOSPC;
	while (over(c, regions, total)) {
		v = clock_victim_locked(c);
		if (!v)
			return __atomic_load_n(&c->pending, __ATOMIC_RELAXED) ?
				RC_RETRY : -ENOSPC;
		evict_locked(c, v, victims);
		regions--;
		total -= rc_len(v);
	}
	c->used_regions++;
	c->used_bytes += bytes;
	return 0;
}

void uhmm__rc_unreserve_locked(struct uhmm_rcache *c, unsigned long bytes)
{
	c->used_regions--;
	c->used_bytes -= bytes;
}
