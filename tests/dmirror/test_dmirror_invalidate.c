/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_invalidate.c - the device's callback empties exactly the
 * entries of a changed range: munmap, madvise(MADV_DONTNEED), mprotect
 * losing access, mremap moving pages, and changes reported only after they
 * happened (UHMM_RANGE_AFTER).  Afterwards the next command faults again
 * (one round) and sees the new content.  With frame numbers readable, an
 * entry records the frame the CPU mapped.
 */
#include "dm_util.h"

#define N 8

struct fixture {
	struct uhmm_dmirror *dev;
	char *p;
	char buf[N * 4096];
};

/* N written pages, all mirrored for write. */
static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (ps != 4096)
		SKIP("page size is not 4 KiB");
	f->dev = dm_open();
	f->p = anon(N);
	fill_words(f->p, N, 100);
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, N, 1);
	expect_entries(f->dev, f->p, N, UHMM_DMIRROR_PROT_WRITE);
	assert_int_equal(dm_stats(f->dev).entries, N);
	return f;
}

static void fixture_free(struct fixture *f)
{
	uhmm_dmirror_close(f->dev);
	munmap(f->p, N * ps);
	free(f);
}

/* Pages [a, b) lost their entries, the others kept them; the callback ran
 * and counted what it dropped. */
static void expect_dropped(struct fixture *f, unsigned long a, unsigned long b,
			   uint64_t inval_before)
{
	struct uhmm_dmirror_stats st = dm_stats(f->dev);

	expect_entries(f->dev, f->p, a, UHMM_DMIRROR_PROT_WRITE);
	expect_entries(f->dev, f->p + a * ps, b - a, UHMM_DMIRROR_PROT_NONE);
	expect_entries(f->dev, f->p + b * ps, N - b, UHMM_DMIRROR_PROT_WRITE);
	assert_int_equal(st.entries, N - (b - a));
	assert_int_equal(st.entries_dropped, b - a);
	assert_true(st.invalidations > inval_before);
}

static void munmap_drops(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	char *q;

	assert_int_equal(munmap(f->p + 2 * ps, 2 * ps), 0);
	expect_dropped(f, 2, 4, inv);
	/* New memory in the hole: the device reads it, after one round. */
	q = mmap(f->p + 2 * ps, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == MAP_FAILED)
		SKIP("the hole was taken by another mapping");
	fill_words(q, 2, 5000);
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, N, 1);
	expect_words(f->buf, 2, 100);
	expect_words(f->buf + 2 * ps, 2, 5000);
	expect_words(f->buf + 4 * ps, N - 4, 100 + 4 * ps / sizeof(long));
	fixture_free(f);
}

static void madvise_dontneed_drops(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	unsigned long i;

	assert_int_equal(madvise(f->p + 5 * ps, 3 * ps, MADV_DONTNEED), 0);
	expect_dropped(f, 5, 8, inv);
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, N, 1);
	expect_words(f->buf, 5, 100);
	for (i = 5 * ps; i < N * ps; i++)
		assert_int_equal(f->buf[i], 0);	/* discarded: zeros now */
	fixture_free(f);
}

static void mprotect_drops(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	struct uhmm_dmirror_cmd cmd;

	assert_int_equal(mprotect(f->p, 3 * ps, PROT_READ), 0);
	expect_dropped(f, 0, 3, inv);
	assert_int_equal(dm_write(f->dev, f->p, f->buf, 1, &cmd), -EPERM);
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, N, 1);
	expect_entries(f->dev, f->p, 3, UHMM_DMIRROR_PROT_READ);
	assert_int_equal(mprotect(f->p, 3 * ps, PROT_NONE), 0);
	expect_entries(f->dev, f->p, 3, UHMM_DMIRROR_PROT_NONE);
	assert_int_equal(dm_read(f->dev, f->p, f->buf, 1, &cmd), -EFAULT);
	fixture_free(f);
}

