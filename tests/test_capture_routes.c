/* SPDX-License-Identifier: MIT */
/*
 * test_capture_routes.c - the route table of src/capture/routes.c, as pure
 * functions: edge cases the real-memory tests in test_capture_interpose.c
 * cannot reach cheaply (empty and wrapping ranges, flag combinations).
 */
#include <sys/mman.h>
#include <sys/shm.h>

#include "harness.h"
#include "capture/routes.c"	/* pure functions, no library state */

#define P 4096ul

static void expect_span(const struct uhmm__span *s, unsigned long start,
			unsigned long end, enum uhmm_event ev)
{
	assert_int_equal(s->start, start);
	assert_int_equal(s->end, end);
	assert_int_equal(s->event, ev);
}

static void munmap_and_mmap(void **state)
{
	struct uhmm__span s;

	assert_true(uhmm__route_munmap(&s, P, 2 * P));
	expect_span(&s, P, 3 * P, UHMM_EVENT_UNMAP);
	assert_false(uhmm__route_munmap(&s, P, 0));		/* empty */
	assert_false(uhmm__route_munmap(&s, -P, 2 * P));	/* wraps */
	assert_false(uhmm__route_mmap(&s, 0, P, MAP_PRIVATE));
	assert_true(uhmm__route_mmap(&s, P, P, MAP_FIXED));
	expect_span(&s, P, 2 * P, UHMM_EVENT_UNMAP);
	/* NOREPLACE wins over FIXED in the kernel: it never replaces. */
	assert_false(uhmm__route_mmap(&s, P, P, MAP_FIXED_NOREPLACE));
	assert_false(uhmm__route_mmap(&s, P, P,
				      MAP_FIXED | MAP_FIXED_NOREPLACE));
}

static void mremap_cases(void **state)
{
	struct uhmm__span s[2];

	/* Shrink: the tail, with or without MAYMOVE. */
	assert_int_equal(uhmm__route_mremap(s, P, 4 * P, P, 0, 0), 1);
	expect_span(&s[0], 2 * P, 5 * P, UHMM_EVENT_UNMAP);
	assert_int_equal(uhmm__route_mremap(s, P, 4 * P, P,
					    MREMAP_MAYMOVE, 0), 1);
	/* Grow without MAYMOVE: in place or not at all. */
	assert_int_equal(uhmm__route_mremap(s, P, P, 4 * P, 0, 0), 0);
	/* Same size, no flags: nothing moves. */
	assert_int_equal(uhmm__route_mremap(s, P, P, P, MREMAP_MAYMOVE, 0), 0);
	/* Grow with MAYMOVE: may move, the old range is announced. */
	assert_int_equal(uhmm__route_mremap(s, P, P, 4 * P,
					    MREMAP_MAYMOVE, 0), 1);
	expect_span(&s[0], P, 2 * P, UHMM_EVENT_UNMAP);
	/* old_size 0 duplicates a shared mapping: nothing goes. */
	assert_int_equal(uhmm__route_mremap(s, P, 0, P, MREMAP_MAYMOVE, 0), 0);
	/* A fixed move: old and target. */
	assert_int_equal(uhmm__route_mremap(s, P, P, 2 * P, MREMAP_MAYMOVE |
					    MREMAP_FIXED, 8 * P), 2);
	expect_span(&s[0], P, 2 * P, UHMM_EVENT_UNMAP);
	expect_span(&s[1], 8 * P, 10 * P, UHMM_EVENT_UNMAP);
	/* DONTUNMAP empties the old range; with FIXED the target goes. */
	assert_int_equal(uhmm__route_mremap(s, P, P, P, MREMAP_MAYMOVE |
					    MREMAP_DONTUNMAP, 0), 1);
	expect_span(&s[0], P, 2 * P, UHMM_EVENT_CLEAR);
	assert_int_equal(uhmm__route_mremap(s, P, P, P, MREMAP_MAYMOVE |
					    MREMAP_DONTUNMAP | MREMAP_FIXED,
					    8 * P), 2);
	expect_span(&s[0], P, 2 * P, UHMM_EVENT_CLEAR);
	expect_span(&s[1], 8 * P, 9 * P, UHMM_EVENT_UNMAP);
}

