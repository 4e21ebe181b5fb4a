/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_inval.c - a change to registered memory invalidates its
 * region: the next get is a miss with a new registration; a held region
 * stays usable until put; deregistration happens later, never inside the
 * callback nor under the cache lock.
 */
#include "test_rcache_util.h"

/* Register [p, p + n pages), change it with @change, expect a new key. */
static void expect_new_key_after(void (*change)(char *p, size_t len))
{
	struct rc_env e;
	size_t len = 4 * ps();
	char *p = map_pages(4);
	uint64_t k1, k2;

	rc_env_start(&e, NULL);
	k1 = rc_key(&e, p, len, UHMM_RCACHE_READ);
	assert_int_equal(rc_key(&e, p, len, UHMM_RCACHE_READ), k1);
	change(p, len);
	assert_int_equal(rc_stats(&e).invalidations, 1);
	assert_int_equal(rc_stats(&e).pending_regions, 1);
	k2 = rc_key(&e, p, len, UHMM_RCACHE_READ);
	assert_true(k2 > k1);
	assert_false(uhmm_rcache_soft_live(e.soft, k1));
	assert_int_equal(rc_stats(&e).misses, 2);
	assert_int_equal(rc_stats(&e).pending_regions, 0);
	rc_env_stop(&e);
	munmap(p, len);
}

static void remap(char *p, size_t len)
{
	assert_int_equal(munmap(p, len), 0);
	assert_ptr_equal(mmap(p, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
			 p);
}

static void discard(char *p, size_t len)
{
	assert_int_equal(madvise(p + ps(), ps(), MADV_DONTNEED), 0);
}

static void protect_and_back(char *p, size_t len)
{
	assert_int_equal(mprotect(p + len - ps(), ps(), PROT_READ), 0);
	assert_int_equal(mprotect(p + len - ps(), ps(),
				  PROT_READ | PROT_WRITE), 0);
}

static void fixed_mmap_over(char *p, size_t len)
{
	assert_ptr_equal(mmap(p + ps(), ps(), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
			 p + ps());
}

static void munmap_invalidates(void **state)
{
	expect_new_key_after(remap);
}

static void madvise_dontneed_invalidates(void **state)
{
	expect_new_key_after(discard);
}

static void mprotect_invalidates(void **state)
{
	expect_new_key_after(protect_and_back);
}

static void mmap_fixed_over_invalidates(void **state)
{
	expect_new_key_after(fixed_mmap_over);
}

/* A change reported after the fact (userfaultfd's way) works the same. */
static void after_event_invalidates(void **state)
{
	struct uhmm_notifier_range r;
	struct rc_env e;
	char *p = map_pages(2);
	uint64_t k1;

	rc_env_start(&e, NULL);
	k1 = rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ);
	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_AFTER,
				 uhmm_mm_current(), (unsigned long)p,
				 (unsigned long)p + ps());
	assert_int_equal(uhmm_invalidate(&r), 0);
	assert_int_equal(rc_stats(&e).invalidations, 1);
	assert_true(rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ) != k1);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

/*
 * free() of a large buffer unmaps it; malloc() of the same size maps new
 * memory, usually at the same address.  The cache must not hand out the
 * old registration for it.
 */
