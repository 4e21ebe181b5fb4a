/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_snapshot.c - SNAPSHOT reports one byte per page as the
 * kernel's dmirror does (hmm-tests snapshot, compound, anon_write_huge):
 * ERROR for holes and PROT_NONE, NONE for untouched pages, READ, WRITE,
 * ZERO|READ for the zero page, PMD for a transparent huge page or a 2 MiB
 * hugetlb page; and it faults nothing: no page becomes present, no entry
 * is made, no fault round is counted.
 */
#include "dm_util.h"

enum {
	ERR = UHMM_DMIRROR_PROT_ERROR,
	NONE = UHMM_DMIRROR_PROT_NONE,
	RD = UHMM_DMIRROR_PROT_READ,
	WR = UHMM_DMIRROR_PROT_WRITE,
	PMD = UHMM_DMIRROR_PROT_PMD,
	ZERO = UHMM_DMIRROR_PROT_ZERO,
};

static void expect_codes(const unsigned char *got, const unsigned char *want,
			 unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (got[i] != want[i])
			print_message("page %lu: got %#x want %#x\n", i, got[i],
				      want[i]);
		assert_int_equal(got[i], want[i]);
	}
}

/* One page of each kind, in a row. */
static void kinds(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	unsigned char got[7], want[7] = { ERR, ERR, NONE, RD, WR, RD, NONE };
	struct uhmm_dmirror_cmd cmd;
	char *p = anon(7);

	assert_int_equal(munmap(p, ps), 0);			/* 0: hole */
	assert_int_equal(mprotect(p + ps, ps, PROT_NONE), 0);	/* 1 */
	/* 2: untouched */
	touch_read(p + 3 * ps);					/* 3: zero */
	p[4 * ps] = 1;						/* 4 */
	p[5 * ps] = 1;						/* 5: ro */
	assert_int_equal(mprotect(p + 5 * ps, ps, PROT_READ), 0);
	if (zero_and_huge_visible())
		want[3] |= ZERO;
	memset(got, 0x77, sizeof(got));
	assert_int_equal(dm_snap(dev, p, got, 7, &cmd), 0);
	assert_int_equal(cmd.cpages, 7);
	assert_int_equal(cmd.faults, 0);
	expect_codes(got, want, 7);
	/* Nothing was faulted: the untouched page still is, no entries. */
	assert_int_equal(dm_snap(dev, p + 2 * ps, got, 1, &cmd), 0);
	assert_int_equal(got[0], NONE);
	assert_int_equal(dm_stats(dev).entries, 0);
	assert_int_equal(dm_stats(dev).faults, 0);
	uhmm_dmirror_close(dev);
	munmap(p + ps, 6 * ps);
}

/* A snapshot leaves the device's entries alone; mirrored written pages
 * read as WRITE, then as READ once made read-only. */
static void after_read(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	unsigned long n = 100, i;
	unsigned char *got = malloc(n);
	char *p = anon(n), *buf = malloc(n * ps);
	struct uhmm_dmirror_cmd cmd;

	assert_true(got && buf);
	fill_words(p, n, 1);
	dm_expect(uhmm_dmirror_read, dev, p, buf, n, 1);
	assert_int_equal(dm_snap(dev, p, got, n, &cmd), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], WR);
	assert_int_equal(dm_stats(dev).entries, n);
	assert_int_equal(mprotect(p, n / 2 * ps, PROT_READ), 0);
	assert_int_equal(dm_snap(dev, p, got, n, &cmd), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], i < n / 2 ? RD : WR);
	assert_int_equal(dm_stats(dev).entries, n - n / 2);
	assert_int_equal(dm_stats(dev).faults, 1);
	uhmm_dmirror_close(dev);
	munmap(p, n * ps);
	free(got);
	free(buf);
}

/* hmm-tests compound / anon_write_huge: a THP reads as WRITE|PMD. */
static unsigned long thp_size(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
			"r");
	unsigned long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* kB of AnonHugePages in the mapping holding @addr (/proc/self/smaps). */
static unsigned long anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long s, e, kb = 0;
	char line[512];
	bool in = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = s <= (uintptr_t)addr && (uintptr_t)addr < e;
		else if (in && sscanf(line, "AnonHugePages: %lu", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void thp(void **state)
{
	unsigned long huge = thp_size(), n, i;
	struct uhmm_dmirror *dev;
	struct uhmm_dmirror_cmd cmd;
	unsigned char *got;
	char *raw, *p, *buf;

	if (!huge || huge / ps != (ps / 8))
		SKIP("no transparent huge pages of one PMD");
	n = huge / ps;
	raw = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(raw != MAP_FAILED);
	p = (char *)(((uintptr_t)raw + huge - 1) & ~(huge - 1));
	madvise(p, huge, MADV_HUGEPAGE);
	p[0] = 1;
	if (anon_huge_kb(p) * 1024 < huge)
		SKIP("the kernel gave no THP");
	if (!zero_and_huge_visible())
		SKIP("no PAGEMAP_SCAN and no frame numbers: THP unseen");
	dev = dm_open();
	got = malloc(n);
	buf = malloc(huge);
	assert_true(got && buf);
	assert_int_equal(dm_snap(dev, p, got, n, &cmd), 0);
	assert_int_equal(cmd.cpages, n);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], WR | PMD);
	/* The device reads the whole huge page in one round. */
	dm_expect(uhmm_dmirror_read, dev, p, buf, n, 1);
	assert_int_equal(buf[0], 1);
	uhmm_dmirror_close(dev);
	munmap(raw, 2 * huge);
	free(got);
	free(buf);
}

/* hmm-tests anon_write_hugetlbfs: a 2 MiB hugetlb page is PMD too. */
static void hugetlb(void **state)
{
	unsigned long huge = huge_page_size(), n, i;
	struct uhmm_dmirror *dev;
	struct uhmm_dmirror_cmd cmd;
	unsigned char *got;
	char *p, *buf;

	if (huge / ps != ps / 8)
		SKIP("default huge page is not one PMD");
	p = map_hugetlb(huge, MAP_PRIVATE);
	if (!p)
		SKIP("no hugetlb page available");
	n = huge / ps;
	dev = dm_open();
	got = malloc(n);
	buf = malloc(huge);
	assert_true(got && buf);
	fill_words(buf, n, 3);
	dm_expect(uhmm_dmirror_write, dev, p, buf, n, 1);
	expect_words(p, n, 3);
	assert_int_equal(dm_snap(dev, p, got, n, &cmd), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], WR | PMD);
	uhmm_dmirror_close(dev);
	munmap(p, huge);
	free(got);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kinds),
		cmocka_unit_test(after_read),
		cmocka_unit_test(thp),
		cmocka_unit_test_teardown(hugetlb, restore_hugepages),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