static void madvise_and_mprotect(void **state)
{
	static const int clear[] = { MADV_DONTNEED, MADV_DONTNEED_LOCKED,
				     MADV_FREE, MADV_REMOVE,
				     MADV_GUARD_INSTALL };
	static const int none[] = { MADV_NORMAL, MADV_WILLNEED,
				    MADV_HUGEPAGE, MADV_COLD, 23 /* POPULATE_WRITE */ };
	struct uhmm__span s;
	unsigned int i;

	for (i = 0; i < sizeof(clear) / sizeof(clear[0]); i++) {
		assert_true(uhmm__route_madvise(&s, P, P, clear[i]));
		expect_span(&s, P, 2 * P, UHMM_EVENT_CLEAR);
	}
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		assert_false(uhmm__route_madvise(&s, P, P, none[i]));
	assert_true(uhmm__route_mprotect(&s, P, P, PROT_READ));
	expect_span(&s, P, 2 * P, UHMM_EVENT_PROTECTION);
	assert_true(uhmm__route_mprotect(&s, P, P, PROT_NONE));
	assert_true(uhmm__route_mprotect(&s, P, P, PROT_WRITE));
	assert_true(uhmm__route_mprotect(&s, P, P, PROT_EXEC | PROT_READ));
	assert_false(uhmm__route_mprotect(&s, P, P, PROT_READ | PROT_WRITE));
	assert_false(uhmm__route_mprotect(&s, P, P,
					  PROT_READ | PROT_WRITE | PROT_EXEC));
}

static void brk_sbrk_shm(void **state)
{
	struct uhmm__span s;
	unsigned long lba = SHMLBA;

	assert_false(uhmm__route_brk(&s, 8 * P, 0));		/* query */
	assert_false(uhmm__route_brk(&s, 8 * P, 9 * P));	/* grow */
	assert_true(uhmm__route_brk(&s, 8 * P, 6 * P));
	expect_span(&s, 6 * P, 8 * P, UHMM_EVENT_UNMAP);
	assert_false(uhmm__route_sbrk(&s, 8 * P, 0));
	assert_false(uhmm__route_sbrk(&s, 8 * P, (intptr_t)P));
	assert_true(uhmm__route_sbrk(&s, 8 * P, -(intptr_t)(3 * P)));
	expect_span(&s, 5 * P, 8 * P, UHMM_EVENT_UNMAP);
	assert_false(uhmm__route_sbrk(&s, P, -(intptr_t)(2 * P)));
	assert_false(uhmm__route_shmat(&s, 4 * lba, 0, lba));
	assert_false(uhmm__route_shmat(&s, 0, SHM_REMAP, lba));
	assert_true(uhmm__route_shmat(&s, 4 * lba, SHM_REMAP, 2 * lba));
	expect_span(&s, 4 * lba, 6 * lba, UHMM_EVENT_UNMAP);
	assert_true(uhmm__route_shmat(&s, 4 * lba + 8, SHM_REMAP | SHM_RND,
				      lba));
	expect_span(&s, 4 * lba, 5 * lba, UHMM_EVENT_UNMAP);
	assert_true(uhmm__route_shmdt(&s, P, 3 * P));
	expect_span(&s, P, 3 * P, UHMM_EVENT_UNMAP);
	assert_false(uhmm__route_shmdt(&s, P, 0));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(munmap_and_mmap),
		cmocka_unit_test(mremap_cases),
		cmocka_unit_test(madvise_and_mprotect),
		cmocka_unit_test(brk_sbrk_shm),
	};

	return HARNESS_MAIN(tests);
}