static void free_and_malloc_same_address(void **state)
{
	size_t len = 1 << 20;
	struct rc_env e;
	char *p, *q;
	uint64_t k1, k2;

	if (!TEST_FREE_CAPTURED)
		SKIP("this build's allocator unmaps with raw system calls "
		     "(sanitizer): free() is not captured");
	/* Large chunks are mmapped, and stay so after a free. */
	assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
	rc_env_start(&e, NULL);
	p = malloc(len);
	assert_non_null(p);
	memset(p, 1, len);
	k1 = rc_key(&e, p, len, UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	free(p);
	assert_int_equal(rc_stats(&e).invalidations, 1);
	q = malloc(len);
	assert_non_null(q);
	if (q != p)
		fprintf(stderr, "note: malloc returned another address\n");
	k2 = rc_key(&e, q, len, UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	assert_true(k2 > k1);
	assert_false(uhmm_rcache_soft_live(e.soft, k1));
	free(q);
	rc_env_stop(&e);
}

/*
 * A region held across an invalidation stays registered (the device may
 * be using it) and readable through its key until the holder puts it;
 * then it waits for the next cache call, which deregisters it.
 */
static void held_region_lives_until_put(void **state)
{
	struct rc_env e;
	char *p = map_pages(2), buf[64];
	struct uhmm_rcache_region *r;
	uint64_t k;

	rc_env_start(&e, NULL);
	r = rc_get(&e, p, 2 * ps(), UHMM_RCACHE_READ | UHMM_RCACHE_WRITE);
	k = r->key;
	assert_int_equal(madvise(p, ps(), MADV_DONTNEED), 0);
	assert_false(uhmm_rcache_region_valid(r));
	assert_int_equal(rc_stats(&e).pending_regions, 0);
	/* Not served again: the next get registers anew. */
	assert_true(rc_key(&e, p, ps(), UHMM_RCACHE_READ) != k);
	uhmm_rcache_reclaim(e.cache);
	assert_true(uhmm_rcache_soft_live(e.soft, k));
	memset(buf, 7, sizeof(buf));
	assert_int_equal(uhmm_rcache_soft_dma(e.soft, k, p + ps(), buf,
					      sizeof(buf),
					      UHMM_RCACHE_SOFT_DMA_WRITE), 0);
	assert_int_equal(p[ps()], 7);
	uhmm_rcache_put(e.cache, r);
	assert_int_equal(rc_stats(&e).pending_regions, 1);
	assert_true(uhmm_rcache_soft_live(e.soft, k));	/* not in put */
	uhmm_rcache_reclaim(e.cache);
	assert_false(uhmm_rcache_soft_live(e.soft, k));
	assert_int_equal(uhmm_rcache_soft_dma(e.soft, k, p + ps(), buf,
					      sizeof(buf),
					      UHMM_RCACHE_SOFT_DMA_READ),
			 -ENOENT);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

/* Invalidation only queues: ->dereg waits for a call into the cache. */
static void dereg_waits_for_a_cache_call(void **state)
{
	struct rc_env e;
	char *p = map_pages(8);
	int i;

	rc_env_start(&e, NULL);
	for (i = 0; i < 4; i++)
		(void)rc_key(&e, p + 2 * i * ps(), ps(), UHMM_RCACHE_READ);
	assert_int_equal(munmap(p, 8 * ps()), 0);
	assert_int_equal(rc_stats(&e).pending_regions, 4);
	assert_int_equal(rc_stats(&e).pending_bytes, 4 * ps());
	assert_int_equal(rc_soft(&e).live, 4);
	assert_int_equal(ld(&e.deregs), 0);
	uhmm_rcache_reclaim(e.cache);
	assert_int_equal(rc_soft(&e).live, 0);
	assert_int_equal(rc_stats(&e).deregistrations, 4);
	assert_int_equal(rc_stats(&e).pending_regions, 0);
	rc_env_stop(&e);
}

/*
 * ->reg and ->dereg run outside callbacks and without the cache lock: the
 * checked ops probe both on every call.  The canary is a page under a held
 * region: discarding it from inside an op runs the cache's callback, which
 * takes the cache lock.  Both change routes (munmap, madvise) and both
 * drains (a miss, reclaim) are exercised.
 */
static void ops_run_unlocked_outside_callbacks(void **state)
{
	struct harness_watchdog w;
	struct uhmm_rcache_region *canary;
	struct rc_env e;
	char *p = map_pages(8), *c = map_pages(1);

	harness_watchdog_start(&w, 60, "ops under the cache lock");
	rc_env_start(&e, NULL);
	canary = rc_get(&e, c, ps(), UHMM_RCACHE_READ);
	e.canary = c;
	(void)rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ);
	(void)rc_key(&e, p + 4 * ps(), 2 * ps(), UHMM_RCACHE_READ);
	assert_int_equal(munmap(p, 2 * ps()), 0);
	assert_int_equal(madvise(p + 4 * ps(), ps(), MADV_DONTNEED), 0);
	(void)rc_key(&e, p + 4 * ps(), ps(), UHMM_RCACHE_READ);
	assert_int_equal(munmap(p + 4 * ps(), 4 * ps()), 0);
	uhmm_rcache_reclaim(e.cache);
	assert_true(ld(&e.deregs) >= 3);
	assert_int_equal(ld(&e.bad_context), 0);
	e.canary = NULL;
	uhmm_rcache_put(e.cache, canary);
	rc_env_stop(&e);
	harness_watchdog_stop(&w);
	munmap(c, ps());
}

/* Teardown of the address space invalidates everything; gets then fail. */
static void teardown_invalidates_everything(void **state)
{
	struct uhmm_rcache_params params = { .ops = &rc_checked_ops };
	struct uhmm_rcache_region *r = NULL;
	struct uhmm_mm *mm = mm_new();
	struct rc_env e;
	char *p = map_pages(2);

	memset(&e, 0, sizeof(e));
	assert_int_equal(uhmm_rcache_soft_create(&e.soft), 0);
	params.arg = &e;
	assert_int_equal(uhmm_rcache_create(mm, &params, &e.cache), 0);
	(void)rc_key(&e, p, 2 * ps(), UHMM_RCACHE_READ);
	uhmm_mm_put(mm);
	assert_int_equal(rc_stats(&e).invalidations, 1);
	assert_int_equal(uhmm_rcache_get(e.cache, p, ps(), UHMM_RCACHE_READ,
					 &r), -ESRCH);
	assert_null(r);
	rc_env_stop(&e);
	munmap(p, 2 * ps());
}

/*
 * A region's bookkeeping is reused once it is deregistered, and each
 * thread remembers the regions it got last (consumers/rcache/cache_tlb.h).
 * Here this thread got a region for p, which was then invalidated; a
 * helper thread makes the cache reuse that very region for another range
 * and holds it, live.  A get for p must not be served by what this thread
 * remembered: the region at that address is another range now.
 */
#define REUSE_PAGES	1024

struct reuser {
	struct rc_env *e;
	char *q;
	const struct uhmm_rcache_region *old;
	struct uhmm_rcache_region *held[REUSE_PAGES];
	int n, found;
};

static void *reuse_until_found(void *arg)
{
	struct reuser *u = arg;
	struct uhmm_rcache_region *r;

	u->found = -1;
	for (u->n = 0; u->n < REUSE_PAGES && u->found < 0; u->n++) {
		/* Held, so the free list yields its next region each time. */
		if (uhmm_rcache_get(u->e->cache, u->q + u->n * ps(), ps(),
				    UHMM_RCACHE_READ, &r))
			abort();
		u->held[u->n] = r;
		if (r == u->old)
			u->found = u->n;
		else
			usleep(5000);	/* a grace period frees the old one:
					 * up to ~5 s, for a loaded TSan run */
	}
	return NULL;
}

static void reused_region_is_not_served_for_its_old_range(void **state)
{
	struct rc_env e;
	char *p = map_pages(1), *q = map_pages(REUSE_PAGES + 1);
	struct uhmm_rcache_region *r;
	struct reuser u = { .e = &e, .q = q };
	pthread_t t;
	int i;

	rc_env_start(&e, NULL);
	u.old = rc_get(&e, p, ps(), UHMM_RCACHE_READ);
	uhmm_rcache_put(e.cache, (struct uhmm_rcache_region *)u.old);
	(void)rc_key(&e, p, ps(), UHMM_RCACHE_READ);	/* remembered */
	assert_int_equal(uhmm_rcache_invalidate(e.cache, p, ps()), 0);
	uhmm_rcache_reclaim(e.cache);
	assert_int_equal(pthread_create(&t, NULL, reuse_until_found, &u), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (u.found < 0)
		fail_msg("the cache never reused the invalidated region");
	r = rc_get(&e, p, ps(), UHMM_RCACHE_READ);	/* checks the range */
	assert_ptr_not_equal(r, u.held[u.found]);
	assert_int_equal(rc_stats(&e).misses, 2 + u.n);
	uhmm_rcache_put(e.cache, r);
	for (i = 0; i < u.n; i++)
		uhmm_rcache_put(e.cache, u.held[i]);
	rc_env_stop(&e);
	munmap(p, ps());
	munmap(q, (REUSE_PAGES + 1) * ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(munmap_invalidates),
		cmocka_unit_test(madvise_dontneed_invalidates),
		cmocka_unit_test(mprotect_invalidates),
		cmocka_unit_test(mmap_fixed_over_invalidates),
		cmocka_unit_test(after_event_invalidates),
		cmocka_unit_test(free_and_malloc_same_address),
		cmocka_unit_test(held_region_lives_until_put),
		cmocka_unit_test(reused_region_is_not_served_for_its_old_range),
		cmocka_unit_test(dereg_waits_for_a_cache_call),
		cmocka_unit_test(ops_run_unlocked_outside_callbacks),
		cmocka_unit_test(teardown_invalidates_everything),
	};

	return HARNESS_MAIN(tests);
}
