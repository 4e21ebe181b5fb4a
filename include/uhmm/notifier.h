/* SPDX-License-Identifier: MIT */
/*
 * uhmm/notifier.h - whole-address-space subscriptions (the kernel's struct
 * mmu_notifier).
 *
 * A subscription sees every change to its address space and its teardown.
 * Two ways to own one:
 *
 *  - register / unregister: the caller embeds struct uhmm_notifier, sets
 *    ->ops, registers it.  ->release() is called exactly once in the
 *    subscription's life: by teardown, or by uhmm_notifier_unregister() if
 *    teardown has not reached it, even when the two race.  After unregister
 *    returns no callback of it is running or will run.
 *
 *  - get / put: one shared, reference-counted subscription per (mm, ops),
 *    allocated through ops->alloc_notifier().  The last uhmm_notifier_put()
 *    unhooks it and frees it through ops->free_notifier() after a grace
 *    period, once every callback that could still be running has returned.
 *    put never calls ->release() and may be called from inside ->release().
 *    A teardown that reached the subscription before the last put may still
 *    be calling ->release() (at most once, in the tearing-down thread) while
 *    or just after that put returns; ->free_notifier() runs once, after it.
 *    In a fork child, frees the parent still owed do not call
 *    ->free_notifier(): the subscription is the parent's.
 *
 * The subscription list is walked inside a read-side RCU section, never under
 * a lock a waiting registrant could block (seed 002's rwsem deadlock cannot
 * happen: nothing a callback waits for can wait for the walk).
 *
 * After ->release() the owner must make every device access through its
 * mirror fail cleanly (seed 004): the pages may be gone.
 */
#ifndef UHMM_NOTIFIER_H
#define UHMM_NOTIFIER_H

#include <uhmm/common.h>
#include <uhmm/invalidate.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct uhmm_notifier;

/**
 * struct uhmm_notifier_ops - callbacks of a whole-space subscription.
 *
 * Every callback runs in the thread that made the change (possibly inside
 * free(), munmap() or exit()), with no uhmm lock held and inside a read-side
 * grace period.  Callbacks must not allocate with malloc, must not register or
 * unregister subscriptions (refused with -EDEADLK), and must not wait for
 * anything that can wait for a change to memory.
 *
 * @release: teardown has begun; called once per registered subscription.
 *	Make the mirror fail every access.  May call uhmm_notifier_put().
 * @invalidate_range_start: a change is about to happen (or, with
 *	UHMM_RANGE_AFTER, has happened).  Return 0, or -EAGAIN only when the
 *	range is not blockable and the work would block.
 * @invalidate_range_end: the change is done.  A subscription registered
 *	while a change is in flight may see that change's end without its
 *	start: count nothing across start/end pairs.
 * @alloc_notifier: for uhmm_notifier_get(): allocate one subscription for
 *	@mm (return NULL on failure).  Called without locks held.
 * @free_notifier: for uhmm_notifier_put(): free what alloc_notifier made.
 *	Runs after a grace period, in a helper thread.
 */
struct uhmm_notifier_ops {
	void (*release)(struct uhmm_notifier *sub, struct uhmm_mm *mm);
	int (*invalidate_range_start)(struct uhmm_notifier *sub,
				      const struct uhmm_notifier_range *range);
	void (*invalidate_range_end)(struct uhmm_notifier *sub,
				     const struct uhmm_notifier_range *range);
	struct uhmm_notifier *(*alloc_notifier)(struct uhmm_mm *mm);
	void (*free_notifier)(struct uhmm_notifier *sub);
};

/**
 * struct uhmm_notifier - one whole-space subscription, embedded by its owner.
 * @ops: public: set before uhmm_notifier_register(); read-only afterwards.
 * @mm: read-only: the address space, set by register/get.
 *
 * The remaining fields are private to uhmm.
 */
struct uhmm_notifier {
	const struct uhmm_notifier_ops *ops;
	struct uhmm_mm *mm;
	/* private: */
	struct uhmm_notifier *next;	/* RCU list; written under mm subs lock */
	unsigned int users;		/* get/put count, under mm subs lock */
	unsigned int state;		/* atomic: enum uhmm__notifier_state */
	void *rcu_head[2];		/* storage for liburcu's struct rcu_head */
};

/**
 * uhmm_notifier_register() - subscribe @sub to every change of @mm.
 * @sub: the subscription: zero-initialised apart from ->ops, or last
 *	unregistered; not registered anywhere.
 * @mm: a handle the caller holds a users reference on.
 *
 * Takes a count reference on @mm for the subscription (dropped when it is
 * unregistered).
 *
 * Context: any thread except inside a uhmm callback.  May block.
 * Return: 0; -EINVAL (NULL argument or ops); -ESRCH (teardown has begun, or
 * @mm is inert after fork); -EDEADLK (called from a callback); -EBUSY (@sub
 * already registered).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_notifier_register(struct uhmm_notifier *sub,
						    struct uhmm_mm *mm);

/**
 * uhmm_notifier_unregister() - end a registered subscription.
 * @sub: a subscription registered with uhmm_notifier_register().
 *
 * Calls ->release() if teardown has not already (exactly once in total, even
 * when racing teardown), then waits for a grace period.
 *
 * Context: any thread except inside a uhmm callback.  Blocks.
 * Return: 0, and no callback of @sub runs or will run: the caller may free
 * it.  -EDEADLK from a callback (nothing done), -EINVAL if @sub is not
 * registered.
 */
UHMM_API int uhmm_notifier_unregister(struct uhmm_notifier *sub);

/**
 * uhmm_notifier_get() - the shared subscription for (@ops, @mm).
 * @ops: callbacks; ->alloc_notifier and ->free_notifier are required.
 * @mm: a handle the caller holds a users reference on.
 * @out: where to store the subscription.
 *
 * Returns the existing subscription with its count raised, or allocates one
 * through ->alloc_notifier() and registers it.  Pairs with
 * uhmm_notifier_put().
 *
 * Context: any thread except inside a uhmm callback.  May block.
 * Return: 0; -EINVAL; -ENOMEM (alloc_notifier returned NULL); -ESRCH;
 * -EDEADLK; -EOVERFLOW (count would overflow).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_notifier_get(const struct uhmm_notifier_ops *ops,
					       struct uhmm_mm *mm,
					       struct uhmm_notifier **out);

/**
 * uhmm_notifier_put() - drop a reference taken by uhmm_notifier_get().
 * @sub: the subscription.
 *
 * The last put unhooks @sub and frees it through ->free_notifier() after a
 * grace period.  Never calls ->release().  Does not wait.
 *
 * Context: any thread, also from inside ->release() and other callbacks.
 */
UHMM_API void uhmm_notifier_put(struct uhmm_notifier *sub);

/**
 * uhmm_notifier_synchronize() - wait for every deferred free to finish.
 *
 * After it returns, every ->free_notifier() owed by an earlier
 * uhmm_notifier_put() has run (call before unloading the code that holds
 * the ops).
 *
 * Context: any thread except inside a uhmm callback.  Blocks.
 * Return: 0, or -EDEADLK from a callback.
 */
UHMM_API int uhmm_notifier_synchronize(void);

UHMM_END_DECLS

#endif /* UHMM_NOTIFIER_H */
