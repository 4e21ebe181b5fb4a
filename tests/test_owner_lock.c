/* SPDX-License-Identifier: MIT */
/*
 * test_owner_lock.c - an owner that holds its update lock across a change
 * of memory its subscription mirrors would deadlock in ->invalidate(); with
 * the lock named (uhmm_interval_sub_set_owner_lock), debug builds abort
 * with a message naming the rule instead of hanging.
 */
#include <errno.h>
#include <sys/mman.h>

#include "harness.h"
#include "util.h"
#include <uhmm/uhmm.h>

static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uhmm_interval_sub sub;
static int calls;

static bool locking_invalidate(struct uhmm_interval_sub *s,
			       const struct uhmm_notifier_range *r,
			       unsigned long cur_seq)
{
	pthread_mutex_lock(&owner_lock);
	uhmm_interval_set_seq(s, cur_seq);
	calls++;
	pthread_mutex_unlock(&owner_lock);
	return true;
}

static const struct uhmm_interval_sub_ops ops = {
	.invalidate = locking_invalidate,
};

static char *setup(void)
{
	char *p = map_pages(2);

	assert_int_equal(uhmm_interval_sub_insert(&sub, uhmm_mm_current(),
						  (unsigned long)p,
						  2 * uhmm_page_size(), &ops), 0);
	uhmm_interval_sub_set_owner_lock(&sub, &owner_lock);
	return p;
}

/* The rule kept: the change is made without the lock; nothing fires. */
static void change_without_lock_runs_callback(void **state)
{
	char *p = setup();

	calls = 0;
	assert_int_equal(invalidate_unmap(uhmm_mm_current(), (unsigned long)p,
					  (unsigned long)p + 2 * uhmm_page_size(),
					  UHMM_RANGE_BLOCKABLE), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(uhmm_interval_sub_remove(&sub), 0);
}

/* In a child: lock, then change the mirrored memory. */
static void change_under_owner_lock(void)
{
	char *p = setup();

	pthread_mutex_lock(&owner_lock);
	(void)invalidate_unmap(uhmm_mm_current(), (unsigned long)p,
			       (unsigned long)p + 2 * uhmm_page_size(),
			       UHMM_RANGE_BLOCKABLE);
	_exit(0);	/* not reached: the check aborts first */
}

static void change_under_owner_lock_aborts(void **state)
{
#ifndef UHMM_DEBUG
	SKIP("the owner-lock check is a debug-build check (UHMM_DEBUG off)");
#else
	expect_death(change_under_owner_lock, "owner lock");
#endif
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(change_without_lock_runs_callback),
		cmocka_unit_test(change_under_owner_lock_aborts),
	};
	return HARNESS_MAIN(tests);
}
