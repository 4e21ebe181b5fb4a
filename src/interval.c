/* SPDX-License-Identifier: MIT */
/*
 * interval.c - interval subscriptions and the collision-retry protocol.
 *
 * State (under mm->itree_lock unless said, the sequence also read
 * locklessly):
 *
 *   invalidate_seq            even: no invalidation that hit an interval is
 *                             running; odd (S): at least one is.
 *   active_invalidate_ranges  invalidations between start and end, whether
 *                             or not they hit anything; atomic, changed
 *                             without the lock.
 *   itree                     changed only when no walker can be in it:
 *                             with the sequence even, or with active read
 *                             as 0 under the lock (an end that saw it odd
 *                             may not have locked yet).  While walkers may
 *                             be in it (odd, active), they read it without
 *                             the lock and inserts/removes queue on
 *                             'deferred' instead.
 *   ifilter                   which addresses the tree (and the deferred
 *                             inserts) may cover; read without the lock.
 *
 * Transitions:
 *   start:  active++ (no lock); if the filter says the range overlaps
 *           nothing, that is all.  Else, under the lock: if the range
 *           overlaps an interval, seq |= 1 (-> S) and the walker calls
 *           ->invalidate(sub, range, S) for each overlap.
 *   end:    active-- (no lock); when it reaches 0 with seq odd, under the
 *           lock and if both still hold: seq++ (-> even), apply deferred
 *           inserts/removes, wake waiters.
 *   insert: counts the new interval in the filter, then reads active: an
 *           invalidation it sees may be changing the new range right now,
 *           so the interval starts out colliding (seq odd, see
 *           insert_locked).  An invalidation it does not see incremented
 *           active after the filter had the interval, so it takes the
 *           locked path.  (Sequentially consistent on both sides: a Dekker
 *           pair.)  Making seq odd pairs the same way with the end: the
 *           insert makes it odd, then reads active again and ends the
 *           collision itself if active is 0; an end decrements active, then
 *           reads seq.
 *
 * read_begin(sub) reads sub->invalidate_seq (acquire) then mm's sequence
 * (acquire).  The callback's set_seq (release) comes after the start that
 * made mm's sequence S, so a reader that sees sub->seq == S also sees mm's
 * sequence >= S: equal means "this sub is being invalidated now" and the
 * reader waits for the end; greater means that invalidation is over.  Pairs
 * with uhmm_interval_set_seq() and with the seq stores below.
 */
#include <limits.h>

#include "internal.h"

static bool is_invalidating(struct uhmm_mm *mm)
{
	uhmm__lock_assert_held(&mm->itree_lock);
	return mm->invalidate_seq & 1;
}

static void set_mm_seq(struct uhmm_mm *mm, unsigned long seq)
{
	/* Sequentially consistent: the end/insert pairing above. */
	__atomic_store_n(&mm->invalidate_seq, seq, __ATOMIC_SEQ_CST);
}

static unsigned long active_ranges(struct uhmm_mm *mm)
{
	return __atomic_load_n(&mm->active_invalidate_ranges, __ATOMIC_SEQ_CST);
}

static void count_in_filter(struct uhmm_mm *mm, struct uhmm_interval_sub *sub,
			    int delta)
{
	uhmm__ifilter_count(mm->ifilter, sub->it_start, sub->it_last, delta);
}

static void apply_deferred_locked(struct uhmm_mm *mm);

/*
 * Nothing is between start and end any more, and the sequence is odd: move
 * it to even, apply what was deferred and wake waiters.  Whoever sees both
 * (an end, or an insert that made the sequence odd) calls this; checking
 * again under the lock makes a second caller a no-op.
 */
static void end_collisions_locked(struct uhmm_mm *mm)
{
	uhmm__lock_assert_held(&mm->itree_lock);
	if (active_ranges(mm) || !is_invalidating(mm))
		return;
	set_mm_seq(mm, mm->invalidate_seq + 1);
	apply_deferred_locked(mm);
	UHMM_CHECK(pthread_cond_broadcast(&mm->itree_wq));
}

void uhmm__interval_mm_init(struct uhmm_mm *mm)
{
	uhmm__mutex_init(&mm->itree_lock);
	UHMM_CHECK(pthread_cond_init(&mm->itree_wq, NULL));
	mm->invalidate_seq = 2;
	mm->active_invalidate_ranges = 0;
	mm->itree.root = NULL;
	mm->itree.count = 0;
	mm->deferred = NULL;
}

