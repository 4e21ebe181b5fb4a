/* SPDX-License-Identifier: MIT */
/*
 * soft.c - the software DMA device (include/uhmm/rcache_soft.h): its
 * registration table and the backend ops.
 *
 * The table maps key -> registration in a fixed hash of chains, under a
 * reader-writer lock: DMA reads it (and holds it across the copy, so a
 * deregistration waits for copies through its key, as a NIC's does),
 * ->reg and ->dereg write it.  The ops run with no cache lock held and
 * outside callbacks (the cache's contract), so they may allocate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <uhmm/mm.h>
#include <uhmm/range.h>
#include <uhmm/rcache_soft.h>

#include "soft.h"

static struct soft_reg **chain(struct uhmm_rcache_soft *s, uint64_t key)
{
	return &s->table[(key * 0x9E3779B97F4A7C15ULL) >> (64 - SOFT_HASH_BITS)];
}

/* Under s->lock (read or write). */
struct soft_reg *uhmm__soft_find(struct uhmm_rcache_soft *s, uint64_t key)
{
	struct soft_reg *e;

	for (e = *chain(s, key); e; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

int uhmm_rcache_soft_create(struct uhmm_rcache_soft **out)
{
	struct uhmm_rcache_soft *s;
	pthread_rwlockattr_t a;
	int err;

	if (!out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Copies hold the lock for long: registrations must not starve. */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&s->lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (err) {
		free(s);
		return -err;
	}
	s->next_key = 1;
	*out = s;
	return 0;
}

void uhmm_rcache_soft_destroy(struct uhmm_rcache_soft *s)
{
	struct soft_reg *e, *next;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < SOFT_HASH_SIZE; i++) {
		for (e = s->table[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

/*
 * Pinning makes pages present with the access asked for; so does this,
 * through uhmm_range_fault() (MADV_POPULATE_READ / _WRITE), a batch of
 * pages at a time so nothing is allocated.
 */
static int soft_pin(const struct uhmm_rcache_region *r)
{
	unsigned long ps = uhmm_page_size(), a, n;
	uint64_t pfns[256];
	struct uhmm_range range = {
		.mm = uhmm_mm_current(),
		.pfns = pfns,
		.default_flags = UHMM_PFN_REQ_FAULT |
			((r->access & UHMM_RCACHE_WRITE) ? UHMM_PFN_REQ_WRITE : 0),
	};
	int err = 0;

	for (a = r->start; a < r->end && !err; a += n * ps) {
		n = (r->end - a) / ps;
		if (n > 256)
			n = 256;
		range.start = a;
		range.end = a + n * ps;
		err = uhmm_range_fault(&range);
	}
	return err;
}

static int soft_reg(void *arg, struct uhmm_rcache_region *r)
{
	struct uhmm_rcache_soft *s = arg;
	struct soft_reg *e;
	int err = soft_pin(r);

	e = err ? NULL : malloc(sizeof(*e));
	if (!err && !e)
		err = -ENOMEM;
	if (err) {
		pthread_rwlock_wrlock(&s->lock);
		s->st.reg_failures++;
		pthread_rwlock_unlock(&s->lock);
		return err;
	}
	e->start = r->start;
	e->end = r->end;
	e->access = r->access;
	pthread_rwlock_wrlock(&s->lock);
	e->key = s->next_key++;
	e->next = *chain(s, e->key);
	*chain(s, e->key) = e;
	s->st.live++;
	s->st.regs++;
	pthread_rwlock_unlock(&s->lock);
	r->key = e->key;
	r->priv = e;
	return 0;
}

static struct soft_reg *unlink_key(struct uhmm_rcache_soft *s, uint64_t key)
{
	struct soft_reg **pp, *e;

	for (pp = chain(s, key); (e = *pp); pp = &e->next) {
		if (e->key == key) {
			*pp = e->next;
			return e;
		}
	}
	return NULL;
}

static void soft_dereg(void *arg, struct uhmm_rcache_region *r)
{
	struct uhmm_rcache_soft *s = arg;
	struct soft_reg *e;

	pthread_rwlock_wrlock(&s->lock);
	e = unlink_key(s, r->key);
	if (e) {
		s->st.live--;
		s->st.deregs++;
	} else {
		s->st.bad_deregs++;
	}
	pthread_rwlock_unlock(&s->lock);
	free(e);
}

const struct uhmm_rcache_ops uhmm_rcache_soft_ops = {
	.reg = soft_reg,
	.dereg = soft_dereg,
};

bool uhmm_rcache_soft_live(struct uhmm_rcache_soft *s, uint64_t key)
{
	bool live;

	pthread_rwlock_rdlock(&s->lock);
	live = uhmm__soft_find(s, key) != NULL;
	pthread_rwlock_unlock(&s->lock);
	return live;
}

uint64_t uhmm_rcache_soft_next_key(struct uhmm_rcache_soft *s)
{
	uint64_t k;

	pthread_rwlock_rdlock(&s->lock);
	k = s->next_key;
	pthread_rwlock_unlock(&s->lock);
	return k;
}

void uhmm_rcache_soft_stats(struct uhmm_rcache_soft *s,
			    struct uhmm_rcache_soft_stats *out)
{
	pthread_rwlock_rdlock(&s->lock);
	*out = s->st;
	pthread_rwlock_unlock(&s->lock);
}
