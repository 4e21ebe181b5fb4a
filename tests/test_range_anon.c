/* SPDX-License-Identifier: MIT */
/*
 * test_range_anon.c - uhmm_range_fault() snapshot and fault, page by page,
 * on private anonymous memory: written, read (the zero page) and untouched
 * pages, read-only, PROT_NONE, holes, the request mask, THP and hugetlb.
 * Contents are checked after every fault: faulting must not change them.
 *
 * Every test runs once per page-state reader:
 * UHMM_TEST_ENV: UHMM_PAGEMAP=scan UHMM_PAGEMAP=proc
 */
#include <errno.h>

#include "range_util.h"
/* The THP size is internal (src/os/os.h). */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* Private anonymous memory                                            */

static void anon_snapshot(void **state)
{
	uint64_t got[6], want[6];
	char *p = anon(6);

	memset(p, 0x11, ps);		/* 0: written */
	touch_read(p + ps);		/* 1: read: the zero page */
	memset(p + 3 * ps, 0x33, ps);	/* 3: written; 2 and 4 untouched */
	memset(p + 5 * ps, 0x55, ps);
	run(p, 6, got, 0);
	want[0] = V | W;
	want[1] = zero_result();
	want[2] = 0;
	want[3] = V | W;
	want[4] = 0;
	want[5] = V | W;
	expect(got, want, 6);
	expect_bytes(p, 0x11);
	expect_bytes(p + ps, 0);
	munmap(p, 6 * ps);
}

static void anon_fault_read(void **state)
{
	uint64_t got[4];
	char *p = anon(4);

	memset(p, 0x11, ps);
	run(p, 4, got, FAULT);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], zero_result());	/* read fault: zero page */
	assert_int_equal(got[3], zero_result());
	run(p, 4, got, 0);			/* the faults stuck */
	assert_int_equal(got[2], zero_result());
	expect_bytes(p, 0x11);
	expect_bytes(p + 2 * ps, 0);
	munmap(p, 4 * ps);
}

static void anon_fault_write(void **state)
{
	uint64_t got[4];
	char *p = anon(4);

	memset(p, 0x11, ps);
	touch_read(p + ps);
	run(p, 4, got, WRITE);
	expect_all(got, V | W, 4);
	run(p, 4, got, 0);
	expect_all(got, V | W, 4);
	expect_bytes(p, 0x11);
	expect_bytes(p + ps, 0);
	expect_bytes(p + 3 * ps, 0);
	munmap(p, 4 * ps);
}

static void zero_page(void **state)
{
	uint64_t got[2];
	char *p = anon(2);

	if (!zero_and_huge_visible())
		SKIP("no PAGEMAP_SCAN and no frame numbers: zero page unseen");
	touch_read(p);
	run(p, 2, got, 0);
	assert_int_equal(got[0], V | Z);	/* never WRITE */
	assert_int_equal(got[1], 0);
	run(p, 1, got, WRITE);			/* breaks the zero page */
	assert_int_equal(got[0], V | W);
	expect_bytes(p, 0);
	munmap(p, 2 * ps);
}

static void readonly(void **state)
{
	uint64_t got[3];
	char *p = anon(3);

	memset(p, 0x11, ps);
	touch_read(p + ps);
	assert_int_equal(mprotect(p, 3 * ps, PROT_READ), 0);
	run(p, 3, got, 0);
	assert_int_equal(got[0], V);
	assert_int_equal(got[1], zero_result());
	assert_int_equal(got[2], 0);
	run(p, 3, got, FAULT);
	assert_int_equal(got[0], V);
	assert_int_equal(got[2], zero_result());
	assert_int_equal(rf(p, 3, got, WRITE, 0, 0), -EPERM);
	memset(got, 0, sizeof(got));
	got[0] = WRITE;				/* one page asks */
	assert_int_equal(rf(p, 3, got, 0, WRITE, 0), -EPERM);
	expect_bytes(p, 0x11);
	munmap(p, 3 * ps);
}

static void prot_none(void **state)
{
	uint64_t got[3];
	char *p = anon(3);

	memset(p, 0x11, 3 * ps);
	assert_int_equal(mprotect(p + ps, ps, PROT_NONE), 0);
	/* The kernel's hmm_vma_walk_test reports no read access as ERROR. */
	run(p, 3, got, 0);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], E);
	assert_int_equal(got[2], V | W);
	assert_int_equal(rf(p, 3, got, FAULT, 0, 0), -EFAULT);
	got[0] = FAULT;
	got[1] = 0;
	got[2] = FAULT;
	assert_int_equal(rf(p, 3, got, 0, FAULT, 0), 0);
	assert_int_equal(got[1], E);
	assert_int_equal(mprotect(p + ps, ps, PROT_READ), 0);
	expect_bytes(p + ps, 0x11);
	munmap(p, 3 * ps);
}