/* Moving pages away is an unmap of the old range. */
static void mremap_drops(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	char *to = anon(2), *q;

	q = mremap(f->p + 6 * ps, 2 * ps, 2 * ps, MREMAP_MAYMOVE | MREMAP_FIXED,
		   to);
	assert_true(q == to);
	expect_dropped(f, 6, 8, inv);
	dm_expect(uhmm_dmirror_read, f->dev, to, f->buf, 2, 1);
	expect_words(f->buf, 2, 100 + 6 * ps / sizeof(long));
	munmap(to, 2 * ps);
	fixture_free(f);
}

/* A change reported afterwards drops the entries just the same, blockable
 * or not (the lock is free, so the callback need not refuse). */
static void after_event_drops(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_AFTER,
				 uhmm_mm_current(), (uintptr_t)(f->p + ps),
				 (uintptr_t)(f->p + 3 * ps));
	assert_int_equal(uhmm_invalidate(&r), 0);
	expect_dropped(f, 1, 3, inv);
	fixture_free(f);
}

/* A change elsewhere runs the callback but drops nothing here. */
static void unrelated_change_keeps(void **state)
{
	struct fixture *f = fixture_new();
	uint64_t inv = dm_stats(f->dev).invalidations;
	char *other = anon(1);

	other[0] = 1;
	assert_int_equal(munmap(other, ps), 0);
	expect_dropped(f, 0, 0, inv);
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, N, 0);
	fixture_free(f);
}

/* Memory unmapped behind capture's back (the system call instruction
 * itself): the device still has entries for it, and its copy must fail
 * with -EFAULT, not die of SIGSEGV.  (With capture's userfaultfd mechanism
 * on, the unmap is reported afterwards and the entries go: -EFAULT too.) */
static void unseen_unmap_is_efault(void **state)
{
	struct fixture *f = fixture_new();
	struct uhmm_dmirror_cmd cmd;

	if (asm_syscall3(SYS_getpid, 0, 0, 0) != getpid())
		SKIP("no raw system call instruction for this machine");
	assert_int_equal(asm_syscall3(SYS_munmap, (long)(f->p + 4 * ps),
				      (long)(4 * ps), 0), 0);
	assert_int_equal(dm_read(f->dev, f->p, f->buf, N, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 4);
	expect_words(f->buf, 4, 100);
	assert_int_equal(dm_write(f->dev, f->p + 4 * ps, f->buf, 1, &cmd),
			 -EFAULT);
	assert_int_equal(cmd.cpages, 0);
	/* The hole is someone else's now: close without unmapping it. */
	uhmm_dmirror_close(f->dev);
	munmap(f->p, 4 * ps);
	free(f);
}

/* Entries record the frame the CPU maps; a discarded and rewritten page
 * gets a new entry with the new frame. */
static void entry_pfn(void **state)
{
	struct fixture *f;
	uint64_t pfn = 1;

	if (!pfns_readable())
		SKIP("frame numbers are not readable (needs CAP_SYS_ADMIN)");
	f = fixture_new();
	assert_int_equal(uhmm_dmirror_lookup(f->dev, (uintptr_t)f->p, &pfn),
			 UHMM_DMIRROR_PROT_WRITE);
	assert_int_equal(pfn, pagemap_entry(f->p) & ((1ull << 55) - 1));
	assert_int_not_equal(pfn, 0);
	assert_int_equal(madvise(f->p, ps, MADV_DONTNEED), 0);
	assert_int_equal(uhmm_dmirror_lookup(f->dev, (uintptr_t)f->p, &pfn),
			 UHMM_DMIRROR_PROT_NONE);
	assert_int_equal(pfn, 0);
	f->p[0] = 1;
	dm_expect(uhmm_dmirror_read, f->dev, f->p, f->buf, 1, 1);
	assert_int_equal(uhmm_dmirror_lookup(f->dev, (uintptr_t)f->p, &pfn),
			 UHMM_DMIRROR_PROT_WRITE);
	assert_int_equal(pfn, pagemap_entry(f->p) & ((1ull << 55) - 1));
	fixture_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(munmap_drops),
		cmocka_unit_test(madvise_dontneed_drops),
		cmocka_unit_test(mprotect_drops),
		cmocka_unit_test(mremap_drops),
		cmocka_unit_test(after_event_drops),
		cmocka_unit_test(unrelated_change_keeps),
		cmocka_unit_test(unseen_unmap_is_efault),
		cmocka_unit_test(entry_pfn),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
