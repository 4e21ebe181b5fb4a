/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_reclaim.c - where invalidated registrations go when nobody
 * calls the cache: the background reclaimer deregisters them, and without
 * it they wait on a list that never outgrows the regions ever cached,
 * however many changes happen meanwhile.
 */
#include <fcntl.h>

#include "test_rcache_util.h"

#define NBUF 8

/* The reclaimer deregisters invalidated regions with no cache call. */
static void reclaimer_deregisters_without_calls(void **state)
{
	struct uhmm_rcache_params params = {
		.flags = UHMM_RCACHE_RECLAIMER,
	};
	struct harness_watchdog w;
	struct rc_env e;
	char *p = map_pages(2 * NBUF);
	int i;

	rc_env_start(&e, &params);
	for (i = 0; i < NBUF; i++)
		(void)rc_key(&e, p + 2 * i * ps(), ps(), UHMM_RCACHE_READ);
	assert_int_equal(rc_soft(&e).live, NBUF);
	harness_watchdog_start(&w, 60, "reclaimer never deregistered");
	assert_int_equal(munmap(p, 2 * NBUF * ps()), 0);
	/* Bounded by the watchdog: without a reclaimer this never ends. */
	while (rc_soft(&e).live)
		usleep(1000);
	harness_watchdog_stop(&w);
	assert_int_equal(ld(&e.deregs), NBUF);
	assert_int_equal(rc_stats(&e).pending_regions, 0);
	assert_int_equal(ld(&e.bad_context), 0);
	rc_env_stop(&e);
}

/* Resident set size, in bytes. */
static long rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * (long)ps();
}

/*
 * Give a registered buffer back and take a new one of the same size, as
 * an application's allocator does: free()/malloc() where capture sees
 * free() (glibc's allocator), else munmap()/mmap().  Both land on the old
 * address, which the stale region's subscription still covers, so every
 * round runs the cache's callback.
 */
static char *renew(char *p, size_t len)
{
	if (TEST_FREE_CAPTURED) {
		free(p);
		p = malloc(len);
	} else {
		munmap(p, len);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		p = p == MAP_FAILED ? NULL : p;
	}
	assert_non_null(p);
	return p;
}

static char *take(size_t len)
{
	char *p = TEST_FREE_CAPTURED ? malloc(len) : map_pages(len / ps());

	assert_non_null(p);
	return p;
}

static void give_back(char *p, size_t len)
{
	if (TEST_FREE_CAPTURED)
		free(p);
	else
		munmap(p, len);
}

/*
 * 10^6 rounds of frees and allocations over registered buffers, with no
 * cache call in between: invalidation allocates nothing, so the pending
 * list holds at most the regions ever cached and memory does not grow
 * with the number of changes.
 */
static void pending_bounded_without_calls(void **state)
{
	unsigned long rounds = harness_rounds(1000000), i;
	size_t len = 256 << 10;
	struct rc_env e;
	char *buf[NBUF];
	long rss0, growth;
	int j;

	/* glibc's threshold, so free() of a buffer is an munmap; sanitizer
	 * builds use mmap/munmap directly (renew()) and have no mallopt. */
	if (TEST_FREE_CAPTURED)
		assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
	rc_env_start(&e, NULL);
	for (j = 0; j < NBUF; j++) {
		buf[j] = take(len);
		(void)rc_key(&e, buf[j], len, UHMM_RCACHE_READ);
	}
	for (i = 0; i < 1000 && i < rounds; i++)	/* settle the heap */
		buf[i % NBUF] = renew(buf[i % NBUF], len);
	rss0 = rss_bytes();
	for (; i < rounds; i++)
		buf[i % NBUF] = renew(buf[i % NBUF], len);
	growth = rss_bytes() - rss0;
	assert_int_equal(rc_stats(&e).invalidations, NBUF);
	assert_true(rc_stats(&e).pending_regions <= NBUF);
	assert_int_equal(rc_stats(&e).registrations, NBUF);
	assert_int_equal(rc_soft(&e).live, NBUF);
	/* 16 bytes a round would be a leak per change; allow a quarter. */
	if (growth > (long)(4 * rounds) && growth > (1L << 20))
		fail_msg("RSS grew by %ld bytes over %lu rounds", growth,
			 rounds);
	for (j = 0; j < NBUF; j++)
		give_back(buf[j], len);
	rc_env_stop(&e);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reclaimer_deregisters_without_calls),
		cmocka_unit_test(pending_bounded_without_calls),
	};

	return HARNESS_MAIN(tests);
}
