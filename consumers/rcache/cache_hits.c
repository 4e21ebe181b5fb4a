/* SPDX-License-Identifier: MIT */
/*
 * cache_hits.c - hits counted in per-thread shards (cache.h).
 *
 * Shard ownership is process-wide: a bitmap of RC_HIT_SHARDS bits, a bit
 * claimed by a thread's first hit in any cache and given back when the
 * thread exits (a pthread key's destructor).  The owner is the only
 * writer of its shard in every cache, so it counts with a plain load and
 * store; the bitmap's release at exit and acquire at claim order one
 * owner's last store before the next owner's first load.  A thread that
 * finds every bit taken shares one of RC_HIT_SHARED other shards, round
 * robin, with atomic adds.
 */
#include <pthread.h>

#include "cache.h"

__thread unsigned int uhmm__rc_hit_shard
	__attribute__((tls_model("initial-exec")));

static unsigned long shards_owned;	/* atomic: bit i: shard i owned */
static unsigned int shards_shared;	/* atomic: round robin past them */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;

_Static_assert(RC_HIT_SHARDS < 8 * sizeof(unsigned long) &&
	       RC_HIT_SHARDS + RC_HIT_SHARED < RC_SHARD_OWNED,
	       "shard bitmap too small");

/* The thread is exiting: its shard goes back.  A hit after this (another
 * destructor's) claims again, which registers this destructor again. */
static void give_back(void *arg)
{
	unsigned int s = uhmm__rc_hit_shard;

	(void)arg;
	uhmm__rc_hit_shard = 0;
	if (s & RC_SHARD_OWNED)
		__atomic_fetch_and(&shards_owned,
				   ~(1UL << ((s & ~RC_SHARD_OWNED) - 1)),
				   __ATOMIC_RELEASE);
}

static void make_key(void)
{
	exit_key_ok = pthread_key_create(&exit_key, give_back) == 0;
}

/* Unloaded (dlclose): no destructor may point into unmapped code. */
__attribute__((destructor)) static void drop_key(void)
{
	if (exit_key_ok)
		pthread_key_delete(exit_key);
}

static unsigned int claim_owned(void)
{
	unsigned long owned = __atomic_load_n(&shards_owned, __ATOMIC_RELAXED);
	unsigned int i;

	while (~owned & ((1UL << RC_HIT_SHARDS) - 1)) {
		i = (unsigned int)__builtin_ctzl(~owned);
		if (__atomic_compare_exchange_n(&shards_owned, &owned,
						owned | (1UL << i), true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return (i + 1) | RC_SHARD_OWNED;
	}
	return 0;
}

unsigned int uhmm__rc_hit_shard_claim(void)
{
	unsigned int s = 0;

	pthread_once(&exit_key_once, make_key);
	/* Owning needs the destructor that gives the shard back. */
	if (exit_key_ok && pthread_setspecific(exit_key, (void *)1) == 0)
		s = claim_owned();
	if (!s)
		s = 1 + RC_HIT_SHARDS +
		    __atomic_fetch_add(&shards_shared, 1, __ATOMIC_RELAXED) %
			    RC_HIT_SHARED;
	uhmm__rc_hit_shard = s;
	return s;
}

uint64_t uhmm__rc_hits(struct uhmm_rcache *c)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < RC_HIT_SHARDS + RC_HIT_SHARED; i++)
		sum += __atomic_load_n(&c->hit_shard[i].n, __ATOMIC_RELAXED);
	return sum;
}
