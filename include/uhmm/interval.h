/* SPDX-License-Identifier: MIT */
/*
 * uhmm/interval.h - interval subscriptions and the collision-retry protocol
 * (the kernel's struct mmu_interval_notifier).
 *
 * A subscription covers [start, start + length) of one address space and has
 * one callback, ->invalidate(sub, range, cur_seq), called for every change
 * that overlaps it.  An owner (a device driver, a registration cache) builds
 * translations of the range concurrently with changes using a sequence:
 *
 * Protocol.  The address space keeps a sequence that is even while no
 * invalidation that hits an interval runs, and odd (S) while at least one
 * does.  Subscription sequences are always odd.  ->invalidate() stores S in
 * its subscription with uhmm_interval_set_seq() under the owner's lock.
 * uhmm_interval_read_begin() returns the subscription's sequence, first
 * waiting if that sequence equals the running S (an invalidation of *this*
 * subscription is in progress).  uhmm_interval_read_retry(), called under the
 * owner's lock right before committing, is true if the subscription's
 * sequence moved since read_begin.
 *
 * Why retry must fire:
 *
 *     owner thread                         changing thread
 *     seq = read_begin(sub)     (= S0)
 *     fault pages, build PTEs              start: mm seq S (odd)
 *                                          invalidate(sub, S):
 *                                            lock(owner); set_seq(sub, S);
 *                                            zap mirror; unlock(owner)
 *     lock(owner)
 *     read_retry(sub, S0) -> S != S0: true, so the PTEs built from the old
 *     pages are dropped and the loop starts again; read_begin now waits
 *     until the change has ended.
 *
 * If instead the owner commits first (takes its lock before the callback
 * does), the callback runs after the commit and zaps what was committed.
 * Either way no translation of the old pages survives the callback.
 *
 * The canonical owner loop (see also docs/design.md):
 *
 *     again:
 *         range.notifier = &sub;
 *         range.notifier_seq = uhmm_interval_read_begin(&sub);
 *         ret = uhmm_range_fault(&range);          // no owner lock held
 *         if (ret == -EBUSY)
 *             goto again;
 *         if (ret)
 *             return ret;
 *         pthread_mutex_lock(&owner->lock);
 *         if (uhmm_interval_read_retry(&sub, range.notifier_seq)) {
 *             pthread_mutex_unlock(&owner->lock);
 *             goto again;
 *         }
 *         commit translations from range.pfns;
 *         pthread_mutex_unlock(&owner->lock);
 *
 *     static bool invalidate(struct uhmm_interval_sub *sub,
 *                            const struct uhmm_notifier_range *r,
 *                            unsigned long cur_seq)
 *     {
 *         if (uhmm_range_blockable(r))
 *             pthread_mutex_lock(&owner->lock);
 *         else if (pthread_mutex_trylock(&owner->lock))
 *             return false;
 *         uhmm_interval_set_seq(sub, cur_seq);
 *         zap translations of [r->start, r->end);
 *         pthread_mutex_unlock(&owner->lock);
 *         return true;
 *     }
 *
 * Never hold the owner lock across free(), munmap() or anything else that
 * changes memory: the callback may run in that very call and need the lock.
 */
#ifndef UHMM_INTERVAL_H
#define UHMM_INTERVAL_H

#include <pthread.h>

#include <uhmm/common.h>
#include <uhmm/invalidate.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct uhmm_interval_sub;

/**
 * struct uhmm_interval_sub_ops - the callback of an interval subscription.
 * @invalidate: [range->start, range->end) overlapping the subscription is
 *	changing.  Take the owner lock, call uhmm_interval_set_seq(sub, cur_seq),
 *	remove translations, unlock; return true.  If the range is not blockable
 *	and the lock cannot be taken without sleeping, return false: the change
 *	is then refused with -EAGAIN.  Runs with no uhmm lock held, possibly
 *	inside free() or munmap() of another thread; must not allocate with
 *	malloc, must not insert or remove subscriptions, must not call
 *	uhmm_interval_read_begin() or uhmm_range_fault().
 */
struct uhmm_interval_sub_ops {
	bool (*invalidate)(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *range,
			   unsigned long cur_seq);
};

/**
 * struct uhmm_interval_sub - one interval subscription, embedded by its owner.
 *
 * Every field is private to uhmm; use the accessors below.
 */
struct uhmm_interval_sub {
	/* private: interval tree node, under the mm's interval lock */
	unsigned long it_start;		/* first byte */
	unsigned long it_last;		/* last byte (inclusive) */
	unsigned long it_subtree_last;	/* max it_last in this subtree */
	struct uhmm_interval_sub *it_left;
	struct uhmm_interval_sub *it_right;
	int it_height;
	/* private */
	unsigned int state;		/* under the mm's interval lock */
	const struct uhmm_interval_sub_ops *ops;	/* immutable */
	struct uhmm_mm *mm;		/* immutable while inserted */
	struct uhmm_interval_sub *deferred_next;	/* under interval lock */
	unsigned long invalidate_seq;	/* atomic; see the protocol above */
	pthread_mutex_t *owner_lock;	/* atomic; debug check, may be NULL */
	bool retired;			/* atomic; uhmm_interval_sub_retire() */
};

