/* SPDX-License-Identifier: MIT */
/*
 * test_capture_ucm.c - uhmm's capture in a process where UCX's UCM also
 * hooks munmap (the patchers-fighting case of issue 3): each munmap of
 * subscribed memory is announced to uhmm exactly once and before the
 * change, UCM's own VM_UNMAPPED handler still runs, and the memory is
 * really unmapped (nothing corrupted).  UCM's hook reaches the kernel
 * through libc's syscall(), which uhmm also wraps; without the dispatch
 * rule "a span inside the change this thread is making is that change"
 * uhmm saw every munmap twice.
 *
 * UHMM_TEST_LINK: interpose
 */
#include <errno.h>
#include <sys/mman.h>

#include "harness.h"
#include "util.h"
#include <uhmm/uhmm.h>

#ifdef UHMM_TEST_UCM
#include <ucm/api/ucm.h>

static int uhmm_calls, uhmm_before, ucm_calls;
static volatile unsigned char *marker;

static bool count_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *r,
			     unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	uhmm_calls++;
	uhmm_before += *marker == 0x5a;	/* still mapped: before the change */
	return true;
}

static const struct uhmm_interval_sub_ops count_ops = {
	.invalidate = count_invalidate,
};

static void ucm_count(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
	ucm_calls++;
}

static void one_announcement_per_munmap_with_ucm(void **state)
{
	struct uhmm_interval_sub sub;
	unsigned char vec;
	int i, rounds = 50;

	if (ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED, 0, ucm_count,
				  NULL) != UCS_OK)
		SKIP("UCM could not install its VM_UNMAPPED hook here");
	for (i = 0; i < rounds; i++) {
		unsigned char *p = map_pages(1);

		p[0] = 0x5a;
		marker = p;
		assert_int_equal(uhmm_interval_sub_insert(&sub,
				uhmm_mm_current(), (unsigned long)p,
				uhmm_page_size(), &count_ops), 0);
		assert_int_equal(munmap(p, uhmm_page_size()), 0);
		assert_int_equal(uhmm_interval_sub_remove(&sub), 0);
		/* Really gone: mincore on an unmapped page fails. */
		assert_int_equal(mincore(p, uhmm_page_size(), &vec), -1);
		assert_int_equal(errno, ENOMEM);
	}
	print_message("uhmm %d (%d before), ucm %d, for %d munmaps\n",
		      uhmm_calls, uhmm_before, ucm_calls, rounds);
	assert_int_equal(uhmm_calls, rounds);
	assert_int_equal(uhmm_before, rounds);
	assert_true(ucm_calls >= rounds);
}
#else
static void one_announcement_per_munmap_with_ucm(void **state)
{
	SKIP("built without UCX's libucm (install libucx-dev)");
}
#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_announcement_per_munmap_with_ucm),
	};
	return HARNESS_MAIN(tests);
}
