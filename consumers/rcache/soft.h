/* SPDX-License-Identifier: MIT */
/*
 * soft.h - the software DMA device's private state (soft.c, soft_dma.c).
 */
#ifndef UHMM_RCACHE_SOFT_PRIV_H
#define UHMM_RCACHE_SOFT_PRIV_H

#include <pthread.h>

#include <uhmm/rcache_soft.h>

#define SOFT_HASH_BITS	10
#define SOFT_HASH_SIZE	(1UL << SOFT_HASH_BITS)

/* One registration: what the device checks a DMA against. */
struct soft_reg {
	struct soft_reg *next;		/* under lock */
	uint64_t key;			/* immutable */
	unsigned long start, end;	/* immutable */
	unsigned int access;		/* immutable */
};

struct uhmm_rcache_soft {
	pthread_rwlock_t lock;
	struct soft_reg *table[SOFT_HASH_SIZE];	/* under lock */
	uint64_t next_key;			/* under lock (write) */
	struct uhmm_rcache_soft_stats st;	/* under lock (write) */
};

struct soft_reg *uhmm__soft_find(struct uhmm_rcache_soft *s, uint64_t key);

#endif /* UHMM_RCACHE_SOFT_PRIV_H */
