/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_limits.c - max_regions and max_bytes: idle regions are
 * evicted least recently used first, held ones never; when held regions
 * alone fill a limit, get fails with -ENOSPC.
 */
#include "test_rcache_util.h"

/* Four one-page buffers with a gap between them (no merging). */
static char *four_buffers(void)
{
	return map_pages(8);
}

static char *buf_at(char *m, int i)
{
	return m + 2 * i * ps();
}

static void lru_victim_under_max_regions(void **state)
{
	struct uhmm_rcache_params params = { .max_regions = 3 };
	struct rc_env e;
	char *m = four_buffers();
	uint64_t k[4];
	int i;

	rc_env_start(&e, &params);
	for (i = 0; i < 3; i++)
		k[i] = rc_key(&e, buf_at(m, i), ps(), UHMM_RCACHE_READ);
	/* A is the oldest but used since: B is least recently used. */
	assert_int_equal(rc_key(&e, buf_at(m, 0), ps(), UHMM_RCACHE_READ),
			 k[0]);
	k[3] = rc_key(&e, buf_at(m, 3), ps(), UHMM_RCACHE_READ);
	assert_int_equal(rc_stats(&e).evictions, 1);
	assert_false(uhmm_rcache_soft_live(e.soft, k[1]));
	assert_true(uhmm_rcache_soft_live(e.soft, k[0]));
	assert_true(uhmm_rcache_soft_live(e.soft, k[2]));
	assert_int_equal(rc_soft(&e).live, 3);
	assert_int_equal(rc_stats(&e).regions, 3);
	assert_int_equal(rc_key(&e, buf_at(m, 2), ps(), UHMM_RCACHE_READ),
			 k[2]);
	assert_int_equal(rc_key(&e, buf_at(m, 3), ps(), UHMM_RCACHE_READ),
			 k[3]);
	rc_env_stop(&e);
	munmap(m, 8 * ps());
}

/* The oldest region is held: the next oldest idle one goes instead. */
static void held_region_never_evicted(void **state)
{
	struct uhmm_rcache_params params = { .max_regions = 3 };
	struct uhmm_rcache_region *a;
	struct rc_env e;
	char *m = four_buffers();
	uint64_t kb;

	rc_env_start(&e, &params);
	a = rc_get(&e, buf_at(m, 0), ps(), UHMM_RCACHE_READ);
	kb = rc_key(&e, buf_at(m, 1), ps(), UHMM_RCACHE_READ);
	(void)rc_key(&e, buf_at(m, 2), ps(), UHMM_RCACHE_READ);
	(void)rc_key(&e, buf_at(m, 3), ps(), UHMM_RCACHE_READ);
	assert_true(uhmm_rcache_soft_live(e.soft, a->key));
	assert_true(uhmm_rcache_region_valid(a));
	assert_false(uhmm_rcache_soft_live(e.soft, kb));
	assert_int_equal(rc_stats(&e).evictions, 1);
	uhmm_rcache_put(e.cache, a);
	rc_env_stop(&e);
	munmap(m, 8 * ps());
}

/* Held regions fill max_regions: -ENOSPC, until one is put. */
static void enospc_when_held_fill_max_regions(void **state)
{
	struct uhmm_rcache_params params = { .max_regions = 2 };
	struct uhmm_rcache_region *a, *b, *r = NULL;
	struct rc_env e;
	char *m = four_buffers();

	rc_env_start(&e, &params);
	a = rc_get(&e, buf_at(m, 0), ps(), UHMM_RCACHE_READ);
	b = rc_get(&e, buf_at(m, 1), ps(), UHMM_RCACHE_READ);
	assert_int_equal(uhmm_rcache_get(e.cache, buf_at(m, 2), ps(),
					 UHMM_RCACHE_READ, &r), -ENOSPC);
	assert_null(r);
	assert_int_equal(rc_soft(&e).live, 2);
	/* Invalidated but held still counts. */
	assert_int_equal(madvise(buf_at(m, 0), ps(), MADV_DONTNEED), 0);
	assert_int_equal(uhmm_rcache_get(e.cache, buf_at(m, 2), ps(),
					 UHMM_RCACHE_READ, &r), -ENOSPC);
	uhmm_rcache_put(e.cache, a);
	r = rc_get(&e, buf_at(m, 2), ps(), UHMM_RCACHE_READ);
	assert_int_equal(rc_soft(&e).live, 2);
	uhmm_rcache_put(e.cache, r);
	uhmm_rcache_put(e.cache, b);
	rc_env_stop(&e);
	munmap(m, 8 * ps());
}

/* max_bytes: idle regions go, oldest first, until the new one fits. */
static void lru_victims_under_max_bytes(void **state)
{
	struct uhmm_rcache_params params = { .max_bytes = 4 * ps() };
	struct rc_env e;
	char *m = map_pages(12);
	uint64_t ka, kb, kc;

	rc_env_start(&e, &params);
	ka = rc_key(&e, m, 2 * ps(), UHMM_RCACHE_READ);
	kb = rc_key(&e, m + 3 * ps(), 2 * ps(), UHMM_RCACHE_READ);
	kc = rc_key(&e, m + 6 * ps(), ps(), UHMM_RCACHE_READ);	/* evicts A */
	assert_false(uhmm_rcache_soft_live(e.soft, ka));
	assert_true(uhmm_rcache_soft_live(e.soft, kb));
	assert_int_equal(rc_stats(&e).bytes, 3 * ps());
	/* 3 + 3 pages: B (older) goes, C (1 page) fits beside the new. */
	(void)rc_key(&e, m + 8 * ps(), 3 * ps(), UHMM_RCACHE_READ);
	assert_false(uhmm_rcache_soft_live(e.soft, kb));
	assert_true(uhmm_rcache_soft_live(e.soft, kc));
	assert_int_equal(rc_stats(&e).evictions, 2);
	assert_int_equal(rc_stats(&e).bytes, 4 * ps());
	rc_env_stop(&e);
	munmap(m, 12 * ps());
}

static void enospc_under_max_bytes(void **state)
{
	struct uhmm_rcache_params params = { .max_bytes = 4 * ps() };
	struct uhmm_rcache_region *a, *r = NULL;
	struct rc_env e;
	char *m = map_pages(12);

	rc_env_start(&e, &params);
	/* Larger than the limit: never, even with nothing cached. */
	assert_int_equal(uhmm_rcache_get(e.cache, m, 5 * ps(),
					 UHMM_RCACHE_READ, &r), -ENOSPC);
	a = rc_get(&e, m, 3 * ps(), UHMM_RCACHE_READ);
	assert_int_equal(uhmm_rcache_get(e.cache, m + 4 * ps(), 2 * ps(),
					 UHMM_RCACHE_READ, &r), -ENOSPC);
	assert_null(r);
	assert_int_equal(rc_soft(&e).regs, 1);
	r = rc_get(&e, m + 4 * ps(), ps(), UHMM_RCACHE_READ);
	uhmm_rcache_put(e.cache, r);
	uhmm_rcache_put(e.cache, a);
	rc_env_stop(&e);
	munmap(m, 12 * ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lru_victim_under_max_regions),
		cmocka_unit_test(held_region_never_evicted),
		cmocka_unit_test(enospc_when_held_fill_max_regions),
		cmocka_unit_test(lru_victims_under_max_bytes),
		cmocka_unit_test(enospc_under_max_bytes),
	};

	return HARNESS_MAIN(tests);
}
