/* SPDX-License-Identifier: MIT */
/*
 * cache_region.c - a region's life after registration: references, the
 * interval callback, the pending list, deregistration, and the type-stable
 * allocation that reuses regions (states in cache.h).
 *
 * The pending list is a lock-free stack (push one, pop all): pushes come
 * from the callback (under the cache lock) and from put (no lock, maybe
 * inside a callback or a signal handler); a drain takes the whole stack
 * with one exchange, so there is no ABA.  Nothing on the way in allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"

void uhmm__rc_die(const char *where, const char *msg)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "uhmm: rcache: %s: %s\n", where,
			 msg);

	if (n > 0 && write(STDERR_FILENO, buf, (size_t)n) < 0)
		n = 0;
	abort();
}

/* ------------------------------------------------------------------ */
/* Type-stable allocation (cache.h)                                    */

struct rc_region *uhmm__rc_region_alloc(struct uhmm_rcache *c)
{
	struct rc_region *r;
	unsigned long gen;

	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	r = c->free_regions;
	if (r)
		c->free_regions = r->next_dead;
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
	if (!r) {
		/* Line aligned: refs shares its line with no other
		 * region's fields (nor anyone's malloc'd bytes). */
		if (posix_memalign((void **)&r, 64, sizeof(*r)))
			return NULL;
		r->refs = 0;	/* generation 0: never kept by anyone */
	}
	/* refs is left alone: a thread holding a stale pointer may be
	 * comparing it right now (cache_tlb.h). */
	memset((char *)r + offsetof(struct rc_region, pub), 0,
	       sizeof(*r) - offsetof(struct rc_region, pub));
	r->cache = c;
	r->state = RC_NEW;
	CDS_INIT_LIST_HEAD(&r->list);
	gen = (__atomic_load_n(&r->refs, __ATOMIC_RELAXED) + RC_GEN_ONE) &
	      RC_GEN_MASK;
	/* Holder 1: the registering thread's, handed to get. */
	__atomic_store_n(&r->refs, gen | 1, __ATOMIC_RELAXED);
	return r;
}

/* Under frees_lock; @r is DEAD. */
static void free_list_push_locked(struct uhmm_rcache *c, struct rc_region *r)
{
	r->next_dead = c->free_regions;
	c->free_regions = r;
}

void uhmm__rc_region_recycle(struct uhmm_rcache *c, struct rc_region *r)
{
	__atomic_fetch_or(&r->refs, RC_DEAD, __ATOMIC_RELAXED);
	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	free_list_push_locked(c, r);
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
}

void uhmm__rc_region_free_all(struct uhmm_rcache *c)
{
	struct rc_region *r, *next;

	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	r = c->free_regions;
	c->free_regions = NULL;
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
	for (; r; r = next) {
		next = r->next_dead;
		free(r);
	}
}

