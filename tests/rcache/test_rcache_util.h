/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_util.h - what the registration cache's tests share: a cache
 * over the software DMA device whose ops check the cache's promises about
 * them, and small helpers.
 *
 * The checked ops wrap the soft device's.  On every ->reg and ->dereg they
 * check the call is not inside a uhmm callback (an interval insert, which
 * the core refuses with -EDEADLK there) and, when a canary is armed, that
 * the cache lock is not held: they discard a page a cache region covers,
 * whose callback takes the cache lock (debug builds abort on the named
 * owner lock; others would hang, which the watchdog reports).
 */
#ifndef UHMM_TEST_RCACHE_UTIL_H
#define UHMM_TEST_RCACHE_UTIL_H

#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>

#include "harness.h"
#include "util.h"
#include <uhmm/rcache.h>
#include <uhmm/rcache_soft.h>

/* Sanitizer allocators unmap large chunks with raw system calls that
 * capture cannot see: free() invalidates only with glibc's allocator. */
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_TSAN)
#define TEST_FREE_CAPTURED 0
#else
#define TEST_FREE_CAPTURED 1
#endif

struct rc_env {
	struct uhmm_rcache_soft *soft;
	struct uhmm_rcache *cache;
	struct uhmm_rcache_params params;
	int bad_context;		/* atomic: ops called in a callback */
	int regs, deregs;		/* atomic: ops calls */
	char *canary;			/* optional: a page a held region covers */
};

static inline unsigned long ps(void)
{
	return uhmm_page_size();
}

static bool rc_nop_invalidate(struct uhmm_interval_sub *sub,
			      const struct uhmm_notifier_range *r,
			      unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_interval_sub_ops rc_nop_ops = {
	.invalidate = rc_nop_invalidate,
};

/* The op's context: not inside a callback, cache lock not held. */
static void rc_check_context(struct rc_env *e)
{
	struct uhmm_interval_sub probe;
	int err = uhmm_interval_sub_insert(&probe, uhmm_mm_current(), 0, ps(),
					   &rc_nop_ops);

	if (err)
		inc(&e->bad_context);
	else if (uhmm_interval_sub_remove(&probe))
		inc(&e->bad_context);
	if (e->canary)
		madvise(e->canary, ps(), MADV_DONTNEED);
}

static int rc_checked_reg(void *arg, struct uhmm_rcache_region *r)
{
	struct rc_env *e = arg;

	rc_check_context(e);
	inc(&e->regs);
	return uhmm_rcache_soft_ops.reg(e->soft, r);
}

static void rc_checked_dereg(void *arg, struct uhmm_rcache_region *r)
{
	struct rc_env *e = arg;

	rc_check_context(e);
	inc(&e->deregs);
	uhmm_rcache_soft_ops.dereg(e->soft, r);
}

static const struct uhmm_rcache_ops rc_checked_ops = {
	.reg = rc_checked_reg,
	.dereg = rc_checked_dereg,
};

/* A cache with @params' limits and flags (ops and arg are filled in). */
static inline void rc_env_start(struct rc_env *e,
				const struct uhmm_rcache_params *params)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(uhmm_rcache_soft_create(&e->soft), 0);
	if (params)
		e->params = *params;
	if (!e->params.ops)
		e->params.ops = &rc_checked_ops;
	e->params.arg = e;
	assert_int_equal(uhmm_rcache_create(NULL, &e->params, &e->cache), 0);
}

static inline struct uhmm_rcache_soft_stats rc_soft(struct rc_env *e)
{
	struct uhmm_rcache_soft_stats s;

	uhmm_rcache_soft_stats(e->soft, &s);
	return s;
}

static inline struct uhmm_rcache_stats rc_stats(struct rc_env *e)
{
	struct uhmm_rcache_stats s;

	uhmm_rcache_stats(e->cache, &s);
	return s;
}

/* Destroy the cache: every registration must be gone, none twice, and no
 * op may have run in a callback. */
static inline void rc_env_stop(struct rc_env *e)
{
	uhmm_rcache_destroy(e->cache);
	assert_int_equal(rc_soft(e).live, 0);
	assert_int_equal(rc_soft(e).bad_deregs, 0);
	assert_int_equal(ld(&e->bad_context), 0);
	uhmm_rcache_soft_destroy(e->soft);
}

/* get that must succeed. */
static inline struct uhmm_rcache_region *rc_get(struct rc_env *e,
						const void *p, size_t len,
						unsigned int access)
{
	struct uhmm_rcache_region *r = NULL;

	assert_int_equal(uhmm_rcache_get(e->cache, p, len, access, &r), 0);
	assert_non_null(r);
	assert_true(r->start <= (unsigned long)p);
	assert_true((unsigned long)p + len <= r->end);
	return r;
}

/* get + put: the key of the registration serving [p, p + len). */
static inline uint64_t rc_key(struct rc_env *e, const void *p, size_t len,
			      unsigned int access)
{
	struct uhmm_rcache_region *r = rc_get(e, p, len, access);
	uint64_t key = r->key;

	uhmm_rcache_put(e->cache, r);
	return key;
}

#endif /* UHMM_TEST_RCACHE_UTIL_H */