void uhmm__interval_mm_destroy(struct uhmm_mm *mm)
{
	/*
	 * An inherited handle in a fork child may carry a condition variable
	 * with waiters from threads that do not exist here; destroying it
	 * could wait for them forever.  Leave it.
	 */
	if (!uhmm__mm_inert(mm))
		UHMM_CHECK(pthread_cond_destroy(&mm->itree_wq));
	uhmm__mutex_destroy(&mm->itree_lock);
}

static void deferred_push(struct uhmm_mm *mm, struct uhmm_interval_sub *sub)
{
	sub->deferred_next = mm->deferred;
	mm->deferred = sub;
}

static void deferred_unlink(struct uhmm_mm *mm, struct uhmm_interval_sub *sub)
{
	struct uhmm_interval_sub **pp;

	for (pp = &mm->deferred; *pp; pp = &(*pp)->deferred_next) {
		if (*pp == sub) {
			*pp = sub->deferred_next;
			return;
		}
	}
	UHMM_DIE("interval subscription missing from the deferred list");
}

/*
 * While any invalidation is between start and end we cannot know whether it
 * covers the new range (its change may be in flight right now), so the new
 * subscription starts out colliding: its sequence is the running odd one and
 * its first read_begin waits for the end.  If the running invalidations hit
 * nothing yet (sequence even, no walker in the tree), the sequence is made
 * odd here so that the end moves it on.
 */
static void insert_locked(struct uhmm_mm *mm, struct uhmm_interval_sub *sub)
{
	uhmm__lock_assert_held(&mm->itree_lock);
	count_in_filter(mm, sub, 1);	/* before reading active: see above */
	if (!active_ranges(mm)) {
		__atomic_store_n(&sub->invalidate_seq, mm->invalidate_seq - 1,
				 __ATOMIC_RELAXED);
		sub->state = UHMM__IS_TREE;
		uhmm__itree_insert(&mm->itree, sub);
		return;
	}
	if (is_invalidating(mm)) {
		/* Walkers may be in the tree: the end inserts it. */
		sub->state = UHMM__IS_PENDING_INSERT;
		deferred_push(mm, sub);
	} else {
		set_mm_seq(mm, mm->invalidate_seq | 1);
		sub->state = UHMM__IS_TREE;
		uhmm__itree_insert(&mm->itree, sub);
	}
	__atomic_store_n(&sub->invalidate_seq, mm->invalidate_seq,
			 __ATOMIC_RELAXED);
	/* The invalidations seen may all have ended without seeing the odd
	 * sequence (their end decremented active first, then read it). */
	end_collisions_locked(mm);
}

void (*uhmm__itree_changed_hook)(struct uhmm_mm *mm, unsigned long start,
				 unsigned long last, bool inserted);

/* Tell capture (internal.h) that the covered ranges changed; no lock held. */
static void itree_changed(struct uhmm_mm *mm, unsigned long start,
			  unsigned long last, bool inserted)
{
	void (*hook)(struct uhmm_mm *, unsigned long, unsigned long, bool) =
		__atomic_load_n(&uhmm__itree_changed_hook, __ATOMIC_ACQUIRE);

	if (hook)
		hook(mm, start, last, inserted);
}

int uhmm_interval_sub_insert(struct uhmm_interval_sub *sub, struct uhmm_mm *mm,
			     unsigned long start, unsigned long length,
			     const struct uhmm_interval_sub_ops *ops)
{
	if (!sub || !mm || !ops || !ops->invalidate || length == 0 ||
	    start > ULONG_MAX - (length - 1))
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	if (!uhmm_mm_get_not_zero(mm))
		return -ESRCH;
	sub->it_start = start;
	sub->it_last = start + (length - 1);
	sub->ops = ops;
	sub->mm = mm;
	sub->owner_lock = NULL;
	sub->retired = false;
	uhmm_mm_grab(mm);	/* pairs with the drop in remove */

	uhmm__mutex_lock(&mm->itree_lock);
	insert_locked(mm, sub);
	uhmm__mutex_unlock(&mm->itree_lock);
	uhmm_mm_put(mm);	/* pairs with get_not_zero above */
	itree_changed(mm, start, start + (length - 1), true);
	return 0;
}

static void wait_seq_moves(struct uhmm_mm *mm, unsigned long seq)
{
	uhmm__mutex_lock(&mm->itree_lock);
	while (mm->invalidate_seq == seq)
		uhmm__cond_wait(&mm->itree_wq, &mm->itree_lock);
	uhmm__mutex_unlock(&mm->itree_lock);
}

