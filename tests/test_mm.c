/* SPDX-License-Identifier: MIT */
/*
 * test_mm.c - address space handles: the users and count references,
 * teardown exactly once when users reach zero, the struct outliving teardown
 * while grabbed, death on reference misuse, and the process handle.
 * uhmm_mm_use() in worker threads is in test_mm_use.c.
 *
 * Teardown is observed through a watcher (util.h): a registered whole-space
 * subscription (its ->release()) and an interval subscription (its
 * UHMM_EVENT_RELEASE invalidation).
 */
#include <limits.h>

#include "util.h"

/*
 * Only the overflow and drop-underflow death tests look inside the handle:
 * reaching INT_MAX through the API takes 2^31 calls, and a count that reached
 * zero through the API has already been freed.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* References                                                           */

static void refs_count_users(void **state)
{
	struct uhmm_mm *mm = mm_new();

	assert_int_equal(uhmm_mm_users(mm), 1);
	assert_true(uhmm_mm_alive(mm));
	uhmm_mm_get(mm);
	assert_int_equal(uhmm_mm_users(mm), 2);
	assert_true(uhmm_mm_get_not_zero(mm));
	assert_int_equal(uhmm_mm_users(mm), 3);
	uhmm_mm_grab(mm);		/* struct references are not users */
	assert_int_equal(uhmm_mm_users(mm), 3);
	uhmm_mm_put(mm);
	uhmm_mm_put(mm);
	assert_int_equal(uhmm_mm_users(mm), 1);
	assert_true(uhmm_mm_alive(mm));
	uhmm_mm_put(mm);		/* the last: teardown */
	assert_int_equal(uhmm_mm_users(mm), 0);
	assert_false(uhmm_mm_alive(mm));
	assert_false(uhmm_mm_get_not_zero(mm));
	assert_int_equal(uhmm_mm_users(mm), 0);
	uhmm_mm_drop(mm);
}

static void teardown_once_at_zero(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct watch w;

	watch_start(&w, mm);
	uhmm_mm_grab(mm);
	uhmm_mm_get(mm);
	uhmm_mm_get(mm);
	uhmm_mm_put(mm);
	uhmm_mm_put(mm);
	assert_int_equal(ld(&w.releases), 0);
	assert_int_equal(ld(&w.release_events), 0);
	uhmm_mm_put(mm);
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	assert_false(uhmm_mm_get_not_zero(mm));
	watch_stop(&w);		/* unregister must not release again */
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	uhmm_mm_drop(mm);
}

/* After teardown only our grab holds the struct; ASan proves it survives. */
static void grab_keeps_struct_after_teardown(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct watch w;
	int i;

	watch_start(&w, mm);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	watch_stop(&w);
	for (i = 0; i < 3; i++) {
		assert_int_equal(uhmm_mm_users(mm), 0);
		assert_false(uhmm_mm_alive(mm));
		assert_false(uhmm_mm_get_not_zero(mm));
	}
	uhmm_mm_grab(mm);
	uhmm_mm_drop(mm);
	assert_false(uhmm_mm_alive(mm));
	assert_int_equal(ld(&w.releases), 1);
	uhmm_mm_drop(mm);
}

static void die_users_overflow(void)
{
	struct uhmm_mm *mm = child_mm_new();

	mm->users = INT_MAX - 1;
	uhmm_mm_get(mm);		/* INT_MAX: still fine */
	uhmm_mm_get(mm);
}

static void die_get_not_zero_overflow(void)
{
	struct uhmm_mm *mm = child_mm_new();

	mm->users = INT_MAX;
	if (uhmm_mm_get_not_zero(mm))
		_exit(3);
}

static void die_count_overflow(void)
{
	struct uhmm_mm *mm = child_mm_new();

	mm->count = INT_MAX;
	uhmm_mm_grab(mm);
}

static void die_put_underflow(void)
{
	struct uhmm_mm *mm = child_mm_torn_down();

	uhmm_mm_put(mm);
}

/* A count that hit zero through the API is freed; fake one that did not. */
static void die_drop_underflow(void)
{
	struct uhmm_mm *mm = child_mm_torn_down();

	mm->count = 0;
	uhmm_mm_drop(mm);
}

static void death_on_reference_misuse(void **state)
{
	expect_death(die_users_overflow, "overflow");
	expect_death(die_get_not_zero_overflow, "overflow");
	expect_death(die_count_overflow, "overflow");
	expect_death(die_put_underflow, "underflow");
	expect_death(die_drop_underflow, "underflow");
}

#ifdef UHMM_DEBUG
static void die_get_from_zero(void)
{
	struct uhmm_mm *mm = child_mm_torn_down();

	uhmm_mm_get(mm);		/* must have been get_not_zero */
}
#endif

static void death_get_without_users(void **state)
{
#ifdef UHMM_DEBUG
	expect_death(die_get_from_zero, "get_not_zero");
#else
	SKIP("uhmm_mm_get from zero users is checked in UHMM_DEBUG builds only");
#endif
}

/* ------------------------------------------------------------------ */
/* The process handle                                                   */

static void *current_fn(void *arg)
{
	struct uhmm_mm **out = arg;

	out[0] = uhmm_mm_current();
	out[1] = uhmm_mm_current();
	return NULL;
}

static void current_stable_across_threads(void **state)
{
	struct uhmm_mm *seen[4][2];
	pthread_t t[4];
	struct uhmm_mm *mm;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, current_fn,
					       seen[i]), 0);
	mm = uhmm_mm_current();
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_non_null(mm);
	assert_ptr_equal(uhmm_mm_current(), mm);
	for (i = 0; i < 4; i++) {
		assert_ptr_equal(seen[i][0], mm);
		assert_ptr_equal(seen[i][1], mm);
	}
	assert_true(uhmm_mm_alive(mm));
	assert_true(uhmm_mm_users(mm) >= 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refs_count_users),
		cmocka_unit_test(teardown_once_at_zero),
		cmocka_unit_test(grab_keeps_struct_after_teardown),
		cmocka_unit_test(death_on_reference_misuse),
		cmocka_unit_test(death_get_without_users),
		cmocka_unit_test(current_stable_across_threads),
	};

	return HARNESS_MAIN(tests);
}
