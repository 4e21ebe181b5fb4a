/* SPDX-License-Identifier: MIT */
/*
 * mm.c - address space handles: the users/count references, teardown, the
 * process handle, use/unuse for worker threads, and fork.
 */
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

unsigned long uhmm__fork_gen;

/* Every handle that is not yet freed, for fork (locks) and capture. */
static struct {
	struct uhmm__mutex lock;
	struct uhmm_mm *head;		/* under lock */
	struct uhmm_mm *process;	/* atomic: the process handle, or NULL */
	bool exited;			/* under lock: process teardown ran */
} registry;

/* The handle uhmm_mm_use() installed in this thread. */
static __thread struct uhmm_mm *used_mm;
static pthread_key_t use_key;

/*
 * The registry is an RCU list: capture walks it from hook paths without a
 * lock (uhmm__mm_grab_live), writers hold registry.lock.  Readers follow
 * reg_next only, so unlinking keeps the removed node's reg_next intact and
 * the node is freed after a grace period.
 */
static void registry_add(struct uhmm_mm *mm)
{
	uhmm__mutex_lock(&registry.lock);
	mm->reg_prev = NULL;
	mm->reg_next = registry.head;
	if (registry.head)
		registry.head->reg_prev = mm;
	uhmm__rcu_assign(registry.head, mm);	/* publishes @mm's fields */
	uhmm__mutex_unlock(&registry.lock);
}

static void registry_del(struct uhmm_mm *mm)
{
	uhmm__mutex_lock(&registry.lock);
	if (mm->reg_prev)
		uhmm__rcu_assign(mm->reg_prev->reg_next, mm->reg_next);
	else
		uhmm__rcu_assign(registry.head, mm->reg_next);
	if (mm->reg_next)
		mm->reg_next->reg_prev = mm->reg_prev;
	uhmm__mutex_unlock(&registry.lock);
}

static struct uhmm_mm *mm_alloc(void)
{
	struct uhmm_mm *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return NULL;
	mm->ifilter = uhmm__ifilter_new();
	if (!mm->ifilter) {
		free(mm);
		return NULL;
	}
	mm->users = 1;
	mm->count = 1;		/* held by the users, together */
	mm->fork_gen = __atomic_load_n(&uhmm__fork_gen, __ATOMIC_RELAXED);
	uhmm__mutex_init(&mm->subs_lock);
	uhmm__interval_mm_init(mm);
	registry_add(mm);
	return mm;
}

static void mm_free_rcu(struct uhmm__rcu_head *head)
{
	struct uhmm_mm *mm = (struct uhmm_mm *)((char *)head -
						offsetof(struct uhmm_mm, rcu));

	uhmm__rcu_callback_begin();
	uhmm__interval_mm_destroy(mm);
	uhmm__mutex_destroy(&mm->subs_lock);
	uhmm__ifilter_delete(mm->ifilter);
	free(mm);
}

/* Unlink now; free once no registry walker can still be looking at it. */
static void mm_free(struct uhmm_mm *mm)
{
	registry_del(mm);
	uhmm__rcu_call(&mm->rcu, mm_free_rcu);
}

int uhmm_mm_create(struct uhmm_mm **out)
{
	struct uhmm_mm *mm;

	if (!out)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	mm = mm_alloc();
	if (!mm)
		return -ENOMEM;
	*out = mm;
	return 0;
}

static struct uhmm_mm *process_mm_slow(void)
{
	struct uhmm_mm *mm;