static void hole(void **state)
{
	uint64_t got[5], want[5] = { V | W, V | W, E, V | W, V | W };
	char *p = anon(5);

	memset(p, 0x11, 5 * ps);
	assert_int_equal(munmap(p + 2 * ps, ps), 0);
	run(p, 5, got, 0);
	expect(got, want, 5);
	assert_int_equal(rf(p, 5, got, FAULT, 0, 0), -EFAULT);
	run(p + 2 * ps, 1, got, 0);		/* only the hole */
	assert_int_equal(got[0], E);
	assert_int_equal(rf(p + 2 * ps, 1, got, FAULT, 0, 0), -EFAULT);
	expect_bytes(p + 4 * ps, 0x11);
	munmap(p, 2 * ps);
	munmap(p + 3 * ps, 2 * ps);
}

static void never_touched(void **state)
{
	uint64_t got[8];
	char *p = anon(8);

	run(p, 8, got, 0);
	expect_all(got, 0, 8);
	munmap(p, 8 * ps);
}

/* (in & mask) | default: the mask picks which input bits are requests. */
static void flags_and_mask(void **state)
{
	uint64_t got[8];
	char *p = anon(8);
	int i;

	for (i = 0; i < 8; i++)		/* garbage outside the mask */
		got[i] = (i % 2 ? FAULT : 0) | E | Z | 0x1234;
	assert_int_equal(rf(p, 8, got, 0, FAULT, 0), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(got[i], i % 2 ? zero_result() : 0);

	for (i = 0; i < 8; i++)		/* mask 0: inputs ignored */
		got[i] = WRITE | FAULT;
	assert_int_equal(rf(p, 8, got, FAULT, 0, 0), 0);
	expect_all(got, zero_result(), 8);

	memset(got, 0, sizeof(got));
	got[3] = WRITE | FAULT;
	got[5] = WRITE;			/* REQ_WRITE implies REQ_FAULT */
	assert_int_equal(rf(p, 8, got, 0, FAULT | WRITE, 0), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(got[i], i == 3 || i == 5 ? V | W : zero_result());
	munmap(p, 8 * ps);
}

/* ------------------------------------------------------------------ */
/* Huge pages                                                          */

/* kB of AnonHugePages in the VMA holding @addr (from /proc/self/smaps). */
static unsigned long anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long s, e, kb = 0;
	bool in = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') <
		    strchr(line, ' '))
			in = s <= (uintptr_t)addr && (uintptr_t)addr < e;
		else if (in && sscanf(line, "AnonHugePages: %lu", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void thp(void **state)
{
	unsigned long thp = uhmm__os_thp_size(), n, order, i;
	uint64_t *got;
	char *raw, *p;

	if (!thp)
		SKIP("kernel without transparent huge pages");
	n = thp / ps;
	order = (unsigned long)__builtin_ctzl(n);
	got = calloc(2 * n, sizeof(*got));
	raw = mmap(NULL, 4 * thp, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(raw != MAP_FAILED && got);
	p = (char *)(((uintptr_t)raw + thp - 1) & ~(thp - 1));
	madvise(p, 2 * thp, MADV_HUGEPAGE);
	memset(p, 0x11, ps);
	if (anon_huge_kb(p) * 1024 < thp)
		SKIP("the kernel gave no THP (AnonHugePages 0 after a touch)");
	run(p, n, got, 0);
	if (!zero_and_huge_visible())
		SKIP("no PAGEMAP_SCAN and no frame numbers: THP unseen");
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], V | W | ORDER(order));
	/* Fault a second, untouched block for writing: one THP again. */
	run(p + thp, n, got, WRITE);
	if (anon_huge_kb(p) * 1024 >= 2 * thp)
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], V | W | ORDER(order));
	else
		for (i = 0; i < n; i++)
			assert_int_equal(got[i] & ~UHMM_PFN_ORDER_MASK, V | W);
	expect_bytes(p, 0x11);
	expect_bytes(p + ps, 0);
	munmap(raw, 4 * thp);
	free(got);
}

static void hugetlb(void **state)
{
	unsigned long hp = huge_page_size(), n, order, i;
	uint64_t *got;
	char *p;

	if (!hp)
		SKIP("kernel without hugetlb");
	p = map_hugetlb(2 * hp, MAP_PRIVATE);
	if (!p)
		SKIP("no huge pages could be reserved (not root?)");
	n = hp / ps;
	order = (unsigned long)__builtin_ctzl(n);
	got = calloc(2 * n, sizeof(*got));
	assert_non_null(got);
	memset(p, 0x11, ps);
	run(p, 2 * n, got, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(got[i], V | W | ORDER(order));
		assert_int_equal(got[n + i], 0);
	}
	run(p + hp, n, got, FAULT);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i] & (V | E | Z | UHMM_PFN_ORDER_MASK),
				 V | ORDER(order));
	run(p + hp, n, got, WRITE);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], V | W | ORDER(order));
	expect_bytes(p, 0x11);
	expect_bytes(p + hp, 0);
	munmap(p, 2 * hp);
	free(got);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(anon_snapshot),
		cmocka_unit_test(anon_fault_read),
		cmocka_unit_test(anon_fault_write),
		cmocka_unit_test(zero_page),
		cmocka_unit_test(readonly),
		cmocka_unit_test(prot_none),
		cmocka_unit_test(hole),
		cmocka_unit_test(never_touched),
		cmocka_unit_test(flags_and_mask),
		cmocka_unit_test(thp),
		cmocka_unit_test_teardown(hugetlb, restore_hugepages),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
