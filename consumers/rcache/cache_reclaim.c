/* SPDX-License-Identifier: MIT */
/*
 * cache_reclaim.c - the background reclaimer (UHMM_RCACHE_RECLAIMER):
 * deregisters pending regions when no thread calls into the cache.
 *
 * It sleeps on a semaphore.  A push that takes pending_bytes past
 * max_pending_bytes kicks it: sem_post needs no mutex, never blocks, never
 * allocates and is async-signal-safe, so it may run in put or the interval
 * callback inside free(), munmap() or a signal handler.  The 'kicked' flag
 * keeps the semaphore's count at one at most; it is cleared before each
 * drain, so a push during the drain kicks again and none is lost.
 */
#include <errno.h>

#include "cache.h"

static void *reclaimer_main(void *arg)
{
	struct uhmm_rcache *c = arg;

	for (;;) {
		while (sem_wait(&c->kick_sem))
			if (errno != EINTR)
				RC_DIE("sem_wait failed");
		if (__atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE))
			break;
		__atomic_store_n(&c->kicked, false, __ATOMIC_SEQ_CST);
		uhmm__rc_drain(c);
	}
	return NULL;
}

/*
 * Callers: a push (the callback, under the cache lock; put, which never
 * runs concurrently with destroy).  stopping is set under the cache lock,
 * so no kick reaches the semaphore once stop has begun to tear it down.
 */
void uhmm__rc_reclaimer_kick(struct uhmm_rcache *c)
{
	if (__atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE))
		return;
	if (!__atomic_exchange_n(&c->kicked, true, __ATOMIC_SEQ_CST))
		RC_CHECK(sem_post(&c->kick_sem));
}

int uhmm__rc_reclaimer_start(struct uhmm_rcache *c)
{
	int err;

	RC_CHECK(sem_init(&c->kick_sem, 0, 0));
	err = pthread_create(&c->reclaimer, NULL, reclaimer_main, c);
	if (err) {
		RC_CHECK(sem_destroy(&c->kick_sem));
		return -err;
	}
	c->has_reclaimer = true;	/* no region exists yet: no reader */
	return 0;
}

/* Wakes the reclaimer and waits for it to end. */
void uhmm__rc_reclaimer_stop(struct uhmm_rcache *c)
{
	if (!c->has_reclaimer)
		return;
	rc_lock(c);
	__atomic_store_n(&c->stopping, true, __ATOMIC_RELEASE);
	rc_unlock(c);
	RC_CHECK(sem_post(&c->kick_sem));
	RC_CHECK(pthread_join(c->reclaimer, NULL));
	RC_CHECK(sem_destroy(&c->kick_sem));
}
