/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_basic.c - the registration cache's lookups: hits and misses,
 * covering requests, merging, access, explicit invalidation, bad input.
 */
#include "test_rcache_util.h"

/* A second get of the same range is a hit on the same registration. */
static void repeat_get_hits(void **state)
{
	struct rc_env e;
	char *p = map_pages(4);
	struct uhmm_rcache_region *r1, *r2;

	rc_env_start(&e, NULL);
	r1 = rc_get(&e, p + 10, 3 * ps(), UHMM_RCACHE_READ);
	assert_int_equal(r1->start, (unsigned long)p);
	assert_int_equal(r1->end, (unsigned long)p + 4 * ps());
	assert_int_equal(r1->access, UHMM_RCACHE_READ);
	r2 = rc_get(&e, p + 10, 3 * ps(), UHMM_RCACHE_READ);
	assert_ptr_equal(r1, r2);
	assert_int_equal(rc_stats(&e).hits, 1);
	assert_int_equal(rc_stats(&e).misses, 1);
	assert_int_equal(rc_stats(&e).registrations, 1);
	assert_int_equal(rc_stats(&e).regions, 1);
	assert_int_equal(rc_stats(&e).bytes, 4 * ps());
	assert_int_equal(rc_soft(&e).live, 1);
	assert_true(uhmm_rcache_region_valid(r1));
	uhmm_rcache_put(e.cache, r1);
	uhmm_rcache_put(e.cache, r2);
	rc_env_stop(&e);
	munmap(p, 4 * ps());
}

/*
 * Hits are counted in shards a thread owns (32) and, past them, shared
 * ones: more threads hitting at once than there are owned shards (so some
 * share), in rounds (so shards are given back at thread exit and owned
 * again), must all be counted, none lost.
 */
#define HIT_THREADS	40
#define HIT_ROUNDS	2
#define HITS_EACH	5000

struct hitter {
	struct rc_env *e;
	char *p;
};

static void *hit_many(void *arg)
{
	struct hitter *h = arg;
	struct uhmm_rcache_region *r;
	int i;

	for (i = 0; i < HITS_EACH; i++) {
		if (uhmm_rcache_get(h->e->cache, h->p, ps(), UHMM_RCACHE_READ,
				    &r))
			abort();	/* a miss would be counted below */
		uhmm_rcache_put(h->e->cache, r);
	}
	return NULL;
}

static void hits_from_many_threads_all_counted(void **state)
{
	struct hitter h[HIT_THREADS];
	pthread_t t[HIT_THREADS];
	struct rc_env e;
	char *p = map_pages(HIT_THREADS);
	int i, round;

	rc_env_start(&e, NULL);
	for (i = 0; i < HIT_THREADS; i++) {
		h[i] = (struct hitter){ &e, p + i * ps() };
		uhmm_rcache_put(e.cache, rc_get(&e, h[i].p, ps(),
						UHMM_RCACHE_READ));
	}
	for (round = 0; round < HIT_ROUNDS; round++) {
		for (i = 0; i < HIT_THREADS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, hit_many,
							&h[i]), 0);
		for (i = 0; i < HIT_THREADS; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
	}
	assert_int_equal(rc_stats(&e).misses, HIT_THREADS);
	assert_int_equal(rc_stats(&e).hits,
			 (uint64_t)HIT_THREADS * HIT_ROUNDS * HITS_EACH);
	rc_env_stop(&e);
	munmap(p, HIT_THREADS * ps());
}

