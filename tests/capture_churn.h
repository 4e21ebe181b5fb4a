/* SPDX-License-Identifier: MIT */
/*
 * capture_churn.h - threads that keep changing the one page their own
 * interval subscription covers, through libc: map over it (MAP_FIXED),
 * write it, discard it (MADV_DONTNEED), unmap it.  Capture announces each
 * of those three calls, so a churner told fewer than three times a round
 * missed a change (tests/test_capture_boundary*.c).
 */
#ifndef UHMM_TEST_CAPTURE_CHURN_H
#define UHMM_TEST_CAPTURE_CHURN_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "harness.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#include <uhmm/uhmm.h>

/* Tests keep churners in static storage, as capture_rec.h's recorders. */
struct churn {
	struct uhmm_interval_sub sub;
	unsigned char *page;
	bool inserted;		/* owned by the churning thread once started */
	bool mapped;		/* the page is ours now, not a hole */
	int told;		/* atomic: invalidations other than RELEASE */
	int rounds;		/* atomic: rounds done */
	int err;		/* atomic: errno of the first failed call */
	pthread_t thread;
};

static int churn_stop;		/* atomic: churners return when set */

static bool churn_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *r,
			     unsigned long cur_seq)
{
	struct churn *c = (struct churn *)sub;	/* sub is the first member */

	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event != UHMM_EVENT_RELEASE)
		__atomic_add_fetch(&c->told, 1, __ATOMIC_SEQ_CST);
	return true;
}

static const struct uhmm_interval_sub_ops churn_ops = {
	.invalidate = churn_invalidate,
};

/*
 * An insert made while another thread's invalidation runs is deferred
 * until that ends, and the changes that start meanwhile are not told to
 * its callback (the sequence covers them): read_begin() waits for it to
 * land, so every change after it is told.
 */
static int churn_subscribe(struct churn *c)
{
	int ret = uhmm_interval_sub_insert(&c->sub, uhmm_mm_current(),
					   (unsigned long)c->page,
					   uhmm_page_size(), &churn_ops);

	c->inserted = ret == 0;
	if (c->inserted)
		(void)uhmm_interval_read_begin(&c->sub);
	return ret;
}

static void churn_fail(struct churn *c, int err)
{
	int zero = 0;

	__atomic_compare_exchange_n(&c->err, &zero, err ? err : EIO, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Between rounds the page is a hole any other mapping may take: it is
 * claimed back with MAP_FIXED_NOREPLACE (announces nothing), and if that
 * fails the churner moves to a fresh page rather than clobber another's.
 */
static int churn_claim(struct churn *c)
{
	unsigned long ps = uhmm_page_size();
	unsigned char *p;

	if (c->mapped)
		return 0;
	p = mmap(c->page, ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != c->page) {
		if (p != MAP_FAILED)
			munmap(p, ps);	/* a kernel that took it for a hint */
		p = mmap(NULL, ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return errno;
		if (c->inserted && uhmm_interval_sub_remove(&c->sub))
			return EINVAL;
		c->page = p;
		churn_subscribe(c);
	}
	c->mapped = true;
	return 0;
}

/* One round: three changes of the page, each announced once. */
static int churn_round(struct churn *c)
{
	unsigned long ps = uhmm_page_size();
	int err = churn_claim(c);

	if (err)
		return err;
	if (mmap(c->page, ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != c->page)
		return errno;
	c->page[0] = 1;
	if (madvise(c->page, ps, MADV_DONTNEED))
		return errno;
	if (munmap(c->page, ps))
		return errno;
	c->mapped = false;
	return 0;
}

static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	int err;

	while (!__atomic_load_n(&churn_stop, __ATOMIC_SEQ_CST)) {
		err = churn_round(c);
		if (err) {
			churn_fail(c, err);
			break;
		}
		__atomic_add_fetch(&c->rounds, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/*
 * Map and subscribe @c's page, then start its thread.  In a fork child
 * that cannot use cmocka: returns 0 or an errno.
 */
static int churn_start(struct churn *c)
{
	unsigned long ps = uhmm_page_size();
	unsigned char *p = mmap(NULL, 3 * ps, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + ps, ps, PROT_READ | PROT_WRITE))
		return errno;
	memset(c, 0, sizeof(*c));
	c->page = p + ps;
	c->mapped = true;
	if (churn_subscribe(c))
		return EINVAL;
	return pthread_create(&c->thread, NULL, churn_fn, c);
}

/* Wait until @c has finished a round after its @seen'th, or failed. */
static void churn_wait_round(struct churn *c, int seen)
{
	while (__atomic_load_n(&c->rounds, __ATOMIC_SEQ_CST) <= seen &&
	       !__atomic_load_n(&c->err, __ATOMIC_SEQ_CST))
		sched_yield();
}

/*
 * Stop @n churners; each must have been told of every change it made: at
 * least three times a round (more when another mapping briefly took the
 * page's hole between rounds and changed it: told too, harmlessly).
 */
static void churn_stop_all(struct churn *c, int n)
{
	int i;

	__atomic_store_n(&churn_stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_join(c[i].thread, NULL), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(c[i].err, 0);
		assert_true(c[i].rounds > 0);
		assert_true(c[i].told >= 3 * c[i].rounds);
		assert_int_equal(uhmm_interval_sub_remove(&c[i].sub), 0);
	}
	__atomic_store_n(&churn_stop, 0, __ATOMIC_SEQ_CST);
}

#endif /* UHMM_TEST_CAPTURE_CHURN_H */
