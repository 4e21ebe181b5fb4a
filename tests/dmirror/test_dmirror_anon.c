/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_anon.c - the device reading and writing private anonymous
 * memory, case by case as the kernel's hmm-tests.c expects it: the data,
 * cpages, and the fault rounds (an untouched buffer costs exactly one, a
 * mirrored one none); read-only memory refuses writes with -EPERM and
 * PROT_NONE memory refuses reads with -EFAULT, leaving both sides untouched;
 * a hole is -EFAULT.
 */
#include "dm_util.h"

#define NPAGES 1024	/* hmm-tests.c's buffer: 4 MiB of 4 KiB pages */

static unsigned long npages(void)
{
	return NPAGES * 4096 / ps ? NPAGES * 4096 / ps : 1;
}

static void open_close(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	struct uhmm_dmirror_stats st = dm_stats(dev);

	assert_int_equal(st.entries, 0);
	assert_int_equal(st.faults, 0);
	assert_int_equal(st.cpages, 0);
	assert_int_equal(st.retries, 0);
	uhmm_dmirror_close(dev);
	assert_int_equal(uhmm_dmirror_open(NULL, NULL), -EINVAL);
}

/* hmm-tests anon_read: two zero pages (none, then the zero page), the rest
 * i, read-only; one fault round reads it all. */
static void anon_read(void **state)
{
	unsigned long n = npages(), i;
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(n), *buf = malloc(n * ps);

	assert_non_null(buf);
	fill_words(p + 2 * ps, n - 2, 0);
	assert_int_equal(mprotect(p, n * ps, PROT_READ), 0);
	touch_read(p + ps);
	dm_expect(uhmm_dmirror_read, dev, p, buf, n, 1);
	for (i = 0; i < 2 * ps; i++)
		assert_int_equal(buf[i], 0);
	expect_words(buf + 2 * ps, n - 2, 0);
	expect_entries(dev, p, n, UHMM_DMIRROR_PROT_READ);
	assert_int_equal(dm_stats(dev).entries, n);
	assert_int_equal(dm_stats(dev).faults, 1);
	assert_int_equal(dm_stats(dev).cpages, n);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(buf);
}

/* A mirrored buffer reads without a fault; a half-mirrored one costs one
 * round for the rest. */
static void second_read_no_fault(void **state)
{
	unsigned long n = npages();
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(n), *buf = malloc(n * ps);

	assert_non_null(buf);
	fill_words(p, n, 7);
	dm_expect(uhmm_dmirror_read, dev, p, buf, n / 2, 1);
	expect_entries(dev, p, n / 2, UHMM_DMIRROR_PROT_WRITE);
	expect_entries(dev, p + n / 2 * ps, n - n / 2, UHMM_DMIRROR_PROT_NONE);
	dm_expect(uhmm_dmirror_read, dev, p, buf, n, 1);
	memset(buf, 0, n * ps);
	dm_expect(uhmm_dmirror_read, dev, p, buf, n, 0);
	expect_words(buf, n, 7);
	assert_int_equal(dm_stats(dev).faults, 2);
	assert_int_equal(dm_stats(dev).cpages, n / 2 + 2 * n);
	assert_int_equal(dm_stats(dev).entries, n);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(buf);
}