int uhmm_interval_sub_remove(struct uhmm_interval_sub *sub)
{
	struct uhmm_mm *mm;
	unsigned long seq = 0;
	int ret = 0;

	if (!sub || !sub->mm)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	mm = sub->mm;
	uhmm__mutex_lock(&mm->itree_lock);
	switch (sub->state) {
	case UHMM__IS_TREE:
		if (is_invalidating(mm) && !uhmm__mm_inert(mm)) {
			/* A walker may be at @sub: let the end remove it. */
			sub->state = UHMM__IS_PENDING_REMOVE;
			deferred_push(mm, sub);
			seq = mm->invalidate_seq;
		} else {
			uhmm__itree_remove(&mm->itree, sub);
			count_in_filter(mm, sub, -1);
			sub->state = UHMM__IS_NONE;
		}
		break;
	case UHMM__IS_PENDING_INSERT:
		/* Never in the tree: no callback can be running on it. */
		deferred_unlink(mm, sub);
		count_in_filter(mm, sub, -1);
		sub->state = UHMM__IS_NONE;
		break;
	default:
		ret = -EINVAL;	/* not inserted, or a remove is under way */
		break;
	}
	uhmm__mutex_unlock(&mm->itree_lock);
	if (ret)
		return ret;
	if (seq)
		wait_seq_moves(mm, seq);
	sub->mm = NULL;
	itree_changed(mm, sub->it_start, sub->it_last, false);
	uhmm_mm_drop(mm);	/* pairs with the grab in insert */
	return 0;
}

static int copy_range(struct uhmm_interval_sub *sub, unsigned long (*out)[2],
		      int n, int max)
{
	if (n < max) {
		out[n][0] = sub->it_start;
		out[n][1] = sub->it_last;
	}
	return n + 1;
}

static bool wanted_range(const struct uhmm_interval_sub *sub, bool live)
{
	return !live || !__atomic_load_n(&sub->retired, __ATOMIC_RELAXED);
}

int uhmm__interval_ranges(struct uhmm_mm *mm, unsigned long start,
			  unsigned long last, unsigned long (*out)[2], int max,
			  bool live)
{
	struct uhmm__itree_iter it;
	struct uhmm_interval_sub *sub;
	int n = 0;

	uhmm__mutex_lock(&mm->itree_lock);
	for (sub = uhmm__itree_iter_first(&mm->itree, &it, start, last); sub;
	     sub = uhmm__itree_iter_next(&it))
		if (wanted_range(sub, live))
			n = copy_range(sub, out, n, max);
	for (sub = mm->deferred; sub; sub = sub->deferred_next)
		if (sub->state == UHMM__IS_PENDING_INSERT &&
		    sub->it_start <= last && sub->it_last >= start &&
		    wanted_range(sub, live))
			n = copy_range(sub, out, n, max);
	uhmm__mutex_unlock(&mm->itree_lock);
	return n;
}

unsigned long uhmm_interval_read_begin(struct uhmm_interval_sub *sub)
{
	unsigned long seq = __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE);
	struct uhmm_mm *mm = sub->mm;

	if (likely(seq != __atomic_load_n(&mm->invalidate_seq, __ATOMIC_ACQUIRE)))
		return seq;
	/* An invalidation of this very subscription is running. */
	if (uhmm__mm_inert(mm))
		return seq;	/* its invalidator does not exist in this child */
	if (uhmm__in_callback())
		UHMM_DIE("uhmm_interval_read_begin from inside an invalidation "
			 "callback would wait for that callback's own end");
	wait_seq_moves(mm, seq);
	return seq;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

void uhmm_interval_sub_set_owner_lock(struct uhmm_interval_sub *sub,
				      pthread_mutex_t *lock)
{
	__atomic_store_n(&sub->owner_lock, lock, __ATOMIC_RELAXED);
}

void uhmm_interval_sub_retire(struct uhmm_interval_sub *sub)
{
	__atomic_store_n(&sub->retired, true, __ATOMIC_RELAXED);
}

/*
 * Debug: the changing thread must not hold the lock the callback takes
 * (glibc records a mutex's owning thread id in __data.__owner).
 */
