/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache_uhmm.c - uhmm-bench-rcache's cache: uhmm_rcache with the
 * trivial backend (bench_rcache.h), in a process linked with
 * libuhmm-interpose.so so capture announces every munmap, madvise, brk...
 * before the change, from the thread making it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <uhmm/rcache.h>

#include "bench_rcache.h"

static struct uhmm_rcache *cache;
static uint64_t nreg, ndereg;		/* atomic */

static int reg(void *arg, struct uhmm_rcache_region *r)
{
	(void)arg;
	r->key = r->start;	/* "registering" records the range */
	r->priv = NULL;
	__atomic_add_fetch(&nreg, 1, __ATOMIC_RELAXED);
	return 0;
}

static void dereg(void *arg, struct uhmm_rcache_region *r)
{
	(void)arg;
	(void)r;
	__atomic_add_fetch(&ndereg, 1, __ATOMIC_RELAXED);
}

static const struct uhmm_rcache_ops ops = {
	.reg = reg,
	.dereg = dereg,
};

int rbc_create(char *why, size_t len)
{
	/* No limits; pending regions deregistered at the next call. */
	struct uhmm_rcache_params p = { .ops = &ops };
	int ret = uhmm_rcache_create(NULL, &p, &cache);

	if (ret)
		snprintf(why, len, "uhmm_rcache_create: error %d", ret);
	return ret;
}

void rbc_describe(char *buf, size_t len)
{
	const char *mode = getenv("UHMM_CAPTURE");

	snprintf(buf, len, "uhmm capture (UHMM_CAPTURE=%s): libc's entries "
		 "patched, changes announced before they happen",
		 mode ? mode : "default");
}

int rbc_get(void *addr, size_t len, void **handle)
{
	struct uhmm_rcache_region *r;
	int ret = uhmm_rcache_get(cache, addr, len,
				  UHMM_RCACHE_READ | UHMM_RCACHE_WRITE, &r);

	*handle = ret ? NULL : r;
	return ret;
}

void rbc_put(void *handle)
{
	uhmm_rcache_put(cache, handle);
}

/* UCX's order is invalidate then put; the result is the same here. */
int rbc_drop(void *handle, void *addr, size_t len)
{
	uhmm_rcache_put(cache, handle);
	return uhmm_rcache_invalidate(cache, addr, len);
}

void rbc_counts(uint64_t *regs, uint64_t *deregs)
{
	*regs = __atomic_load_n(&nreg, __ATOMIC_RELAXED);
	*deregs = __atomic_load_n(&ndereg, __ATOMIC_RELAXED);
}

uint64_t rbc_pending(void)
{
	struct uhmm_rcache_stats s;

	uhmm_rcache_stats(cache, &s);
	return s.pending_regions;
}
