/* SPDX-License-Identifier: MIT */
/*
 * test_ifilter.c - the interval filter (src/ifilter.c) against a
 * brute-force model: it may say "maybe" wrongly (that costs the locked
 * path), never "nothing here" where a counted interval overlaps, and it
 * goes back to empty when every interval is taken out again; and it stays
 * precise enough to be worth having.
 */
#include <string.h>

#include "harness.h"
#include "internal.h"

#define N 2000

static struct { unsigned long start, last; bool in; } iv[N];
static struct uhmm__ifilter f;

static unsigned long rng_state = 0x2545f4914f6cdd1dUL;
static unsigned long rnd(void)
{
	return harness_rnd(&rng_state);
}

/* Sizes from a byte to 16 GiB, at any address below 2^47. */
static void random_range(unsigned long *start, unsigned long *last)
{
	unsigned long len = 1 + rnd() % (1UL << (rnd() % 35));

	*start = rnd() % (1UL << 47);
	*last = *start + len - 1;
}

static bool model_overlaps(unsigned long start, unsigned long last)
{
	int i;

	for (i = 0; i < N; i++)
		if (iv[i].in && iv[i].start <= last && iv[i].last >= start)
			return true;
	return false;
}

static void check_queries(int n, unsigned long near_page)
{
	unsigned long s, l, page = uhmm_page_size();
	int q;

	for (q = 0; q < n; q++) {
		if (q % 2) {
			random_range(&s, &l);
		} else {	/* small ranges next to an interval's ends */
			const int i = (int)(rnd() % N);

			s = (q % 4 ? iv[i].last + 1 : iv[i].start - near_page) +
			    rnd() % page;
			l = s + rnd() % (4 * page);
		}
		if (model_overlaps(s, l))
			assert_true(uhmm__ifilter_may_overlap(&f, s, l));
	}
}

static void filter_never_misses_an_overlap(void **state)
{
	unsigned long page = uhmm_page_size();
	int i, round;

	memset(&f, 0, sizeof(f));
	uhmm__ifilter_init(&f);
	for (i = 0; i < N; i++) {
		random_range(&iv[i].start, &iv[i].last);
		iv[i].in = false;
	}
	for (round = 0; round < 20; round++) {
		for (i = 0; i < N; i++) {
			if (rnd() % 2 == iv[i].in)
				continue;
			uhmm__ifilter_count(&f, iv[i].start, iv[i].last,
					    iv[i].in ? -1 : 1);
			iv[i].in = !iv[i].in;
		}
		check_queries(5000, page);
	}
	/* Taken out again: every count is back to zero. */
	for (i = 0; i < N; i++)
		if (iv[i].in)
			uhmm__ifilter_count(&f, iv[i].start, iv[i].last, -1);
	assert_int_equal(f.wide, 0);
	for (i = 0; i < UHMM__IFILTER_LEVELS; i++)
		assert_int_equal(f.at_level[i], 0);
	for (i = 0; i < (int)UHMM__IFILTER_SLOTS; i++)
		assert_int_equal(f.slot[i], 0);
	for (i = 0; i < N; i++)	/* so nothing small is "maybe" */
		assert_false(uhmm__ifilter_may_overlap(&f, iv[i].start,
						       iv[i].start + page - 1));
}

/*
 * The point of the filter: a small interval does not make the pages next
 * to it "maybe" (a munmap beside a registered buffer stays lock-free),
 * while a query wider than the filter looks at is always "maybe".
 */
static void filter_is_exact_for_neighbours_of_small_intervals(void **state)
{
	unsigned long page = uhmm_page_size();
	unsigned long base = 0x7f0000000000UL + 123 * page;
	unsigned long wide_start = 0x100000000000UL;

	memset(&f, 0, sizeof(f));
	uhmm__ifilter_init(&f);
	uhmm__ifilter_count(&f, base, base + 3 * page - 1, 1);
	assert_true(uhmm__ifilter_may_overlap(&f, base, base));
	assert_true(uhmm__ifilter_may_overlap(&f, base + 2 * page,
					      base + 3 * page - 1));
	assert_false(uhmm__ifilter_may_overlap(&f, base - page, base - 1));
	assert_false(uhmm__ifilter_may_overlap(&f, base + 3 * page,
					       base + 4 * page - 1));
	/* A query over more pages than the filter looks at: always maybe. */
	assert_true(uhmm__ifilter_may_overlap(&f, 0x1000UL * page,
					      0x1000UL * page + 64 * page));
	/* An interval wider than any granularity makes everything maybe. */
	uhmm__ifilter_count(&f, wide_start, wide_start + (64UL << 30) - 1, 1);
	assert_true(uhmm__ifilter_may_overlap(&f, base - page, base - 1));
	uhmm__ifilter_count(&f, wide_start, wide_start + (64UL << 30) - 1, -1);
	assert_false(uhmm__ifilter_may_overlap(&f, base - page, base - 1));
	uhmm__ifilter_count(&f, base, base + 3 * page - 1, -1);
	assert_false(uhmm__ifilter_may_overlap(&f, base, base));
}

/*
 * A registration cache's worth of buffers (a thousand, one to sixteen
 * pages, spread over 1 GiB): the filter still says "nothing" for most
 * single pages they do not cover, so most unrelated munmaps stay off the
 * interval lock.
 */
static void filter_stays_useful_with_a_thousand_intervals(void **state)
{
	unsigned long page = uhmm_page_size(), base = 0x7f0000000000UL;
	unsigned long s, tried = 0, clear = 0;
	int i;

	memset(&f, 0, sizeof(f));
	uhmm__ifilter_init(&f);
	for (i = 0; i < 1000; i++) {
		iv[i].start = base + (rnd() % (1UL << 18)) * page;
		iv[i].last = iv[i].start + (1 + rnd() % 16) * page - 1;
		iv[i].in = true;
		uhmm__ifilter_count(&f, iv[i].start, iv[i].last, 1);
	}
	for (; i < N; i++)
		iv[i].in = false;
	while (tried < 10000) {
		s = base + (rnd() % (1UL << 18)) * page;
		if (model_overlaps(s, s + page - 1))
			continue;
		tried++;
		clear += !uhmm__ifilter_may_overlap(&f, s, s + page - 1);
	}
	printf("%lu of %lu uncovered pages clear\n", clear, tried);
	assert_true(clear * 2 > tried);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_never_misses_an_overlap),
		cmocka_unit_test(filter_is_exact_for_neighbours_of_small_intervals),
		cmocka_unit_test(filter_stays_useful_with_a_thousand_intervals),
	};
	return HARNESS_MAIN(tests);
}