/**
 * uhmm_interval_sub_insert() - subscribe to changes of [start, start+length).
 * @sub: the subscription to set up (its old content is ignored).
 * @mm: a handle the caller holds a users reference on.
 * @start: first byte (need not be page aligned).
 * @length: bytes, > 0, and start + length must not overflow.
 * @ops: callbacks; ->invalidate is required.
 *
 * Takes a count reference on @mm for the subscription.  If an invalidation is
 * running, the insert is deferred until it ends and the subscription starts
 * out colliding: the first uhmm_interval_read_begin() waits for that end.
 *
 * Context: any thread except inside a uhmm callback.  Never waits for an
 * invalidation.
 * Return: 0; -EINVAL; -ESRCH (teardown has begun or @mm is inert);
 * -EDEADLK (from a callback).
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_interval_sub_insert(struct uhmm_interval_sub *sub, struct uhmm_mm *mm,
			 unsigned long start, unsigned long length,
			 const struct uhmm_interval_sub_ops *ops);

/**
 * uhmm_interval_sub_remove() - end a subscription.
 * @sub: an inserted subscription.
 *
 * If an invalidation is running, waits until it ends (so until any running
 * ->invalidate() of @sub has returned).  Drops the count reference on the mm.
 *
 * Context: any thread except inside a uhmm callback.  May block.
 * Return: 0, and no callback of @sub runs or will run: the caller may free
 * it.  -EDEADLK from a callback; -EINVAL if @sub is not inserted.
 */
UHMM_API int uhmm_interval_sub_remove(struct uhmm_interval_sub *sub);

/**
 * uhmm_interval_sub_set_owner_lock() - name the lock ->invalidate() takes.
 * @sub: an inserted subscription (insert forgets any earlier setting).
 * @lock: the owner's mutex that ->invalidate() locks, or NULL to forget it.
 *
 * An owner that holds its update lock across free(), munmap() or any other
 * call that changes memory @sub covers deadlocks: the change runs
 * ->invalidate() in that very thread, which waits for the lock forever.
 * With the lock named, debug builds (UHMM_DEBUG) check before every
 * ->invalidate() of @sub that the changing thread does not hold it, and
 * abort with a message naming the rule instead of hanging.  Release builds
 * keep the setting and skip the check.
 *
 * Context: any thread; never blocks.
 */
UHMM_API void uhmm_interval_sub_set_owner_lock(struct uhmm_interval_sub *sub,
					      pthread_mutex_t *lock);

/**
 * uhmm_interval_sub_retire() - @sub's owner needs no more of its range.
 * @sub: an inserted subscription.
 *
 * For an owner whose translation is gone for good but who cannot remove
 * the subscription yet: inside ->invalidate() (remove refuses there), or
 * while removal waits for a deferred cleanup, as a registration cache's
 * dead region does.  Capture then stops preparing to catch changes for
 * @sub alone: memory mapped into its range later is not registered with
 * userfaultfd on its account (docs/capture.md).  Callbacks may still come
 * until remove; nothing else changes.  Undone by the next insert.
 *
 * Context: any thread, also inside ->invalidate(); lock free, never blocks.
 */
UHMM_API void uhmm_interval_sub_retire(struct uhmm_interval_sub *sub);

/**
 * uhmm_interval_read_begin() - begin building translations of @sub's range.
 * @sub: an inserted subscription.
 *
 * Waits only while an invalidation of @sub itself is in progress; other
 * invalidations of the address space do not delay it.  Allocation free, and
 * without a system call when it does not wait.
 *
 * Context: any thread, not inside a uhmm callback (debug builds abort there:
 * it would wait for the callback's own invalidation).
 * Return: the sequence to pass to uhmm_interval_read_retry().
 */
UHMM_API unsigned long uhmm_interval_read_begin(struct uhmm_interval_sub *sub);

/**
 * uhmm_interval_read_retry() - must the translations be thrown away?
 * @sub: the subscription.
 * @seq: the value returned by uhmm_interval_read_begin().
 *
 * Call under the owner lock that ->invalidate() takes, right before
 * committing.  Pairs with the uhmm_interval_set_seq() the callback does under
 * the same lock.
 *
 * Return: true if an invalidation hit @sub since read_begin.
 */
static inline bool uhmm_interval_read_retry(struct uhmm_interval_sub *sub,
					    unsigned long seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_RELAXED) != seq;
}

/**
 * uhmm_interval_check_retry() - uhmm_interval_read_retry() without the lock.
 * @sub: the subscription.
 * @seq: the value returned by uhmm_interval_read_begin().
 *
 * A hint for giving up long work early; a false answer proves nothing.
 */
static inline bool uhmm_interval_check_retry(struct uhmm_interval_sub *sub,
					     unsigned long seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

/**
 * uhmm_interval_set_seq() - record an invalidation in @sub.
 * @sub: the subscription passed to ->invalidate().
 * @cur_seq: the cur_seq passed to ->invalidate().
 *
 * Context: inside ->invalidate(), under the owner lock.  The release store
 * pairs with the acquire load in uhmm_interval_read_begin().
 */
static inline void uhmm_interval_set_seq(struct uhmm_interval_sub *sub,
					 unsigned long cur_seq)
{
	__atomic_store_n(&sub->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}

/** uhmm_interval_sub_start() - first byte covered by @sub. */
static inline unsigned long uhmm_interval_sub_start(const struct uhmm_interval_sub *sub)
{
	return sub->it_start;
}

/** uhmm_interval_sub_last() - last byte covered by @sub (inclusive). */
static inline unsigned long uhmm_interval_sub_last(const struct uhmm_interval_sub *sub)
{
	return sub->it_last;
}

/** uhmm_interval_sub_mm() - the address space @sub watches. */
static inline struct uhmm_mm *uhmm_interval_sub_mm(const struct uhmm_interval_sub *sub)
{
	return sub->mm;
}

UHMM_END_DECLS

#endif /* UHMM_INTERVAL_H */