	uhmm__mutex_lock(&registry.lock);
	mm = registry.process;
	if (registry.exited) {
		/* Process teardown ran: there is no usable process handle. */
		uhmm__mutex_unlock(&registry.lock);
		return NULL;
	}
	uhmm__mutex_unlock(&registry.lock);
	if (mm)
		return mm;
	mm = mm_alloc();
	if (!mm)
		return NULL;
	uhmm__mutex_lock(&registry.lock);
	if (registry.process) {
		/* Lost a race with another thread: use its handle. */
		uhmm__mutex_unlock(&registry.lock);
		mm_free(mm);
		return __atomic_load_n(&registry.process, __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(&registry.process, mm, __ATOMIC_RELEASE);
	uhmm__mutex_unlock(&registry.lock);
	return mm;
}

struct uhmm_mm *uhmm_mm_current(void)
{
	struct uhmm_mm *mm = used_mm;

	if (mm)
		return mm;
	mm = __atomic_load_n(&registry.process, __ATOMIC_ACQUIRE);
	if (likely(mm))
		return mm;
	return process_mm_slow();
}

/* A count reference unless the struct is already on its way to be freed. */
static bool grab_not_zero(struct uhmm_mm *mm)
{
	int old = __atomic_load_n(&mm->count, __ATOMIC_RELAXED);

	do {
		if (old <= 0)
			return false;
		if (unlikely(old == INT_MAX))
			UHMM_DIE("uhmm_mm count overflow");
	} while (!__atomic_compare_exchange_n(&mm->count, &old, old + 1, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

/* The live handles from @mm on the registry list (RCU or its lock held). */
static int grab_live_from(struct uhmm_mm *mm, struct uhmm_mm **out, int max)
{
	int n = 0;

	for (; mm && n < max; mm = uhmm__rcu_deref(mm->reg_next)) {
		if (uhmm__mm_inert(mm) ||
		    !__atomic_load_n(&mm->users, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&mm->released, __ATOMIC_RELAXED))
			continue;
		if (grab_not_zero(mm))
			out[n++] = mm;
	}
	return n;
}

/*
 * For capture: grab every live handle of this process (not inert, teardown
 * not begun) into @out, at most @max, so a change can be announced to each.
 * Lock-free (an RCU walk) and allocation-free: it runs on hook paths, also
 * in signal handlers.  Return: how many were grabbed; the caller drops each.
 */
int uhmm__mm_grab_live(struct uhmm_mm **out, int max)
{
	int n;

	uhmm__rcu_read_lock();
	n = grab_live_from(uhmm__rcu_deref(registry.head), out, max);
	uhmm__rcu_read_unlock();
	return n;
}

/*
 * For capture: may any live handle have an interval subscription over
 * [start, last]?  The interval filters' answer (conservative), read
 * without grabbing anything or taking a lock: an RCU walk, allocation- and
 * system-call-free.  Only for a thread liburcu knows
 * (uhmm__rcu_thread_known()).
 */
bool uhmm__mm_live_may_cover(unsigned long start, unsigned long last)
{
	struct uhmm_mm *mm;
	bool may = false;

	uhmm__rcu_read_lock();
	for (mm = uhmm__rcu_deref(registry.head); mm && !may;
	     mm = uhmm__rcu_deref(mm->reg_next))
		may = !uhmm__mm_inert(mm) &&
		      uhmm__ifilter_may_overlap(mm->ifilter, start, last);
	uhmm__rcu_read_unlock();
	return may;
}

/*
 * As uhmm__mm_grab_live(), from a hook that may run inside liburcu's own
 * registration of this thread (uhmm__rcu_thread_known() false): under the
 * registry lock instead of RCU, if it is free (nobody holding it maps
 * memory, but a signal handler may interrupt its holder).  Return: how
 * many were grabbed, or -EBUSY if the lock was taken.
 */
int uhmm__mm_grab_live_trylock(struct uhmm_mm **out, int max)
{
	int n;

	if (!uhmm__mutex_trylock(&registry.lock))
		return -EBUSY;
	n = grab_live_from(registry.head, out, max);
	uhmm__mutex_unlock(&registry.lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* References                                                          */

void uhmm_mm_grab(struct uhmm_mm *mm)
{
	int old = __atomic_fetch_add(&mm->count, 1, __ATOMIC_RELAXED);

	if (unlikely(old <= 0 || old == INT_MAX))
		UHMM_DIE(old <= 0 ? "uhmm_mm_grab on a freed handle"
				  : "uhmm_mm count overflow");
}

void uhmm_mm_drop(struct uhmm_mm *mm)
{
	int old = __atomic_fetch_sub(&mm->count, 1, __ATOMIC_ACQ_REL);

	if (unlikely(old <= 0))
		UHMM_DIE("uhmm_mm_drop underflow");
	if (old == 1)
		mm_free(mm);
}

void uhmm_mm_get(struct uhmm_mm *mm)
{
	int old = __atomic_fetch_add(&mm->users, 1, __ATOMIC_RELAXED);

	if (unlikely(old == INT_MAX))
		UHMM_DIE("uhmm_mm users overflow");
#ifdef UHMM_DEBUG
	if (unlikely(old <= 0))
		UHMM_DIE("uhmm_mm_get without a users reference "
			 "(use uhmm_mm_get_not_zero from a struct reference)");
#endif
}

bool uhmm_mm_get_not_zero(struct uhmm_mm *mm)
{
	int old = __atomic_load_n(&mm->users, __ATOMIC_RELAXED);

	if (uhmm__mm_inert(mm) || __atomic_load_n(&mm->released,
						  __ATOMIC_ACQUIRE))
		return false;
	do {
		if (old <= 0)
			return false;
		if (unlikely(old == INT_MAX))
			UHMM_DIE("uhmm_mm users overflow");
	} while (!__atomic_compare_exchange_n(&mm->users, &old, old + 1, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

/*
 * Teardown's callbacks, at most once per handle, by whoever claims them
 * first: the thread that dropped the last users reference, or process
 * exit (which cannot wait for the others, see process_exit()).  Order as
 * in the kernel's exit_mmap(): whole-space ->release() first (the owners
 * switch their mirrors to fail), then the RELEASE invalidation of every
 * interval.  An inert handle (inherited over fork) calls nothing: its
 * subscriptions belong to the parent.
 */
static void mm_release_once(struct uhmm_mm *mm)
{
	if (__atomic_exchange_n(&mm->released, 1, __ATOMIC_ACQ_REL))
		return;
	if (!uhmm__mm_inert(mm)) {
		uhmm__notifier_release(mm);
		uhmm__interval_release(mm);
	}
}

/* Users reached zero: runs once, in the thread that dropped the last. */
static void mm_teardown(struct uhmm_mm *mm)
{
	mm_release_once(mm);
	uhmm_mm_drop(mm);	/* pairs with the count all users hold */
}

void uhmm_mm_put(struct uhmm_mm *mm)
{
	int old = __atomic_fetch_sub(&mm->users, 1, __ATOMIC_ACQ_REL);

	if (unlikely(old <= 0))
		UHMM_DIE("uhmm_mm_put underflow");
	if (old == 1)
		mm_teardown(mm);
}

bool uhmm_mm_alive(const struct uhmm_mm *mm)
{
	return __atomic_load_n(&mm->users, __ATOMIC_RELAXED) > 0 &&
	       !__atomic_load_n(&mm->released, __ATOMIC_RELAXED) &&
	       !uhmm__mm_inert(mm);
}

int uhmm_mm_users(const struct uhmm_mm *mm)
{
	return __atomic_load_n(&mm->users, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* use / unuse                                                         */

static void use_destructor(void *arg)
{
	struct uhmm_mm *mm = arg;

	/* The thread exited while using mm: drop what uhmm_mm_use() pinned. */
	if (mm && used_mm == mm) {
		used_mm = NULL;
		uhmm_mm_put(mm);
	}
}

int uhmm_mm_use(struct uhmm_mm *mm)
{
	if (!mm)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	if (used_mm)
		return -EBUSY;
	if (!uhmm_mm_get_not_zero(mm)) {
#ifdef UHMM_DEBUG
		if (!uhmm__mm_inert(mm))
			UHMM_DIE("uhmm_mm_use without a users reference: a struct "
				 "reference (grab) does not keep the address "
				 "space alive; take uhmm_mm_get_not_zero first");
#endif
		return -ESRCH;
	}
	used_mm = mm;
	UHMM_CHECK(pthread_setspecific(use_key, mm));
	return 0;
}

int uhmm_mm_unuse(struct uhmm_mm *mm)
{
	if (!mm || used_mm != mm)
		return -EINVAL;
	used_mm = NULL;
	UHMM_CHECK(pthread_setspecific(use_key, NULL));
	uhmm_mm_put(mm);	/* pairs with get_not_zero in uhmm_mm_use() */
	return 0;
}

/* ------------------------------------------------------------------ */
/* fork and process lifetime                                           */

/*
 * Before fork every uhmm lock is taken so the child's copies are consistent
 * (none is held across a callback, so this cannot wait on one).  liburcu goes
 * first: call_rcu_before_fork() waits for the call_rcu thread to finish its
 * current callback, and a deferred free may itself need registry.lock.
 */
void uhmm__fork_prepare(void)
{
	struct uhmm_mm *mm;

	uhmm__rcu_fork_prepare();
	uhmm__mutex_lock(&registry.lock);
	for (mm = registry.head; mm; mm = mm->reg_next) {
		uhmm__mutex_lock(&mm->subs_lock);
		uhmm__mutex_lock(&mm->itree_lock);
	}
	uhmm__notifier_fork_prepare();
}

static void unlock_all(bool child)
{
	struct uhmm_mm *mm;

	for (mm = registry.head; mm; mm = mm->reg_next) {
		if (child) {
			uhmm__mutex_adopt(&mm->itree_lock);
			uhmm__mutex_adopt(&mm->subs_lock);
		}
		uhmm__mutex_unlock(&mm->itree_lock);
		uhmm__mutex_unlock(&mm->subs_lock);
	}
	if (child)
		uhmm__mutex_adopt(&registry.lock);
	uhmm__mutex_unlock(&registry.lock);
}

void uhmm__fork_parent(void)
{
	uhmm__notifier_fork_parent();
	unlock_all(false);
	uhmm__rcu_fork_parent();
}

/*
 * In the child every inherited handle becomes inert (its generation no
 * longer matches) and the process handle is forgotten: the child's first
 * uhmm_mm_current() makes a new one.  Inherited handles are not freed: the
 * child may still hold pointers to them, and dropping them stays safe.
 */
void uhmm__fork_child(void)
{
	uhmm__os_fork_child();	/* first: the thread id changed */
	uhmm__notifier_fork_child();
	unlock_all(true);
	uhmm__rcu_fork_child();
	__atomic_add_fetch(&uhmm__fork_gen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&registry.process, NULL, __ATOMIC_RELEASE);
	registry.exited = false;
	used_mm = NULL;
}

/*
 * Process exit: the address space ends here, whatever other threads still
 * hold.  Teardown's callbacks run now, exactly once, even when another
 * thread holds a users reference (a uhmm_mm_use() worker, an insert or a
 * fault in flight): exit() kills those threads right after the
 * destructors, so waiting for their puts would lose ->release().  Then
 * the implicit users reference is dropped; whoever drops the last frees
 * the struct and calls nothing again.  A destructor rather than atexit():
 * it also runs when the library is unloaded.
 */
__attribute__((destructor)) static void process_exit(void)
{
	struct uhmm_mm *mm;

	uhmm__mutex_lock(&registry.lock);
	registry.exited = true;
	mm = __atomic_exchange_n(&registry.process, NULL, __ATOMIC_ACQ_REL);
	uhmm__mutex_unlock(&registry.lock);

	if (mm && !uhmm__mm_inert(mm)) {
		mm_release_once(mm);
		uhmm_mm_put(mm);	/* pairs with users = 1 in mm_alloc() */
	}
}

__attribute__((constructor)) static void uhmm_init(void)
{
	uhmm__mutex_init(&registry.lock);
	uhmm__notifier_init();
	UHMM_CHECK(pthread_key_create(&use_key, use_destructor));
	UHMM_CHECK(pthread_atfork(uhmm__fork_prepare, uhmm__fork_parent,
				  uhmm__fork_child));
}

const char *uhmm_version(void)
{
	return UHMM__STR(UHMM_VERSION_MAJOR) "." UHMM__STR(UHMM_VERSION_MINOR)
		"." UHMM__STR(UHMM_VERSION_PATCH);
}

unsigned long uhmm_page_size(void)
{
	return uhmm__os_page_size();
}