/* A request inside a cached region, with less access, is a hit. */
static void covered_request_hits(void **state)
{
	struct rc_env e;
	char *p = map_pages(8);
	uint64_t k;

	rc_env_start(&e, NULL);
	k = rc_key(&e, p, 8 * ps(), UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	assert_int_equal(rc_key(&e, p + 3 * ps() + 1, 100, UHMM_RCACHE_WRITE),
			 k);
	assert_int_equal(rc_key(&e, p + 7 * ps(), ps(), UHMM_RCACHE_READ), k);
	assert_int_equal(rc_stats(&e).hits, 2);
	assert_int_equal(rc_stats(&e).misses, 1);
	assert_int_equal(rc_soft(&e).regs, 1);
	rc_env_stop(&e);
	munmap(p, 8 * ps());
}

/* Overlapping requests of compatible access become one registration
 * over their union; the old one goes once idle. */
static void overlapping_requests_merge(void **state)
{
	struct rc_env e;
	char *p = map_pages(8);
	struct uhmm_rcache_region *r;
	uint64_t k1, k2;

	rc_env_start(&e, NULL);
	k1 = rc_key(&e, p, 4 * ps(), UHMM_RCACHE_READ);
	r = rc_get(&e, p + 2 * ps(), 6 * ps(), UHMM_RCACHE_READ);
	assert_int_equal(r->start, (unsigned long)p);
	assert_int_equal(r->end, (unsigned long)p + 8 * ps());
	k2 = r->key;
	assert_true(k2 != k1);
	assert_int_equal(rc_stats(&e).merges, 1);
	uhmm_rcache_put(e.cache, r);
	/* The first registration is dropped at the next call. */
	uhmm_rcache_reclaim(e.cache);
	assert_false(uhmm_rcache_soft_live(e.soft, k1));
	assert_int_equal(rc_soft(&e).live, 1);
	assert_int_equal(rc_key(&e, p, ps(), UHMM_RCACHE_READ), k2);
	rc_env_stop(&e);
	munmap(p, 8 * ps());
}

/* Read then read-write over the same pages: the default merge folds the
 * read-only region into a read-write one (one includes the other). */
static void wider_access_merges(void **state)
{
	struct rc_env e;
	char *p = map_pages(2);
	struct uhmm_rcache_region *r;
	uint64_t k1, k2;

	rc_env_start(&e, NULL);
	k1 = rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ);
	r = rc_get(&e, p, ps(), UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	k2 = r->key;
	assert_true(k2 != k1);
	assert_int_equal(r->end, (unsigned long)p + 2 * ps());
	assert_int_equal(r->access, UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	uhmm_rcache_put(e.cache, r);
	assert_int_equal(rc_key(&e, p + ps(), ps(), UHMM_RCACHE_READ), k2);
	assert_int_equal(rc_stats(&e).merges, 1);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

/* READ and WRITE alone do not include each other: separate regions over
 * the same pages, each serving its own access. */
static void incompatible_access_registers_separately(void **state)
{
	struct rc_env e;
	char *p = map_pages(2);
	uint64_t kr, kw;

	rc_env_start(&e, NULL);
	kr = rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ);
	kw = rc_key(&e, p, ps(), UHMM_RCACHE_WRITE);
	assert_true(kr != kw);
	assert_int_equal(rc_soft(&e).live, 2);
	assert_int_equal(rc_stats(&e).merges, 0);
	assert_int_equal(rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ), kr);
	assert_int_equal(rc_key(&e, p, ps(), UHMM_RCACHE_WRITE), kw);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

static int merge_calls;

static bool never_merge(void *arg, const struct uhmm_rcache_region *old,
			unsigned long start, unsigned long end,
			unsigned int access)
{
	inc(&merge_calls);
	return false;
}

static struct uhmm_rcache_ops refusing_ops;

/* A backend's ->merge decides: refused, overlapping requests stay apart. */
static void merge_callback_is_obeyed(void **state)
{
	struct uhmm_rcache_params p = { .ops = &refusing_ops };
	struct rc_env e;
	char *m = map_pages(4);
	uint64_t k1, k2;

	refusing_ops = rc_checked_ops;
	refusing_ops.merge = never_merge;
	rc_env_start(&e, &p);
	k1 = rc_key(&e, m, 2 * ps(), UHMM_RCACHE_READ);
	k2 = rc_key(&e, m + ps(), 3 * ps(), UHMM_RCACHE_READ);
	assert_true(k1 != k2);
	assert_true(ld(&merge_calls) > 0);
	assert_int_equal(rc_soft(&e).live, 2);
	assert_int_equal(rc_key(&e, m, 2 * ps(), UHMM_RCACHE_READ), k1);
	assert_int_equal(rc_key(&e, m + 2 * ps(), 2 * ps(), UHMM_RCACHE_READ),
			 k2);
	rc_env_stop(&e);
	munmap(m, 4 * ps());
}

/* uhmm_rcache_invalidate: dropped now (idle), a miss next time. */
static void explicit_invalidate_drops(void **state)
{
	struct rc_env e;
	char *p = map_pages(4);
	uint64_t k1, k2;

	rc_env_start(&e, NULL);
	k1 = rc_key(&e, p, 4 * ps(), UHMM_RCACHE_READ);
	assert_int_equal(uhmm_rcache_invalidate(e.cache, p + ps(), 1), 0);
	assert_false(uhmm_rcache_soft_live(e.soft, k1));
	assert_int_equal(rc_stats(&e).invalidations, 1);
	k2 = rc_key(&e, p, 4 * ps(), UHMM_RCACHE_READ);
	assert_true(k2 != k1);
	assert_int_equal(rc_stats(&e).misses, 2);
	/* A range next to it touches nothing. */
	assert_int_equal(uhmm_rcache_invalidate(e.cache, p + 4 * ps(), ps()),
			 0);
	assert_true(uhmm_rcache_soft_live(e.soft, k2));
	rc_env_stop(&e);
	munmap(p, 4 * ps());
}

/* Past max_pending_bytes a hit deregisters what is pending; below, a hit
 * never does (it would not be lock- and system-call-free). */
static void hit_drains_only_over_threshold(void **state)
{
	struct uhmm_rcache_params params = { .max_pending_bytes = 2 * ps() };
	struct rc_env e;
	char *p = map_pages(8);
	uint64_t ka, kb, kc;

	rc_env_start(&e, &params);
	ka = rc_key(&e, p, ps(), UHMM_RCACHE_READ);
	kb = rc_key(&e, p + 2 * ps(), 2 * ps(), UHMM_RCACHE_READ);
	kc = rc_key(&e, p + 6 * ps(), ps(), UHMM_RCACHE_READ);
	madvise(p, ps(), MADV_DONTNEED);
	assert_int_equal(rc_stats(&e).pending_bytes, ps());
	assert_int_equal(rc_key(&e, p + 6 * ps(), ps(), UHMM_RCACHE_READ), kc);
	assert_true(uhmm_rcache_soft_live(e.soft, ka));	/* 1 page <= 2 */
	madvise(p + 2 * ps(), 2 * ps(), MADV_DONTNEED);
	assert_int_equal(rc_key(&e, p + 6 * ps(), ps(), UHMM_RCACHE_READ), kc);
	assert_false(uhmm_rcache_soft_live(e.soft, ka));	/* 3 pages > 2 */
	assert_false(uhmm_rcache_soft_live(e.soft, kb));
	assert_int_equal(rc_stats(&e).pending_regions, 0);
	assert_int_equal(rc_stats(&e).misses, 3);
	rc_env_stop(&e);
	munmap(p, 8 * ps());
}

static void bad_input_einval(void **state)
{
	struct uhmm_rcache_params bad = { .ops = &rc_checked_ops };
	struct uhmm_rcache_ops no_dereg = { .reg = rc_checked_ops.reg };
	struct uhmm_rcache_region *r = NULL;
	struct uhmm_rcache *c = NULL;
	struct rc_env e;
	char *p = map_pages(1);

	assert_int_equal(uhmm_rcache_create(NULL, NULL, &c), -EINVAL);
	assert_int_equal(uhmm_rcache_create(NULL, &bad, NULL), -EINVAL);
	bad.flags = 1u << 7;
	assert_int_equal(uhmm_rcache_create(NULL, &bad, &c), -EINVAL);
	bad.flags = 0;
	bad.ops = &no_dereg;
	assert_int_equal(uhmm_rcache_create(NULL, &bad, &c), -EINVAL);
	assert_null(c);
	rc_env_start(&e, NULL);
	assert_int_equal(uhmm_rcache_get(NULL, p, 1, UHMM_RCACHE_READ, &r),
			 -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, NULL, 1, UHMM_RCACHE_READ,
					 &r), -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, p, 0, UHMM_RCACHE_READ, &r),
			 -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, p, 1, 0, &r), -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, p, 1, 1u << 5, &r), -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, p, 1, UHMM_RCACHE_READ,
					 NULL), -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, (void *)(~0UL - 10), 100,
					 UHMM_RCACHE_READ, &r), -EINVAL);
	assert_int_equal(uhmm_rcache_get(e.cache, (void *)(~0UL - 10), 5,
					 UHMM_RCACHE_READ, &r), -EINVAL);
	assert_int_equal(uhmm_rcache_invalidate(e.cache, p, 0), -EINVAL);
	assert_int_equal(uhmm_rcache_invalidate(NULL, p, 1), -EINVAL);
	assert_null(r);
	assert_int_equal(rc_soft(&e).regs, 0);
	rc_env_stop(&e);
	munmap(p, ps());
}