static void check_owner_lock(struct uhmm_interval_sub *sub)
{
#ifdef UHMM_DEBUG
	pthread_mutex_t *lock = __atomic_load_n(&sub->owner_lock,
						__ATOMIC_RELAXED);

	if (lock && __atomic_load_n(&lock->__data.__owner, __ATOMIC_RELAXED) ==
		    uhmm__os_gettid())
		UHMM_DIE("memory an interval subscription mirrors changed while "
			 "this thread holds the subscription's owner lock: "
			 "->invalidate() would wait for it forever; never hold "
			 "the owner lock across free(), munmap() or other "
			 "changes of memory");
#else
	(void)sub;
#endif
}

static int invalidate_one(struct uhmm_interval_sub *sub,
			  const struct uhmm_notifier_range *r,
			  unsigned long cur_seq)
{
	bool ok;

	check_owner_lock(sub);
	uhmm__cb_enter();
	ok = sub->ops->invalidate(sub, r, cur_seq);
	uhmm__cb_exit();
	if (ok)
		return 0;
	if (uhmm_range_blockable(r))
		UHMM_DIE("interval ->invalidate() returned false on a "
			 "blockable range");
	return -EAGAIN;
}

/*
 * One descent: the first overlap is found under the lock (it decides
 * whether the sequence goes odd), and the walk goes on from the same
 * iterator without the lock, the tree being frozen while the sequence is odd.
 */
int uhmm__interval_invalidate_start(const struct uhmm_notifier_range *r,
				    bool *hit)
{
	struct uhmm_mm *mm = r->mm;
	struct uhmm__itree_iter it;
	struct uhmm_interval_sub *sub;
	unsigned long cur_seq = 0;
	int ret = 0;

	/* Before reading the filter: the insert pairing above. */
	__atomic_add_fetch(&mm->active_invalidate_ranges, 1, __ATOMIC_SEQ_CST);
	if (!uhmm__ifilter_may_overlap(mm->ifilter, r->start, r->end - 1)) {
		*hit = false;
		return 0;
	}
	uhmm__mutex_lock(&mm->itree_lock);
	sub = uhmm__itree_iter_first(&mm->itree, &it, r->start, r->end - 1);
	if (sub) {
		if (!is_invalidating(mm))
			set_mm_seq(mm, mm->invalidate_seq | 1);
		cur_seq = mm->invalidate_seq;
	}
	uhmm__mutex_unlock(&mm->itree_lock);
	*hit = sub != NULL;
	for (; sub && !ret; sub = uhmm__itree_iter_next(&it))
		ret = invalidate_one(sub, r, cur_seq);
	if (ret)
		uhmm__interval_invalidate_end(mm);
	return ret;
}

static void apply_deferred_locked(struct uhmm_mm *mm)
{
	struct uhmm_interval_sub *sub, *next;

	uhmm__lock_assert_held(&mm->itree_lock);
	for (sub = mm->deferred; sub; sub = next) {
		next = sub->deferred_next;
		if (sub->state == UHMM__IS_PENDING_INSERT) {
			uhmm__itree_insert(&mm->itree, sub);
			sub->state = UHMM__IS_TREE;
		} else {
			uhmm__itree_remove(&mm->itree, sub);
			count_in_filter(mm, sub, -1);
			sub->state = UHMM__IS_NONE;
		}
	}
	mm->deferred = NULL;
}

void uhmm__interval_invalidate_end(struct uhmm_mm *mm)
{
	unsigned long left = __atomic_sub_fetch(&mm->active_invalidate_ranges,
						1, __ATOMIC_SEQ_CST);

	if (left == ULONG_MAX)
		UHMM_DIE("uhmm_invalidate_range_end without a start");
	/* Then the sequence: the insert pairing above. */
	if (left || !(__atomic_load_n(&mm->invalidate_seq, __ATOMIC_SEQ_CST) & 1))
		return;
	uhmm__mutex_lock(&mm->itree_lock);
	end_collisions_locked(mm);
	uhmm__mutex_unlock(&mm->itree_lock);
}

/* Teardown's interval part: one RELEASE invalidation of everything. */
void uhmm__interval_release(struct uhmm_mm *mm)
{
	struct uhmm_notifier_range r;
	bool hit;

	uhmm_notifier_range_init(&r, UHMM_EVENT_RELEASE, UHMM_RANGE_BLOCKABLE,
				 mm, 0, -uhmm__os_page_size());
	if (uhmm__interval_invalidate_start(&r, &hit) == 0)
		uhmm__interval_invalidate_end(mm);
}
