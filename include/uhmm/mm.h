/* SPDX-License-Identifier: MIT */
/*
 * uhmm/mm.h - address space handles and their lifetime.
 *
 * A struct uhmm_mm stands for the calling process's address space, as the
 * kernel's struct mm_struct does for a task.  It has two reference counts:
 *
 *   users  - the holder may *use* the address space: fault or snapshot its
 *            pages, register subscriptions.  uhmm_mm_get() / _get_not_zero()
 *            take one, uhmm_mm_put() drops one.  When users reach zero the
 *            address space is torn down, exactly once: every whole-space
 *            subscription gets ->release(), every interval subscription gets
 *            one invalidation of the whole space with UHMM_EVENT_RELEASE, and
 *            from then on uhmm_range_fault() fails with -ESRCH, so no mirror
 *            can be rebuilt.
 *   count  - the holder may touch the struct only (uhmm_mm_get_not_zero(),
 *            identity).  uhmm_mm_grab() takes one, uhmm_mm_drop() drops one.
 *            All users together hold one count.  The struct is freed when
 *            count reaches zero.
 *
 * Lifetime chain: a valid range implies a valid interval subscription implies
 * a grabbed mm.  Code that needs the address space itself (a worker thread
 * faulting pages for a device) turns its struct reference into a usable one
 * with uhmm_mm_get_not_zero() and handles failure: it fails once teardown has
 * begun.  A struct reference alone is never enough to use the address space.
 *
 * The process handle: uhmm_mm_current() is the calling process's own address
 * space.  The process holds an implicit users reference on it until exit();
 * at exit teardown runs exactly once, also while other threads still hold
 * users references (they are about to be killed; their later puts call
 * nothing again), and the implicit reference is dropped.  From then on
 * uhmm_mm_get_not_zero() fails on it.  _exit() and fatal signals run
 * no teardown (the kernel reclaims everything; nothing in the process
 * survives to be told).  After fork() the child's current address space is a
 * new handle; handles and subscriptions inherited through the memory copy are
 * inert in the child: their callbacks never run there, and using them fails
 * with -ESRCH.  exec() ends the address space without callbacks.
 *
 * Further handles over the same memory can be made with uhmm_mm_create(): each
 * has its own subscriptions and its own lifetime, which a library uses to keep
 * its notifiers apart from others' and tests use to run teardown many times.
 */
#ifndef UHMM_MM_H
#define UHMM_MM_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;

/**
 * uhmm_mm_current() - the address space the calling thread acts on.
 *
 * The handle set by uhmm_mm_use() in this thread if any, else the process's
 * own handle.  The reference is borrowed: take uhmm_mm_get() (or grab) to keep
 * it beyond the current call chain.
 *
 * Context: any thread.  May allocate the process handle on first call (not
 * from inside a uhmm callback in that case).
 * Return: the handle, or NULL if it could not be allocated.
 */
UHMM_API struct uhmm_mm *uhmm_mm_current(void);

/**
 * uhmm_mm_create() - a new address space handle over the calling process.
 * @out: where to store the handle.
 *
 * The new handle starts with one users reference and one count reference,
 * both owned by the caller: uhmm_mm_put() it when done.
 *
 * Context: any thread, not from inside a uhmm callback.  May block, allocates.
 * Return: 0, -ENOMEM, -EINVAL (@out NULL), -EDEADLK (inside a callback).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_mm_create(struct uhmm_mm **out);

/**
 * uhmm_mm_get() - take another users reference.
 * @mm: a handle on which the caller already holds a users reference.
 *
 * Pairs with uhmm_mm_put().  Taking a users reference from a struct-only
 * reference is a lifetime bug: use uhmm_mm_get_not_zero().  Debug builds
 * abort with a message if users is zero; overflow aborts in every build.
 *
 * Context: any thread; never blocks.
 */
UHMM_API void uhmm_mm_get(struct uhmm_mm *mm);

/**
 * uhmm_mm_get_not_zero() - turn a struct reference into a users reference.
 * @mm: a handle on which the caller holds at least a count reference.
 *
 * Pairs with uhmm_mm_put() when it succeeds.
 *
 * Context: any thread; never blocks.
 * Return: true with a users reference taken; false once teardown has begun
 * (or @mm is an inert handle inherited over fork).
 */
UHMM_API UHMM_MUST_CHECK bool uhmm_mm_get_not_zero(struct uhmm_mm *mm);

/**
 * uhmm_mm_put() - drop a users reference; the last one tears down.
 * @mm: the handle.
 *
 * Pairs with uhmm_mm_get(), a successful uhmm_mm_get_not_zero(), or the
 * reference uhmm_mm_create() returned.  When users reach zero, teardown runs
 * in the caller: ->release() of every whole-space subscription (exactly once
 * each), then a UHMM_EVENT_RELEASE invalidation of every interval subscription;
 * then the count reference the users held is dropped.
 *
 * Context: any thread.  May block (teardown waits for a grace period).  May be
 * called from inside a callback.
 */
UHMM_API void uhmm_mm_put(struct uhmm_mm *mm);

/**
 * uhmm_mm_grab() - take a struct-only reference.
 * @mm: a handle on which the caller holds a users or count reference.
 *
 * Pairs with uhmm_mm_drop().  Overflow aborts.
 *
 * Context: any thread; never blocks.
 */
UHMM_API void uhmm_mm_grab(struct uhmm_mm *mm);

/**
 * uhmm_mm_drop() - drop a struct-only reference; the last one frees.
 * @mm: the handle.
 *
 * Context: any thread; never blocks.  After it returns the caller must not
 * touch @mm again.
 */
UHMM_API void uhmm_mm_drop(struct uhmm_mm *mm);

/**
 * uhmm_mm_alive() - whether teardown has not begun.
 * @mm: a handle the caller holds at least a count reference on.
 *
 * A hint only: without a users reference the answer can change right after.
 *
 * Context: any thread; never blocks.
 */
UHMM_API bool uhmm_mm_alive(const struct uhmm_mm *mm);

/**
 * uhmm_mm_use() - make @mm the calling worker thread's address space.
 * @mm: a handle on which the caller holds a users reference.
 *
 * The userspace use_mm(): until uhmm_mm_unuse(), uhmm_mm_current() in this
 * thread returns @mm.  The thread pins its own users reference for the whole
 * use, so the caller's may be handed on.  Using an address space with only a
 * struct reference is a lifetime bug (seed 003): if users is already zero
 * this refuses, and debug builds abort with a message naming the rule.
 * A thread that exits while using an mm unuses it.
 *
 * Context: any thread, not from a callback; one use at a time per thread.
 * Return: 0; -ESRCH if teardown has begun (the caller held no users
 * reference); -EBUSY if this thread already uses an mm; -EINVAL for NULL;
 * -EDEADLK from a callback.
 */
UHMM_API UHMM_MUST_CHECK int uhmm_mm_use(struct uhmm_mm *mm);

/**
 * uhmm_mm_unuse() - end uhmm_mm_use() in the calling thread.
 * @mm: the handle passed to uhmm_mm_use().
 *
 * Drops the users reference uhmm_mm_use() pinned (may run teardown).
 *
 * Context: the thread that called uhmm_mm_use().
 * Return: 0, or -EINVAL if this thread is not using @mm.
 */
UHMM_API int uhmm_mm_unuse(struct uhmm_mm *mm);

/**
 * uhmm_mm_users() - the current users count, for diagnostics and tests.
 * @mm: a handle the caller holds at least a count reference on.
 */
UHMM_API int uhmm_mm_users(const struct uhmm_mm *mm);

UHMM_END_DECLS

#endif /* UHMM_MM_H */
