/* SPDX-License-Identifier: MIT */
/*
 * notifier.c - whole-address-space subscriptions: register/unregister,
 * get/put with deferred free, release at teardown, and dispatch.
 *
 * The list is a singly linked RCU list: readers (dispatch, teardown) walk it
 * inside a read-side section; writers hold mm->subs_lock.  A subscription's
 * state decides who calls ->release(): whoever moves it from LIVE to
 * RELEASING (teardown or unregister, by compare-and-swap) calls it, so it is
 * called at most once, and unregister waits for a grace period so a
 * ->release() teardown started is over before the owner may free it.
 */
#include <stdlib.h>

#include "internal.h"

static struct uhmm_notifier *sub_from_rcu(struct uhmm__rcu_head *head)
{
	return (struct uhmm_notifier *)((char *)head -
					offsetof(struct uhmm_notifier, rcu_head));
}

/* Unlink @sub from @mm's list.  Return false if it was not there. */
static bool unlink_locked(struct uhmm_mm *mm, struct uhmm_notifier *sub)
{
	struct uhmm_notifier **pp;

	uhmm__lock_assert_held(&mm->subs_lock);
	for (pp = &mm->subs; *pp; pp = &(*pp)->next) {
		if (*pp == sub) {
			/* Readers at @sub keep following sub->next. */
			uhmm__rcu_assign(*pp, sub->next);
			return true;
		}
	}
	return false;
}

static void link_locked(struct uhmm_mm *mm, struct uhmm_notifier *sub)
{
	uhmm__lock_assert_held(&mm->subs_lock);
	uhmm_mm_grab(mm);	/* pairs with the drop in unregister / free_rcu */
	sub->mm = mm;
	sub->users = 1;
	__atomic_store_n(&sub->state, UHMM__NS_LIVE, __ATOMIC_RELAXED);
	sub->next = mm->subs;
	uhmm__rcu_assign(mm->subs, sub);	/* publishes the fields above */
}

static bool may_register(struct uhmm_mm *mm)
{
	uhmm__lock_assert_held(&mm->subs_lock);
	return !mm->dead && !uhmm__mm_inert(mm);
}

