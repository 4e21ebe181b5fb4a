/* SPDX-License-Identifier: MIT */
/*
 * debug.c - the die routine, owner-recording mutexes, callback context.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

__thread unsigned int uhmm__cb_depth;

static void put_str(const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(STDERR_FILENO, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* No allocation, no stdio: may run on any path, also inside a hook. */
void uhmm__die(const char *where, const char *msg)
{
	put_str("uhmm: ");
	put_str(where);
	put_str(": ");
	put_str(msg);
	put_str("\n");
	abort();
}

void uhmm__mutex_init(struct uhmm__mutex *m)
{
	UHMM_CHECK(pthread_mutex_init(&m->m, NULL));
#ifdef UHMM_DEBUG
	m->owner = 0;
#endif
}

void uhmm__mutex_destroy(struct uhmm__mutex *m)
{
	UHMM_CHECK(pthread_mutex_destroy(&m->m));
}

void uhmm__mutex_lock(struct uhmm__mutex *m)
{
#ifdef UHMM_DEBUG
	if (__atomic_load_n(&m->owner, __ATOMIC_RELAXED) == uhmm__os_gettid())
		UHMM_DIE("recursive lock of a uhmm mutex");
#endif
	UHMM_CHECK(pthread_mutex_lock(&m->m));
#ifdef UHMM_DEBUG
	__atomic_store_n(&m->owner, uhmm__os_gettid(), __ATOMIC_RELAXED);
#endif
}

bool uhmm__mutex_trylock(struct uhmm__mutex *m)
{
	int ret = pthread_mutex_trylock(&m->m);

	if (ret == EBUSY)
		return false;
	UHMM_CHECK(ret);
#ifdef UHMM_DEBUG
	__atomic_store_n(&m->owner, uhmm__os_gettid(), __ATOMIC_RELAXED);
#endif
	return true;
}

void uhmm__mutex_unlock(struct uhmm__mutex *m)
{
#ifdef UHMM_DEBUG
	if (__atomic_load_n(&m->owner, __ATOMIC_RELAXED) != uhmm__os_gettid())
		UHMM_DIE("unlock of a uhmm mutex not held by this thread");
	__atomic_store_n(&m->owner, 0, __ATOMIC_RELAXED);
#endif
	UHMM_CHECK(pthread_mutex_unlock(&m->m));
}

void uhmm__cond_wait(pthread_cond_t *c, struct uhmm__mutex *m)
{
#ifdef UHMM_DEBUG
	uhmm__lock_assert_held(m);
	__atomic_store_n(&m->owner, 0, __ATOMIC_RELAXED);
#endif
	UHMM_CHECK(pthread_cond_wait(c, &m->m));
#ifdef UHMM_DEBUG
	__atomic_store_n(&m->owner, uhmm__os_gettid(), __ATOMIC_RELAXED);
#endif
}

void uhmm__mutex_adopt(struct uhmm__mutex *m)
{
#ifdef UHMM_DEBUG
	__atomic_store_n(&m->owner, uhmm__os_gettid(), __ATOMIC_RELAXED);
#else
	(void)m;
#endif
}

#ifdef UHMM_DEBUG
void uhmm__lock_assert_held_at(struct uhmm__mutex *m, const char *where)
{
	if (__atomic_load_n(&m->owner, __ATOMIC_RELAXED) != uhmm__os_gettid())
		uhmm__die(where, "lock not held by this thread");
}
#endif
