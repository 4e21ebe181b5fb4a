/* SPDX-License-Identifier: MIT */
/*
 * test_capture_uffd_race.c - the userfaultfd registration rules under
 * concurrency: threads change subscribed pages through libc (quiet changes:
 * each ends the registration of its span for the call and registers it
 * again), other threads insert and remove overlapping subscriptions (each
 * remove ends the registration of its range and registers what the others
 * still cover), and one thread discards the same pages with a bare system
 * call, which only the reader sees.
 *
 * Checked all along: once the bare call has returned, read_retry on a
 * sequence taken before it is true (the guarantee capture owes).  Checked
 * after: no page lost its registration to the interleaving (unregister,
 * look, register), i.e. a bare discard of every page is still caught.
 *
 * UHMM_TEST_LINK: interpose
 */
#include <pthread.h>

#include "harness.h"
#include "uffd_util.h"
#include <uhmm/uhmm.h>

#define PAGES	32
#define CHURN	2	/* threads changing pages through libc */

static unsigned char *area;
static struct uhmm_interval_sub base[PAGES];	/* one per page, kept */
static struct uhmm_interval_sub extra[PAGES];	/* pages i, i+1: come, go */
static int stop;		/* atomic */
static unsigned long missed;	/* atomic: guarantee violations */
static int errors;		/* atomic: a call that failed */

static bool count_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *r,
			     unsigned long cur_seq)
{
	(void)r;
	uhmm_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_interval_sub_ops ops = {
	.invalidate = count_invalidate,
};

static unsigned long ps(void)
{
	return uhmm_page_size();
}

static unsigned char *page(unsigned int i)
{
	return area + (size_t)i * ps();
}

static unsigned int next(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static void call_failed(void)
{
	__atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
}

/* Quiet changes: libc's madvise, mprotect and MAP_FIXED mmap. */
static void *churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		unsigned char *p = page(next(&seed) % PAGES);

		switch (next(&seed) % 3) {
		case 0:
			if (madvise(p, ps(), MADV_DONTNEED))
				call_failed();
			break;
		case 1:
			if (mprotect(p, ps(), PROT_READ) ||
			    mprotect(p, ps(), PROT_READ | PROT_WRITE))
				call_failed();
			break;
		default:
			if (mmap(p, ps(), PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
				 0) != p)
				call_failed();
			break;
		}
	}
	return NULL;
}

/* Inserts and removes over pages i and i + 1. */
static void *subscriber(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		unsigned int i = next(&seed) % (PAGES - 1);

		if (uhmm_interval_sub_insert(&extra[i], uhmm_mm_current(),
					     (unsigned long)page(i),
					     2 * ps(), &ops) ||
		    uhmm_interval_sub_remove(&extra[i]))
			call_failed();
	}
	return NULL;
}

/* Bare discard of page @i; was it told before the call returned? */
static bool raw_discard_told(unsigned int i)
{
	unsigned long seq = uhmm_interval_read_begin(&base[i]);

	if (asm_syscall(SYS_madvise, (long)page(i), (long)ps(), MADV_DONTNEED,
			0, 0))
		call_failed();
	return uhmm_interval_read_retry(&base[i], seq);
}

static void registration_survives_concurrent_actors(void **state)
{
	unsigned long rounds = harness_rounds(5000), n;
	pthread_t c[CHURN], s;
	struct harness_watchdog w;
	unsigned int i, seed = 7;

	need_uffd();
	area = mmap(NULL, PAGES * ps(), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(area != MAP_FAILED);
	for (i = 0; i < PAGES; i++)
		assert_int_equal(uhmm_interval_sub_insert(&base[i],
				uhmm_mm_current(), (unsigned long)page(i),
				ps(), &ops), 0);
	harness_watchdog_start(&w, 120, __func__);
	for (i = 0; i < CHURN; i++)
		assert_int_equal(pthread_create(&c[i], NULL, churn,
						(void *)(uintptr_t)(i + 1)), 0);
	assert_int_equal(pthread_create(&s, NULL, subscriber,
					(void *)(uintptr_t)99), 0);
	for (n = 0; n < rounds; n++)
		if (!raw_discard_told(next(&seed) % PAGES))
			__atomic_add_fetch(&missed, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < CHURN; i++)
		assert_int_equal(pthread_join(c[i], NULL), 0);
	assert_int_equal(pthread_join(s, NULL), 0);
	assert_int_equal(__atomic_load_n(&errors, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(__atomic_load_n(&missed, __ATOMIC_SEQ_CST), 0);
	/* Quiet now: every page is still registered, so still caught. */
	for (i = 0; i < PAGES; i++)
		assert_true(raw_discard_told(i));
	harness_watchdog_stop(&w);
	for (i = 0; i < PAGES; i++)
		assert_int_equal(uhmm_interval_sub_remove(&base[i]), 0);
	munmap(area, PAGES * ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registration_survives_concurrent_actors),
	};

	return HARNESS_MAIN(tests);
}