/* hmm-tests anon_read_prot: PROT_NONE is -EFAULT; nothing is copied. */
static void anon_read_prot(void **state)
{
	unsigned long n = npages();
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(n), *buf = malloc(n * ps);
	struct uhmm_dmirror_cmd cmd;

	assert_non_null(buf);
	fill_words(p, n, 0);
	fill_words(buf, n, 1000);
	assert_int_equal(mprotect(p, n * ps, PROT_NONE), 0);
	assert_int_equal(dm_read(dev, p, buf, n, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 0);
	assert_int_equal(mprotect(p, n * ps, PROT_READ), 0);
	expect_words(p, n, 0);
	expect_words(buf, n, 1000);
	assert_int_equal(dm_stats(dev).entries, 0);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(buf);
}

/* hmm-tests anon_write: one round, the memory holds what was written. */
static void anon_write(void **state)
{
	unsigned long n = npages();
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(n), *buf = malloc(n * ps);

	assert_non_null(buf);
	fill_words(buf, n, 3);
	dm_expect(uhmm_dmirror_write, dev, p, buf, n, 1);
	expect_words(p, n, 3);
	expect_entries(dev, p, n, UHMM_DMIRROR_PROT_WRITE);
	fill_words(buf, n, 5);
	dm_expect(uhmm_dmirror_write, dev, p, buf, n, 0);
	expect_words(p, n, 5);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(buf);
}

/* hmm-tests anon_write_prot: reading the zero page of a read-only mapping
 * works, writing it is -EPERM and changes nothing; once writable, one
 * round replaces the zero page. */
static void anon_write_prot(void **state)
{
	unsigned long n = npages();
	struct uhmm_dmirror *dev = dm_open();
	char *p = map(n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	char *buf = malloc(n * ps);
	struct uhmm_dmirror_cmd cmd;
	unsigned long i;

	assert_non_null(buf);
	dm_expect(uhmm_dmirror_read, dev, p, buf, 1, 1);
	assert_int_equal(uhmm_dmirror_lookup(dev, (uintptr_t)p, NULL),
			 UHMM_DMIRROR_PROT_READ);
	fill_words(buf, n, 11);
	assert_int_equal(dm_write(dev, p, buf, n, &cmd), -EPERM);
	assert_int_equal(cmd.cpages, 0);
	for (i = 0; i < n * ps; i += sizeof(long))
		assert_int_equal(*(unsigned long *)(p + i), 0);
	assert_int_equal(mprotect(p, n * ps, PROT_READ | PROT_WRITE), 0);
	dm_expect(uhmm_dmirror_write, dev, p, buf, n, 1);
	expect_words(p, n, 11);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(buf);
}

/* No mapping at all: -EFAULT, and a range partly mapped copies the mapped
 * part before it. */
static void hole(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(4), buf[4 * 4096];
	struct uhmm_dmirror_cmd cmd;

	if (ps > 4096)
		SKIP("page size above 4 KiB");
	fill_words(p, 2, 9);
	assert_int_equal(munmap(p + 2 * ps, 2 * ps), 0);
	assert_int_equal(dm_read(dev, p + 2 * ps, buf, 2, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 0);
	assert_int_equal(dm_write(dev, p + 2 * ps, buf, 2, &cmd), -EFAULT);
	dm_expect(uhmm_dmirror_read, dev, p, buf, 2, 1);
	assert_int_equal(dm_read(dev, p, buf, 4, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 2);
	expect_words(buf, 2, 9);
	uhmm_dmirror_close(dev);
	munmap(p, 2 * ps);
}

/* A write breaks copy-on-write: after fork the child's device writes the
 * child's copy, the parent's memory keeps its content (hmm-tests
 * anon_write_child). */
static void write_child_cow(void **state)
{
	unsigned long n = 16;
	char *p = anon(n), *buf = malloc(n * ps);
	pid_t pid;

	assert_non_null(buf);
	fill_words(p, n, 1);
	pid = fork_checked();
	if (pid == 0) {
		struct uhmm_dmirror *dev = NULL;
		struct uhmm_dmirror_cmd cmd;
		unsigned long *w = (unsigned long *)p;

		fill_words(buf, n, 2);
		if (uhmm_dmirror_open(NULL, &dev) ||
		    dm_write(dev, p, buf, n, &cmd) || cmd.cpages != n ||
		    w[0] != 2 || w[n * ps / sizeof(*w) - 1] != 2 + n * ps /
		    sizeof(*w) - 1)
			_exit(1);
		uhmm_dmirror_close(dev);
		_exit(0);
	}
	expect_child_ok(pid);
	expect_words(p, n, 1);
	munmap(p, n * ps);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_close),
		cmocka_unit_test(anon_read),
		cmocka_unit_test(second_read_no_fault),
		cmocka_unit_test(anon_read_prot),
		cmocka_unit_test(anon_write),
		cmocka_unit_test(anon_write_prot),
		cmocka_unit_test(hole),
		cmocka_unit_test(write_child_cow),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