void uhmm__rc_pending_push(struct uhmm_rcache *c, struct rc_region *r)
{
	struct rc_region *head;
	uint64_t bytes;

	/* Counted before the push, so a drain never takes them below 0. */
	rc_stat_add(c, pending_regions, 1);
	bytes = rc_stat_add(c, pending_bytes, rc_len(r));
	head = __atomic_load_n(&c->pending, __ATOMIC_RELAXED);
	do {
		r->next_dead = head;
	} while (!__atomic_compare_exchange_n(&c->pending, &head, r, true,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	if (c->has_reclaimer && bytes > c->p.max_pending_bytes)
		uhmm__rc_reclaimer_kick(c);
}

void uhmm__rc_publish_locked(struct uhmm_rcache *c, struct rc_region *r)
{
	cds_list_del(&r->list);		/* from c->inflight */
	cds_list_add_tail(&r->list, &c->lru);
	r->state = RC_LIVE;
	uhmm__rc_index_insert(&c->index, r);
}

/* Unpublish for good; the last of killer and holders queues it. */
void uhmm__rc_kill_locked(struct uhmm_rcache *c, struct rc_region *r)
{
	uhmm__rc_index_remove(&c->index, r);
	cds_list_del(&r->list);
	r->state = RC_GONE;
	/* Dead for good: memory mapped over its range later is nothing to
	 * it, though its subscription lives until deregistration. */
	uhmm_interval_sub_retire(&r->sub);
	if (!rc_holders(__atomic_fetch_or(&r->refs, RC_DEAD, __ATOMIC_ACQ_REL)))
		uhmm__rc_pending_push(c, r);
}

bool uhmm__rc_mergeable(struct uhmm_rcache *c, const struct rc_region *old,
			unsigned long start, unsigned long end,
			unsigned int access)
{
	unsigned int a = old->pub.access;

	if (c->p.ops->merge)
		return c->p.ops->merge(c->p.arg, &old->pub, start, end, access);
	return !(a & ~access) || !(access & ~a);
}

/*
 * The interval callback.  May run inside free() or munmap() of any
 * thread: takes the cache lock (refusing, when the change may not sleep,
 * rather than wait), moves the sequence so a registration in flight
 * retries, and unpublishes a live region.  Allocates nothing, deregisters
 * nothing.  Events reported after the fact (UHMM_RANGE_AFTER) are the same.
 */
static bool region_invalidate(struct uhmm_interval_sub *sub,
			      const struct uhmm_notifier_range *range,
			      unsigned long cur_seq)
{
	struct rc_region *r = rc_container_of(sub, struct rc_region, sub);
	struct uhmm_rcache *c = r->cache;

	if (uhmm_range_blockable(range))
		rc_lock(c);
	else if (pthread_mutex_trylock(&c->lock))
		return false;
	uhmm_interval_set_seq(sub, cur_seq);
	if (r->state == RC_LIVE) {
		uhmm__rc_kill_locked(c, r);
		rc_stat_add(c, invalidations, 1);
	}
	rc_unlock(c);
	return true;
}

const struct uhmm_interval_sub_ops uhmm__rc_sub_ops = {
	.invalidate = region_invalidate,
};

/* ------------------------------------------------------------------ */
/* Deregistration: never under the lock, never inside a callback       */

/* Back to the free list; after that, @c is touched only under
 * frees_lock, which destroy takes before it can free @c. */
static void free_rcu(struct rc_rcu_head *head)
{
	struct rc_region *r = rc_container_of(head, struct rc_region, rcu);
	struct uhmm_rcache *c;

	uhmm__rc_rcu_callback_begin();
	c = r->cache;
	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	free_list_push_locked(c, r);	/* dead already: see the drain */
	c->frees_done++;
	RC_CHECK(pthread_cond_broadcast(&c->frees_cond));
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
}

void uhmm__rc_wait_frees(struct uhmm_rcache *c)
{
	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	while (c->frees_done != c->frees_queued)
		RC_CHECK(pthread_cond_wait(&c->frees_cond, &c->frees_lock));
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
}

/* ->dereg, end the subscription; returns the bytes it held. */
static unsigned long dereg_one(struct uhmm_rcache *c, struct rc_region *r)
{
	unsigned long len = rc_len(r);

	c->p.ops->dereg(c->p.arg, &r->pub);
	rc_stat_add(c, deregistrations, 1);
	rc_stat_add(c, dereg_bytes, len);
	if (uhmm_interval_sub_remove(&r->sub))
		RC_DIE("a region's interval subscription would not go");
	return len;
}

/*
 * Deregister a list of dead regions linked by next_dead, give back their
 * share of the limits, and free them once no lockless reader can still be
 * looking at them.
 */
void uhmm__rc_dereg_list(struct uhmm_rcache *c, struct rc_region *list)
{
	struct rc_region *r, *next;
	unsigned long n = 0, bytes = 0;

	if (!list)
		return;
	for (r = list; r; r = r->next_dead, n++)
		bytes += dereg_one(c, r);
	rc_lock(c);
	c->used_regions -= n;
	c->used_bytes -= bytes;
	rc_unlock(c);
	RC_CHECK(pthread_mutex_lock(&c->frees_lock));
	c->frees_queued += n;
	RC_CHECK(pthread_mutex_unlock(&c->frees_lock));
	for (r = list; r; r = next) {
		next = r->next_dead;
		uhmm__rc_rcu_call(&r->rcu, free_rcu);
	}
}

void uhmm__rc_drain(struct uhmm_rcache *c)
{
	struct rc_region *list, *r;
	unsigned long n = 0, bytes = 0;

	list = __atomic_exchange_n(&c->pending, NULL, __ATOMIC_ACQUIRE);
	if (!list)
		return;
	for (r = list; r; r = r->next_dead) {
		n++;
		bytes += rc_len(r);
	}
	/* Off the list, no longer waiting: counted out before ->dereg runs,
	 * so a caller that sees the backend's deregistrations sees this. */
	rc_stat_sub(c, pending_regions, n);
	rc_stat_sub(c, pending_bytes, bytes);
	uhmm__rc_dereg_list(c, list);
}
