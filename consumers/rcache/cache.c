/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the registration cache's entry points (include/uhmm/rcache.h;
 * the design is in cache.h and the files it lists).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cache_tlb.h"

__thread struct rc_tlb uhmm__rc_tlb __attribute__((tls_model("initial-exec")));

/* Ids of caches, never reused (cache_tlb.h); 0 is no cache. */
static uint64_t last_cache_id;	/* atomic */

/* ------------------------------------------------------------------ */
/* Create and destroy                                                  */

static bool params_ok(const struct uhmm_rcache_params *p)
{
	return p && p->ops && p->ops->reg && p->ops->dereg &&
	       !(p->flags & ~UHMM_RCACHE_RECLAIMER);
}

/*
 * The cache holds a count reference on @mm for its lifetime; every region
 * inserts a subscription, which fails with -ESRCH once teardown has begun.
 * A probe insert now reports a torn-down address space and a call from
 * inside a callback (-EDEADLK) before anything is built.
 */
static int probe_mm(struct uhmm_mm *mm, unsigned long page_size)
{
	struct uhmm_interval_sub probe;
	int err;

	err = uhmm_interval_sub_insert(&probe, mm, 0, page_size,
				       &uhmm__rc_sub_ops);
	if (!err && uhmm_interval_sub_remove(&probe))
		RC_DIE("a probe subscription would not go");
	return err;
}

static int cache_init(struct uhmm_rcache *c, struct uhmm_mm *mm,
		      const struct uhmm_rcache_params *params)
{
	int err;

	c->p = *params;
	c->id = __atomic_add_fetch(&last_cache_id, 1, __ATOMIC_RELAXED);
	c->mm = mm;
	c->page_size = uhmm_page_size();
	CDS_INIT_LIST_HEAD(&c->lru);
	CDS_INIT_LIST_HEAD(&c->inflight);
	err = uhmm__rc_index_init(&c->index, c->page_size,
				  params->max_regions);
	if (err)
		return err;
	RC_CHECK(pthread_mutex_init(&c->lock, NULL));
	RC_CHECK(pthread_mutex_init(&c->frees_lock, NULL));
	RC_CHECK(pthread_cond_init(&c->frees_cond, NULL));
	return 0;
}

int uhmm_rcache_create(struct uhmm_mm *mm,
		       const struct uhmm_rcache_params *params,
		       struct uhmm_rcache **out)
{
	struct uhmm_rcache *c;
	int err;

	if (!params_ok(params) || !out)
		return -EINVAL;
	if (!mm)
		mm = uhmm_mm_current();
	if (!mm)
		return -ENOMEM;
	err = probe_mm(mm, uhmm_page_size());
	if (err)
		return err;
	/* Aligned as declared: each hit shard on a cache line of its own,
	 * not one it shares with fields every hit reads. */
	if (posix_memalign((void **)&c, _Alignof(struct uhmm_rcache),
			   sizeof(*c)))
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	err = cache_init(c, mm, params);
	if (err) {
		free(c);
		return err;
	}
	uhmm_mm_grab(mm);	/* pairs with the drop in destroy */
	if (params->flags & UHMM_RCACHE_RECLAIMER) {
		err = uhmm__rc_reclaimer_start(c);
		if (err) {
			uhmm_rcache_destroy(c);
			return err;
		}
	}
	*out = c;
	return 0;
}

static void kill_all_locked(struct uhmm_rcache *c)
{
	struct rc_region *r, *tmp;

	cds_list_for_each_entry_safe(r, tmp, &c->lru, list)
		uhmm__rc_kill_locked(c, r);
}

void uhmm_rcache_destroy(struct uhmm_rcache *c)
{
	if (!c)
		return;
	uhmm__rc_reclaimer_stop(c);
	rc_lock(c);
	kill_all_locked(c);
	rc_unlock(c);
	uhmm__rc_drain(c);
	if (c->used_regions || !cds_list_empty(&c->inflight))
		RC_DIE("uhmm_rcache_destroy with regions still held");
	uhmm__rc_wait_frees(c);	/* every region on the free list */
	uhmm__rc_region_free_all(c);
	uhmm__rc_index_fini(&c->index);
	RC_CHECK(pthread_mutex_destroy(&c->lock));
	RC_CHECK(pthread_cond_destroy(&c->frees_cond));
	RC_CHECK(pthread_mutex_destroy(&c->frees_lock));
	uhmm_mm_drop(c->mm);
	free(c);
}

/* ------------------------------------------------------------------ */
/* Get and put                                                         */

/* [addr, addr + len) with its page-aligned hull inside the address space. */
static bool range_ok(const struct uhmm_rcache *c, const void *addr,
		     size_t len)
{
	unsigned long a = (unsigned long)addr;

	return addr && len && a <= ULONG_MAX - (len - 1) &&
	       a + (len - 1) <= ULONG_MAX - (c->page_size - 1);
}