/* ->reg's error reaches the caller and nothing is cached. */
static void reg_error_is_returned(void **state)
{
	struct uhmm_rcache_region *r = NULL;
	struct rc_env e;
	char *p = map_pages(2);

	rc_env_start(&e, NULL);
	assert_int_equal(mprotect(p, 2 * ps(), PROT_READ), 0);
	assert_int_equal(uhmm_rcache_get(e.cache, p, ps(), UHMM_RCACHE_WRITE,
					 &r), -EPERM);
	assert_null(r);
	assert_int_equal(rc_stats(&e).reg_failures, 1);
	assert_int_equal(rc_stats(&e).regions, 0);
	assert_int_equal(rc_key(&e, p, ps(), UHMM_RCACHE_READ) > 0, 1);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repeat_get_hits),
		cmocka_unit_test(covered_request_hits),
		cmocka_unit_test(hits_from_many_threads_all_counted),
		cmocka_unit_test(overlapping_requests_merge),
		cmocka_unit_test(wider_access_merges),
		cmocka_unit_test(incompatible_access_registers_separately),
		cmocka_unit_test(merge_callback_is_obeyed),
		cmocka_unit_test(explicit_invalidate_drops),
		cmocka_unit_test(hit_drains_only_over_threshold),
		cmocka_unit_test(bad_input_einval),
		cmocka_unit_test(reg_error_is_returned),
	};

	return HARNESS_MAIN(tests);
}