/* Call ->release() if nobody has; the caller is inside a read section. */
static void release_once(struct uhmm_notifier *sub, struct uhmm_mm *mm)
{
	unsigned int live = UHMM__NS_LIVE;

	if (!__atomic_compare_exchange_n(&sub->state, &live, UHMM__NS_RELEASING,
					 false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return;
	if (sub->ops->release) {
		uhmm__cb_enter();
		sub->ops->release(sub, mm);
		uhmm__cb_exit();
	}
	/* @sub may already be put (by ->release()), but is not freed before
	 * our read section ends. */
	__atomic_store_n(&sub->state, UHMM__NS_RELEASED, __ATOMIC_RELEASE);
}

int uhmm_notifier_register(struct uhmm_notifier *sub, struct uhmm_mm *mm)
{
	int ret = 0;

	if (!sub || !mm || !sub->ops)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	if (__atomic_load_n(&sub->state, __ATOMIC_RELAXED) != UHMM__NS_IDLE)
		return -EBUSY;
	uhmm__mutex_lock(&mm->subs_lock);
	if (may_register(mm))
		link_locked(mm, sub);
	else
		ret = -ESRCH;
	uhmm__mutex_unlock(&mm->subs_lock);
	return ret;
}

int uhmm_notifier_unregister(struct uhmm_notifier *sub)
{
	struct uhmm_mm *mm;

	if (!sub || !sub->mm)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	if (__atomic_load_n(&sub->state, __ATOMIC_ACQUIRE) == UHMM__NS_IDLE)
		return -EINVAL;
	mm = sub->mm;
	uhmm__mutex_lock(&mm->subs_lock);
	unlink_locked(mm, sub);	/* false if teardown already unlinked it */
	uhmm__mutex_unlock(&mm->subs_lock);

	uhmm__rcu_read_lock();
	release_once(sub, mm);
	uhmm__rcu_read_unlock();
	/* Wait for dispatch and for a ->release() teardown may be running. */
	uhmm__rcu_synchronize();
	__atomic_store_n(&sub->state, UHMM__NS_IDLE, __ATOMIC_RELAXED);
	sub->mm = NULL;
	uhmm_mm_drop(mm);	/* pairs with link_locked() */
	return 0;
}

/* Find the live shared subscription for @ops and take a reference. */
static struct uhmm_notifier *find_get_locked(struct uhmm_mm *mm,
					     const struct uhmm_notifier_ops *ops,
					     int *err)
{
	struct uhmm_notifier *s;

	uhmm__lock_assert_held(&mm->subs_lock);
	for (s = mm->subs; s; s = s->next) {
		if (s->ops != ops || s->users == 0)
			continue;
		if (s->users == UINT32_MAX) {
			*err = -EOVERFLOW;
			return NULL;
		}
		s->users++;	/* pairs with uhmm_notifier_put() */
		return s;
	}
	return NULL;
}

int uhmm_notifier_get(const struct uhmm_notifier_ops *ops, struct uhmm_mm *mm,
		      struct uhmm_notifier **out)
{
	struct uhmm_notifier *sub, *found;
	int err = 0;

	if (!ops || !mm || !out || !ops->alloc_notifier || !ops->free_notifier)
		return -EINVAL;
	if (uhmm__in_callback())
		return -EDEADLK;
	uhmm__mutex_lock(&mm->subs_lock);
	err = may_register(mm) ? 0 : -ESRCH;
	found = err ? NULL : find_get_locked(mm, ops, &err);
	uhmm__mutex_unlock(&mm->subs_lock);
	if (found || err) {
		*out = found;
		return err;
	}

	sub = ops->alloc_notifier(mm);	/* no lock held: it may allocate */
	if (!sub)
		return -ENOMEM;
	sub->ops = ops;
	sub->state = UHMM__NS_IDLE;
	uhmm__mutex_lock(&mm->subs_lock);
	err = may_register(mm) ? 0 : -ESRCH;
	found = err ? NULL : find_get_locked(mm, ops, &err);
	if (!found && !err)
		link_locked(mm, sub);
	uhmm__mutex_unlock(&mm->subs_lock);
	if (found || err) {
		/* Lost a race with another get, or with teardown. */
		ops->free_notifier(sub);
		*out = found;
		return err;
	}
	*out = sub;
	return 0;
}

/*
 * Deferred frees in flight, for uhmm_notifier_synchronize().  liburcu's
 * rcu_barrier() would do, but it hands a heap object between threads in
 * ways TSan cannot see; a count under a mutex says the same thing.  The
 * default call_rcu thread runs callbacks in queue order, so once 'done'
 * reaches the 'queued' seen at entry, every earlier free has run.
 */
static struct {
	struct uhmm__mutex lock;
	pthread_cond_t cond;		/* with lock: done moved */
	unsigned long queued;		/* under lock */
	unsigned long done;		/* under lock */
} deferred;

static void free_rcu(struct uhmm__rcu_head *head)
{
	struct uhmm_notifier *sub = sub_from_rcu(head);
	struct uhmm_mm *mm;

	uhmm__rcu_callback_begin();	/* before the first read of @sub */
	mm = sub->mm;
	/* A free the parent owed, run in a fork child by liburcu: the
	 * subscription is the parent's, its callbacks never run here. */
	if (!uhmm__mm_inert(mm))
		sub->ops->free_notifier(sub);
	uhmm_mm_drop(mm);	/* pairs with link_locked() */
	uhmm__mutex_lock(&deferred.lock);
	deferred.done++;
	UHMM_CHECK(pthread_cond_broadcast(&deferred.cond));
	uhmm__mutex_unlock(&deferred.lock);
}

static void queue_free(struct uhmm_notifier *sub)
{
	uhmm__mutex_lock(&deferred.lock);
	deferred.queued++;
	uhmm__mutex_unlock(&deferred.lock);
	uhmm__rcu_call((struct uhmm__rcu_head *)sub->rcu_head, free_rcu);
}

void uhmm_notifier_put(struct uhmm_notifier *sub)
{
	struct uhmm_mm *mm = sub->mm;
	unsigned int live = UHMM__NS_LIVE;

	uhmm__mutex_lock(&mm->subs_lock);
	if (sub->users == 0)
		UHMM_DIE("uhmm_notifier_put underflow");
	if (--sub->users) {
		uhmm__mutex_unlock(&mm->subs_lock);
		return;
	}
	unlink_locked(mm, sub);
	uhmm__mutex_unlock(&mm->subs_lock);
	/* A teardown racing us must not start ->release() from now on. */
	__atomic_compare_exchange_n(&sub->state, &live, UHMM__NS_IDLE, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	queue_free(sub);
}

int uhmm_notifier_synchronize(void)
{
	unsigned long target;

	if (uhmm__in_callback())
		return -EDEADLK;
	uhmm__mutex_lock(&deferred.lock);
	target = deferred.queued;
	while (deferred.done < target)
		uhmm__cond_wait(&deferred.cond, &deferred.lock);
	uhmm__mutex_unlock(&deferred.lock);
	return 0;
}

void uhmm__notifier_init(void)
{
	uhmm__mutex_init(&deferred.lock);
	UHMM_CHECK(pthread_cond_init(&deferred.cond, NULL));
}

void uhmm__notifier_fork_prepare(void)
{
	uhmm__mutex_lock(&deferred.lock);
}

void uhmm__notifier_fork_parent(void)
{
	uhmm__mutex_unlock(&deferred.lock);
}

/* The condition variable may carry waiters of threads that do not exist
 * in the child: start it afresh.  liburcu moves the parent's queued frees
 * to the child's call_rcu thread; free_rcu() skips their ->free_notifier(). */
void uhmm__notifier_fork_child(void)
{
	UHMM_CHECK(pthread_cond_init(&deferred.cond, NULL));
	uhmm__mutex_adopt(&deferred.lock);
	uhmm__mutex_unlock(&deferred.lock);
}

/* Teardown's whole-space part: ->release() once each, then empty the list. */
void uhmm__notifier_release(struct uhmm_mm *mm)
{
	struct uhmm_notifier *s;

	uhmm__mutex_lock(&mm->subs_lock);
	mm->dead = true;	/* no registration from now on */
	uhmm__mutex_unlock(&mm->subs_lock);

	uhmm__rcu_read_lock();
	for (s = uhmm__rcu_deref(mm->subs); s; s = uhmm__rcu_deref(s->next))
		release_once(s, mm);
	uhmm__rcu_read_unlock();

	uhmm__mutex_lock(&mm->subs_lock);
	uhmm__rcu_assign(mm->subs, NULL);
	uhmm__mutex_unlock(&mm->subs_lock);
}

int uhmm__notifier_invalidate_start(const struct uhmm_notifier_range *r)
{
	struct uhmm_notifier *s, *t;
	int ret = 0;

	/* No whole-space subscriber: a registration racing this change is
	 * ordered after it, as in the kernel's mm_has_notifiers() check. */
	if (!uhmm__rcu_deref(r->mm->subs))
		return 0;
	uhmm__rcu_read_lock();
	for (s = uhmm__rcu_deref(r->mm->subs); s; s = uhmm__rcu_deref(s->next)) {
		if (!s->ops->invalidate_range_start)
			continue;
		uhmm__cb_enter();
		ret = s->ops->invalidate_range_start(s, r);
		uhmm__cb_exit();
		if (!ret)
			continue;
		if (ret != -EAGAIN || uhmm_range_blockable(r))
			UHMM_DIE("invalidate_range_start may only fail with "
				 "-EAGAIN, and only on a non-blockable range");
		/* Undo: end those that started, in the same order. */
		for (t = uhmm__rcu_deref(r->mm->subs); t && t != s;
		     t = uhmm__rcu_deref(t->next)) {
			if (!t->ops->invalidate_range_end)
				continue;
			uhmm__cb_enter();
			t->ops->invalidate_range_end(t, r);
			uhmm__cb_exit();
		}
		break;
	}
	uhmm__rcu_read_unlock();
	return ret;
}

void uhmm__notifier_invalidate_end(const struct uhmm_notifier_range *r)
{
	struct uhmm_notifier *s;

	if (!uhmm__rcu_deref(r->mm->subs))
		return;
	uhmm__rcu_read_lock();
	for (s = uhmm__rcu_deref(r->mm->subs); s; s = uhmm__rcu_deref(s->next)) {
		if (!s->ops->invalidate_range_end)
			continue;
		uhmm__cb_enter();
		s->ops->invalidate_range_end(s, r);
		uhmm__cb_exit();
	}
	uhmm__rcu_read_unlock();
}