/* The hit path's one check: drain only past the threshold. */
static void drain_if_over(struct uhmm_rcache *c)
{
	if (rc_unlikely(__atomic_load_n(&c->st.pending_bytes,
					__ATOMIC_RELAXED) >
			c->p.max_pending_bytes))
		uhmm__rc_drain(c);
}

/* No lock, no allocation, no system call (once liburcu knows the thread). */
static struct rc_region *lookup(struct uhmm_rcache *c, unsigned long start,
				unsigned long end, unsigned int access)
{
	rc_rcu_token t = uhmm__rc_rcu_read_lock();
	struct rc_region *r = uhmm__rc_index_find(&c->index, start, end,
						  access);

	uhmm__rc_rcu_read_unlock(t);
	if (r)
		rc_mark_referenced(r);
	return r;
}

/* Not in this thread's lookaside: the index, else a miss. */
static __attribute__((noinline)) int get_slow(struct uhmm_rcache *c,
					      unsigned long start,
					      unsigned long end,
					      unsigned int access,
					      struct uhmm_rcache_region **out)
{
	struct rc_region *r = lookup(c, start, end, access);
	int err;

	if (r) {
		uhmm__rc_count_hit(c);
	} else {
		err = uhmm__rc_miss(c, start, end, access, &r);
		if (err)
			return err;
	}
	rc_tlb_fill(c, r);
	*out = &r->pub;
	return 0;
}

int uhmm_rcache_get(struct uhmm_rcache *c, const void *addr, size_t len,
		    unsigned int access, struct uhmm_rcache_region **out)
{
	unsigned long start = (unsigned long)addr;
	struct rc_region *r;

	if (!c || !out || !range_ok(c, addr, len) || !access ||
	    (access & ~RC_ACCESS_ALL))
		return -EINVAL;
	drain_if_over(c);
	r = rc_tlb_get(c, start, start + len, access);
	if (rc_unlikely(!r))
		return get_slow(c, start, start + len, access, out);
	rc_mark_referenced(r);
	uhmm__rc_count_hit(c);
	*out = &r->pub;
	return 0;
}

/* Pairs with the reference get returned.  Never blocks, never allocates. */
void uhmm_rcache_put(struct uhmm_rcache *c, struct uhmm_rcache_region *region)
{
	struct rc_region *r = rc_region_of(region);
	unsigned long refs;

	/* Release: our uses of the region happen before its deregistration;
	 * acquire: the last put sees every other holder's (the same locked
	 * instruction on x86; a separate fence is what TSan cannot model). */
	refs = __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
	if (rc_unlikely(rc_holders(refs) == RC_COUNT_MASK))
		RC_DIE("uhmm_rcache_put of a region not held");
	if ((refs & RC_DEAD) && !rc_holders(refs))
		uhmm__rc_pending_push(c, r);
}

bool uhmm_rcache_region_valid(const struct uhmm_rcache_region *region)
{
	const struct rc_region *r = (const struct rc_region *)
		((const char *)region - offsetof(struct rc_region, pub));

	return !(__atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) & RC_DEAD);
}

/* ------------------------------------------------------------------ */
/* Invalidate, reclaim, stats                                          */

static void invalidate_one(struct uhmm_rcache *c, struct rc_region *r,
			   void *arg)
{
	uhmm__rc_kill_locked(c, r);
	rc_stat_add(c, invalidations, 1);
}

/* Registrations in flight over the range must not be published. */
static void mark_inflight_stale(struct uhmm_rcache *c, unsigned long start,
				unsigned long end)
{
	struct rc_region *r;

	cds_list_for_each_entry(r, &c->inflight, list)
		if (r->pub.start < end && start < r->pub.end)
			r->stale = true;
}

int uhmm_rcache_invalidate(struct uhmm_rcache *c, const void *addr,
			   size_t len)
{
	unsigned long start = (unsigned long)addr;

	if (!c || !range_ok(c, addr, len))
		return -EINVAL;
	uhmm__rc_drain(c);
	rc_lock(c);
	uhmm__rc_for_each_overlap(c, start, start + len, invalidate_one, NULL);
	mark_inflight_stale(c, start, start + len);
	rc_unlock(c);
	uhmm__rc_drain(c);
	return 0;
}

void uhmm_rcache_reclaim(struct uhmm_rcache *c)
{
	if (c)
		uhmm__rc_drain(c);
}

#define LD(f) __atomic_load_n(&c->st.f, __ATOMIC_RELAXED)

void uhmm_rcache_stats(struct uhmm_rcache *c, struct uhmm_rcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	out->hits = uhmm__rc_hits(c);
	out->misses = LD(misses);
	out->merges = LD(merges);
	out->invalidations = LD(invalidations);
	out->evictions = LD(evictions);
	out->registrations = LD(registrations);
	out->deregistrations = LD(deregistrations);
	out->reg_failures = LD(reg_failures);
	out->regions = out->registrations - out->deregistrations;
	out->bytes = LD(reg_bytes) - LD(dereg_bytes);
	out->pending_regions = LD(pending_regions);
	out->pending_bytes = LD(pending_bytes);
}
