/* SPDX-License-Identifier: MIT */
/*
 * cache_miss.c - get's miss path: the collision-retry loop of
 * include/uhmm/interval.h with ->reg in place of the range fault.
 *
 *     r = alloc (reuse or malloc)               no lock: may munmap
 *     lock
 *       a covering region appeared? take it
 *       grow [start, end) and access over mergeable overlapping regions
 *       reserve room (evicting idle regions)
 *     unlock; deregister the victims
 *     insert r's interval subscription           sees every later change
 *     seq = read_begin(sub)                     waits out a change under way
 *     ->reg(r)                                  no lock: may block, munmap
 *     lock
 *       read_retry(sub, seq) or invalidated by a call? -> unlock, ->dereg,
 *         remove, try again (at most RC_MISS_TRIES times, then -EAGAIN)
 *       publish r; kill the regions it dominates (merged)
 *     unlock
 *
 * A change between the range computation and the insert needs no retry:
 * ->reg runs after it and registers what is mapped then.  A change after
 * read_begin runs the callback, which moves the sequence under the same
 * lock publish takes, so either the callback sees r published and kills
 * it, or publish sees the moved sequence and throws r away.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache.h"

/* Tries before get gives up with -EAGAIN: memory that keeps changing
 * under every ->reg (or a limit that keeps filling up) is not livelocked. */
#define RC_MISS_TRIES 64

struct merge_state {
	unsigned long start, end;
	unsigned int access;
	bool grew;
};

static void merge_one(struct uhmm_rcache *c, struct rc_region *r, void *arg)
{
	struct merge_state *m = arg;

	if (!uhmm__rc_mergeable(c, r, m->start, m->end, m->access))
		return;
	if (r->pub.start < m->start) {
		m->start = r->pub.start;
		m->grew = true;
	}
	if (r->pub.end > m->end) {
		m->end = r->pub.end;
		m->grew = true;
	}
	m->access |= r->pub.access;
}

/* Grow until no mergeable region sticks out (a grown range meets more). */
static void merge_locked(struct uhmm_rcache *c, struct merge_state *m)
{
	do {
		m->grew = false;
		uhmm__rc_for_each_overlap(c, m->start, m->end, merge_one, m);
	} while (m->grew);
}

/* Published regions the new one makes redundant, as ->merge allows. */
static void kill_dominated(struct uhmm_rcache *c, struct rc_region *old,
			   void *arg)
{
	struct rc_region *r = arg;

	if (old == r || old->pub.start < r->pub.start ||
	    old->pub.end > r->pub.end || (old->pub.access & ~r->pub.access) ||
	    !uhmm__rc_mergeable(c, old, r->pub.start, r->pub.end,
				r->pub.access))
		return;
	uhmm__rc_kill_locked(c, old);
	rc_stat_add(c, merges, 1);
}

/*
 * Under the lock: a region that appeared meanwhile, else the merged range
 * in r->pub and its room reserved (r joins c->inflight).
 */
static int plan_locked(struct uhmm_rcache *c, struct rc_region *r,
		       struct rc_region **hit, struct rc_region **victims)
{
	struct merge_state m = {
		.start = r->pub.start, .end = r->pub.end,
		.access = r->pub.access,
	};
	unsigned long start = m.start, end = m.end;
	int err;

	*hit = uhmm__rc_index_find(&c->index, start, end, m.access);
	if (*hit) {
		rc_mark_referenced(*hit);
		return 0;
	}
	m.start &= ~(c->page_size - 1);
	m.end = (m.end + c->page_size - 1) & ~(c->page_size - 1);
	merge_locked(c, &m);
	err = uhmm__rc_reserve_locked(c, m.end - m.start, victims);
	if (err)
		return err;
	r->pub.start = m.start;
	r->pub.end = m.end;
	r->pub.access = m.access;
	cds_list_add(&r->list, &c->inflight);
	return 0;
}

/* Undo a registration attempt that will not be published. */
static void discard(struct uhmm_rcache *c, struct rc_region *r,
		    bool registered)
{
	if (registered) {
		c->p.ops->dereg(c->p.arg, &r->pub);
		rc_stat_add(c, deregistrations, 1);
		rc_stat_add(c, dereg_bytes, rc_len(r));
	}
	if (uhmm_interval_sub_remove(&r->sub))
		RC_DIE("a region's interval subscription would not go");
	rc_lock(c);
	cds_list_del(&r->list);
	uhmm__rc_unreserve_locked(c, rc_len(r));
	rc_unlock(c);
	uhmm__rc_region_recycle(c, r);	/* never published */
}

static void unplan(struct uhmm_rcache *c, struct rc_region *r)
{
	rc_lock(c);
	cds_list_del(&r->list);
	uhmm__rc_unreserve_locked(c, rc_len(r));
	rc_unlock(c);
}

static int do_reg(struct uhmm_rcache *c, struct rc_region *r,
		  unsigned long *seq)
{
	int err;

	err = uhmm_interval_sub_insert(&r->sub, c->mm, r->pub.start,
				       rc_len(r), &uhmm__rc_sub_ops);
	if (err) {
		unplan(c, r);
		uhmm__rc_region_recycle(c, r);
		return err;
	}
	uhmm_interval_sub_set_owner_lock(&r->sub, &c->lock);
	*seq = uhmm_interval_read_begin(&r->sub);
	err = c->p.ops->reg(c->p.arg, &r->pub);
	if (err) {
		rc_stat_add(c, reg_failures, 1);
		discard(c, r, false);
		return err;
	}
	rc_stat_add(c, registrations, 1);
	rc_stat_add(c, reg_bytes, rc_len(r));
	return 0;
}

static int commit(struct uhmm_rcache *c, struct rc_region *r,
		  unsigned long seq)
{
	rc_lock(c);
	if (uhmm_interval_read_retry(&r->sub, seq) || r->stale) {
		rc_unlock(c);
		discard(c, r, true);
		return RC_RETRY;
	}
	uhmm__rc_publish_locked(c, r);
	uhmm__rc_for_each_overlap(c, r->pub.start, r->pub.end, kill_dominated,
				  r);
	rc_unlock(c);
	rc_stat_add(c, misses, 1);
	return 0;
}

/* One attempt; RC_RETRY: try again. */
static int miss_once(struct uhmm_rcache *c, unsigned long start,
		     unsigned long end, unsigned int access,
		     struct rc_region **out)
{
	struct rc_region *r = uhmm__rc_region_alloc(c), *hit = NULL, *victims = NULL;
	unsigned long seq;
	int err;

	if (!r)
		return -ENOMEM;
	r->pub.start = start;
	r->pub.end = end;
	r->pub.access = access;
	rc_lock(c);
	err = plan_locked(c, r, &hit, &victims);
	rc_unlock(c);
	uhmm__rc_dereg_list(c, victims);
	if (err || hit) {
		uhmm__rc_region_recycle(c, r);
		if (hit)
			uhmm__rc_count_hit(c);
		*out = hit;
		return err;
	}
	err = do_reg(c, r, &seq);
	if (!err)
		err = commit(c, r, seq);
	if (!err)
		*out = r;
	return err;
}

int uhmm__rc_miss(struct uhmm_rcache *c, unsigned long addr,
		  unsigned long end, unsigned int access,
		  struct rc_region **out)
{
	int err, tries;

	for (tries = 0; tries < RC_MISS_TRIES; tries++) {
		uhmm__rc_drain(c);
		err = miss_once(c, addr, end, access, out);
		if (err != RC_RETRY)
			return err;
	}
	return -EAGAIN;
}
