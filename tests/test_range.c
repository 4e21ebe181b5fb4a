/* SPDX-License-Identifier: MIT */
/*
 * test_range.c - uhmm_range_fault() on real memory: snapshot and fault, page
 * by page, for every kind of mapping a process has (private and shared
 * anonymous, private and shared file, memfd, THP, hugetlb, read-only,
 * PROT_NONE, holes), every return code, the request mask, copy-on-write
 * after fork, frame numbers, and both VMA readers.  Contents are checked
 * after every fault: faulting must not change them.
 *
 * Every test runs once per page-state reader:
 * UHMM_TEST_ENV: UHMM_PAGEMAP=scan UHMM_PAGEMAP=proc
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>
/* The VMA reader's backend and lookups are internal (src/os/os.h). */
#include "internal.h"

#define V	UHMM_PFN_VALID
#define W	UHMM_PFN_WRITE
#define E	UHMM_PFN_ERROR
#define Z	UHMM_PFN_ZERO
#define FAULT	UHMM_PFN_REQ_FAULT
#define WRITE	UHMM_PFN_REQ_WRITE
#define ORDER(o) ((uint64_t)(o) << UHMM_PFN_ORDER_SHIFT)
#define MAXP	64

static unsigned long ps;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static int rf(void *addr, unsigned long n, uint64_t *pfns, uint64_t dflt,
	      uint64_t mask, unsigned int flags)
{
	struct uhmm_range r = {
		.mm = uhmm_mm_current(),
		.start = (uintptr_t)addr,
		.end = (uintptr_t)addr + n * ps,
		.pfns = pfns,
		.default_flags = dflt,
		.pfn_flags_mask = mask,
		.flags = flags,
	};

	return uhmm_range_fault(&r);
}

/* Snapshot / fault with default flags @dflt; fails the test unless 0. */
static void run(void *addr, unsigned long n, uint64_t *pfns, uint64_t dflt)
{
	memset(pfns, 0, n * sizeof(*pfns));
	assert_int_equal(rf(addr, n, pfns, dflt, 0, 0), 0);
}

static void expect(const uint64_t *got, const uint64_t *want, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (got[i] != want[i])
			print_message("page %lu: got %#llx want %#llx\n", i,
				      (unsigned long long)got[i],
				      (unsigned long long)want[i]);
		assert_int_equal(got[i], want[i]);
	}
}

static void expect_all(const uint64_t *got, uint64_t want, unsigned long n)
{
	uint64_t w[1024];
	unsigned long i;

	for (i = 0; i < n; i++)
		w[i] = want;
	expect(got, w, n);
}

static char *map(unsigned long n, int prot, int flags, int fd)
{
	char *p = mmap(NULL, n * ps, prot, flags, fd, 0);

	assert_true(p != MAP_FAILED);
	if (!(flags & MAP_SHARED) && fd < 0)
		madvise(p, n * ps, MADV_NOHUGEPAGE);
	return p;
}

static char *anon(unsigned long n)
{
	return map(n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

static void touch_read(const char *p)
{
	(void)*(const volatile char *)p;
}

/* Every byte of page @p is @c. */
static void expect_bytes(const char *p, char c)
{
	unsigned long i;

	for (i = 0; i < ps; i++)
		if (p[i] != c)
			break;
	assert_int_equal(i, ps);
}

/* The test's own reading of a pagemap entry (independent of uhmm). */
static uint64_t pagemap_entry(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, 8, (off_t)((uintptr_t)addr / ps) * 8), 8);
	close(fd);
	return e;
}

static bool pfns_readable(void)
{
	char *p = anon(1);
	bool ok;

	p[0] = 1;
	ok = (pagemap_entry(p) & ((1ULL << 55) - 1)) != 0;
	munmap(p, ps);
	return ok;
}

static bool scan_backend(void)
{
	return !strcmp(uhmm_range_backend(), "pagemap_scan");
}

/* Are the zero page and PMD mappings recognisable with this reader? */
static bool zero_and_huge_visible(void)
{
	static int visible = -1;

	if (visible < 0)
		visible = scan_backend() || pfns_readable();
	return visible;
}

/* The zero page as this reader reports it. */
static uint64_t zero_result(void)
{
	return zero_and_huge_visible() ? V | Z : V;
}

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* A temp file of @n pages, page i filled with 'a' + i. */
static int temp_file(unsigned long n)
{
	char path[] = "/tmp/uhmm-range-XXXXXX", buf[4096];
	unsigned long i;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	for (i = 0; i < n; i++) {
		memset(buf, 'a' + (int)i, sizeof(buf));
		assert_int_equal(pwrite(fd, buf, ps, (off_t)(i * ps)), (ssize_t)ps);
	}
	return fd;
}

static void expect_file_page(int fd, unsigned long i, char c)
{
	char buf[4096];

	assert_int_equal(pread(fd, buf, ps, (off_t)(i * ps)), (ssize_t)ps);
	expect_bytes(buf, c);
}

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

/* ------------------------------------------------------------------ */
/* hugetlb: reserve pages if none are free (as root), give them back.  */
/* Tests running in parallel serialise their reservations on a lock file
 * and give back exactly what they added. */

#define HUGETLB_LOCK "/tmp/uhmm-test-hugetlb.lock"
#define HUGETLB_ADD 4

static long added_hugepages;
static int hugetlb_lock = -1;

static long nr_hugepages(long set)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", set < 0 ? "r" : "w");
	long v = set;

	if (!f)
		return -1;
	if (set < 0 && fscanf(f, "%ld", &v) != 1)
		v = -1;
	else if (set >= 0)
		fprintf(f, "%ld\n", set);
	fclose(f);
	return v;
}

static char *try_hugetlb(unsigned long len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       flags | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static char *map_hugetlb(unsigned long len, int flags)
{
	char *p = try_hugetlb(len, flags);
	long nr;

	if (p || geteuid() != 0)
		return p;
	hugetlb_lock = open(HUGETLB_LOCK, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (hugetlb_lock < 0 || flock(hugetlb_lock, LOCK_EX))
		return NULL;
	nr = nr_hugepages(-1);
	if (nr < 0)
		return NULL;
	nr_hugepages(nr + HUGETLB_ADD);
	added_hugepages = nr_hugepages(-1) - nr;	/* what the kernel found */
	return try_hugetlb(len, flags);
}

static int restore_hugepages(void **state)
{
	long nr = nr_hugepages(-1);

	if (added_hugepages > 0 && nr >= 0)
		nr_hugepages(nr > added_hugepages ? nr - added_hugepages : 0);
	added_hugepages = 0;
	if (hugetlb_lock >= 0)
		close(hugetlb_lock);	/* releases the lock */
	hugetlb_lock = -1;
	return 0;
}

static unsigned long huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long kb = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %lu", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* ------------------------------------------------------------------ */
/* Backends                                                            */

static void backend_honours_env(void **state)
{
	const char *env = getenv("UHMM_PAGEMAP");
	const char *b = uhmm_range_backend();

	if (!env)
		SKIP("UHMM_PAGEMAP not set: nothing to honour");
	if (!strcmp(env, "proc"))
		assert_string_equal(b, "proc_pagemap");
	if (!strcmp(env, "scan")) {
		if (!kernel_at_least(6, 7))
			SKIP("kernel before 6.7 has no PAGEMAP_SCAN");
		assert_string_equal(b, "pagemap_scan");
	}
}

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

/* ------------------------------------------------------------------ */
/* File and shared memory                                              */

static void shared_file(void **state)
{
	uint64_t got[4];
	int fd = temp_file(4), i;
	char *p = map(4, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	char *ro = map(4, PROT_READ, MAP_SHARED, fd);

	run(p, 4, got, 0);
	expect_all(got, 0, 4);			/* nothing mapped yet */
	run(p, 4, got, FAULT);
	expect_all(got, V | W, 4);		/* shared: writes go in place */
	run(p, 4, got, WRITE);
	expect_all(got, V | W, 4);
	for (i = 0; i < 4; i++) {
		expect_bytes(p + i * ps, 'a' + i);
		expect_file_page(fd, (unsigned long)i, 'a' + i);
	}
	run(ro, 4, got, FAULT);
	expect_all(got, V, 4);
	assert_int_equal(rf(ro, 4, got, WRITE, 0, 0), -EPERM);
	munmap(p, 4 * ps);
	munmap(ro, 4 * ps);
	close(fd);
}

/* kpageflags of the frame behind @addr (root only), or ~0 if unknown. */
static uint64_t page_flags(void *addr)
{
	uint64_t pfns[1] = { 0 }, flags = ~0ULL;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return flags;
	if (!rf(addr, 1, pfns, 0, 0, UHMM_RANGE_WANT_PFN) &&
	    uhmm_pfn_to_pfn(pfns[0]) &&
	    pread(fd, &flags, 8, (off_t)(uhmm_pfn_to_pfn(pfns[0]) * 8)) != 8)
		flags = ~0ULL;
	close(fd);
	return flags;
}

#define KPF_DIRTY (1ULL << 4)

/*
 * A clean shared file page reads as writable, but the kernel keeps it
 * write-protected to learn when it is dirtied.  REQ_WRITE must go through
 * the kernel's write fault so the page is marked dirty and written back.
 */
static void shared_file_write_dirties(void **state)
{
	uint64_t got[1];
	int fd = temp_file(1);
	char *p = map(1, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	struct statfs sf;

	assert_int_equal(fstatfs(fd, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC)
		SKIP("/tmp is tmpfs: no dirty tracking to observe");
	assert_int_equal(fsync(fd), 0);
	touch_read(p);
	if (page_flags(p) == ~0ULL)
		SKIP("page flags need CAP_SYS_ADMIN");
	assert_int_equal(page_flags(p) & KPF_DIRTY, 0);	/* clean */
	run(p, 1, got, WRITE);
	assert_int_equal(got[0], V | W);
	assert_int_equal(page_flags(p) & KPF_DIRTY, KPF_DIRTY);
	expect_bytes(p, 'a');
	munmap(p, ps);
	close(fd);
}

static void private_file(void **state)
{
	uint64_t got[3];
	int fd = temp_file(3);
	char *p = map(3, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);

	touch_read(p);
	run(p, 1, got, 0);
	assert_int_equal(got[0], V);		/* the file's page: COW first */
	run(p, 3, got, FAULT);
	expect_all(got, V, 3);
	run(p, 3, got, WRITE);			/* private copies */
	expect_all(got, V | W, 3);
	expect_bytes(p, 'a');
	expect_bytes(p + 2 * ps, 'c');
	p[0] = 'z';
	expect_file_page(fd, 0, 'a');		/* the file never changes */
	munmap(p, 3 * ps);
	close(fd);
}

static void shared_anon(void **state)
{
	uint64_t got[3];
	char *p = map(3, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);

	memset(p, 0x11, ps);
	run(p, 3, got, 0);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], 0);
	run(p, 3, got, FAULT);
	expect_all(got, V | W, 3);
	expect_bytes(p, 0x11);
	expect_bytes(p + ps, 0);
	munmap(p, 3 * ps);
}

static void memfd(void **state)
{
	uint64_t got[3];
	int fd = memfd_create("uhmm-range", MFD_CLOEXEC);
	char buf[4096];
	char *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(3 * ps)), 0);
	memset(buf, 'm', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, ps, (off_t)ps), (ssize_t)ps);
	p = map(3, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	run(p, 3, got, 0);
	expect_all(got, 0, 3);
	run(p, 3, got, FAULT);
	expect_all(got, V | W, 3);
	expect_bytes(p, 0);
	expect_bytes(p + ps, 'm');
	munmap(p, 3 * ps);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Return codes                                                        */

struct cb_sub {
	struct uhmm_interval_sub sub;
	int calls;
	int range_ret;
	bool call_range;
	char *mem;
};

static bool cb_invalidate(struct uhmm_interval_sub *sub,
			  const struct uhmm_notifier_range *r,
			  unsigned long cur_seq)
{
	struct cb_sub *c = (struct cb_sub *)sub;
	uint64_t pfns[1];

	uhmm_interval_set_seq(sub, cur_seq);
	c->calls++;
	if (c->call_range)
		c->range_ret = rf(c->mem, 1, pfns, FAULT, 0, 0);
	return true;
}

static const struct uhmm_interval_sub_ops cb_ops = {
	.invalidate = cb_invalidate,
};

static int invalidate(char *p, unsigned long n)
{
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE,
				 uhmm_mm_current(), (uintptr_t)p,
				 (uintptr_t)p + n * ps);
	return uhmm_invalidate(&r);
}

static void ebusy(void **state)
{
	struct cb_sub c = { .calls = 0 };
	struct uhmm_range r = { 0 };
	uint64_t got[4];
	char *p = anon(8);

	assert_int_equal(uhmm_interval_sub_insert(&c.sub, uhmm_mm_current(),
						  (uintptr_t)p, 4 * ps, &cb_ops), 0);
	r.notifier = &c.sub;
	r.start = (uintptr_t)p;
	r.end = (uintptr_t)p + 4 * ps;
	r.pfns = got;
	r.default_flags = FAULT;
	r.notifier_seq = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(invalidate(p + 4 * ps, 4), 0);	/* elsewhere */
	assert_int_equal(uhmm_range_fault(&r), 0);
	assert_int_equal(invalidate(p + ps, 1), 0);	/* this range */
	assert_int_equal(c.calls, 1);
	assert_int_equal(uhmm_range_fault(&r), -EBUSY);
	r.notifier_seq = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(uhmm_range_fault(&r), 0);
	expect_all(got, zero_result(), 4);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	munmap(p, 8 * ps);
}

static void edeadlk_in_callback(void **state)
{
	struct cb_sub c = { .call_range = true, .range_ret = 1 };
	char *p = anon(1);

	c.mem = p;
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, uhmm_mm_current(),
						  (uintptr_t)p, ps, &cb_ops), 0);
	assert_int_equal(invalidate(p, 1), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.range_ret, -EDEADLK);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	munmap(p, ps);
}

static void einval(void **state)
{
	uint64_t got[2];
	char *p = anon(2);
	struct uhmm_range r = {
		.mm = uhmm_mm_current(), .start = (uintptr_t)p,
		.end = (uintptr_t)p + ps, .pfns = got,
	};
	struct uhmm_range bad;

	assert_int_equal(uhmm_range_fault(NULL), -EINVAL);
	bad = r, bad.pfns = NULL;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.start += 8;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.end -= 8;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.end = bad.start;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.start = bad.end + ps;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.mm = NULL;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	assert_int_equal(uhmm_range_fault(&r), 0);	/* the control */
	munmap(p, 2 * ps);
}

static void esrch_after_teardown(void **state)
{
	uint64_t got[1];
	char *p = anon(1);
	struct uhmm_range r = {
		.start = (uintptr_t)p, .end = (uintptr_t)p + ps, .pfns = got,
	};

	assert_int_equal(uhmm_mm_create(&r.mm), 0);
	assert_int_equal(uhmm_range_fault(&r), 0);
	uhmm_mm_grab(r.mm);
	uhmm_mm_put(r.mm);			/* teardown */
	assert_int_equal(uhmm_range_fault(&r), -ESRCH);
	uhmm_mm_drop(r.mm);
	munmap(p, ps);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

/* Child side of cow_after_fork: each check its own exit code. */
static int cow_child(char *p, struct uhmm_mm *parent_mm, int rd, int wr)
{
	struct uhmm_range r = { .mm = parent_mm };
	uint64_t got[4];
	char x;

	close(wr);		/* a parent that dies gives EOF, not a hang */
	if (read(rd, &x, 1) != 1)
		return 10;
	if (p[0] != 0x11)
		return 11;		/* the parent's write leaked in */
	r.start = (uintptr_t)p;
	r.end = r.start + ps;
	r.pfns = got;
	if (uhmm_range_fault(&r) != -ESRCH)
		return 12;		/* inherited handles are inert */
	if (rf(p, 2, got, 0, 0, 0) || got[1] != V)
		return 13;		/* still shared with the parent */
	if (rf(p + ps, 1, got, WRITE, 0, 0) || got[0] != (V | W))
		return 14;
	if (p[ps] != 0x22)
		return 15;
	/* The child's own VMAs and pages, not the parent's. */
	munmap(p + 2 * ps, ps);
	memset(p + 3 * ps, 0x44, ps);
	if (rf(p + 2 * ps, 2, got, 0, 0, 0) || got[0] != E ||
	    got[1] != (V | W))
		return 16;
	return 0;
}

static void cow_after_fork(void **state)
{
	struct uhmm_mm *mm = uhmm_mm_current();
	uint64_t got[4];
	char *p = anon(4);
	int pipefd[2], status;
	pid_t pid;

	memset(p, 0x11, ps);
	memset(p + ps, 0x22, ps);
	run(p, 4, got, 0);			/* readers opened before fork */
	assert_int_equal(got[0], V | W);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(cow_child(p, mm, pipefd[0], pipefd[1]));
	run(p, 4, got, 0);
	assert_int_equal(got[0], V);		/* shared copy-on-write */
	assert_int_equal(got[1], V);
	assert_int_equal(got[3], 0);
	run(p, 1, got, WRITE);			/* breaks COW for us */
	assert_int_equal(got[0], V | W);
	expect_bytes(p, 0x11);
	memset(p, 0x77, ps);
	assert_int_equal(write(pipefd[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	run(p + 2 * ps, 2, got, 0);		/* the child's changes stay there */
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 0);
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(p, 4 * ps);
}

/* Frame numbers of a shared page, read by the child with the other reader. */
static void want_pfn(void **state)
{
	const char *mine = getenv("UHMM_PAGEMAP");
	uint64_t *res, got[2];
	char *p;
	pid_t pid;
	int status;

	if (!pfns_readable())
		SKIP("frame numbers need CAP_SYS_ADMIN");
	res = (void *)map(1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	p = map(2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	memset(p, 0x11, 2 * ps);
	pid = fork();			/* before this process picks a reader */
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("UHMM_PAGEMAP", mine && !strcmp(mine, "proc") ?
		       "scan" : "proc", 1);
		/* fork copies no PTEs of shared mappings: fault them. */
		_exit(rf(p, 2, res, FAULT, 0, UHMM_RANGE_WANT_PFN) ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	run(p, 2, got, 0);
	assert_int_equal(uhmm_pfn_to_pfn(got[0]), 0);	/* not asked */
	assert_int_equal(rf(p, 2, got, 0, 0, UHMM_RANGE_WANT_PFN), 0);
	assert_int_equal(got[0] & UHMM_PFN_FLAGS, V | W);
	assert_true(uhmm_pfn_to_pfn(got[0]) != 0);
	assert_int_equal(uhmm_pfn_to_pfn(got[0]),
			 pagemap_entry(p) & ((1ULL << 55) - 1));
	assert_int_equal(uhmm_pfn_to_pfn(got[0]), uhmm_pfn_to_pfn(res[0]));
	assert_int_equal(uhmm_pfn_to_pfn(got[1]), uhmm_pfn_to_pfn(res[1]));
	munmap(p, 2 * ps);
	munmap(res, ps);
}

/* ------------------------------------------------------------------ */
/* Many VMAs, chunks and regions                                       */

static void long_mixed_range(void **state)
{
	enum { A = 600, HOLE = 3, B = 500, N = A + HOLE + B };
	uint64_t *got = calloc(N, sizeof(*got));
	char *p = anon(N);
	unsigned long i;

	assert_non_null(got);
	/* A: private, every other page written; a hole; B: shared anon,
	 * every third page written.  Runs alternate: many scan regions. */
	assert_true(mmap(p + (A + HOLE) * ps, B * ps, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    MAP_FAILED);
	munmap(p + A * ps, HOLE * ps);
	for (i = 0; i < A; i += 2)
		p[i * ps] = 1;
	for (i = 0; i < B; i += 3)
		p[(A + HOLE + i) * ps] = 2;
	run(p, N, got, 0);
	for (i = 0; i < N; i++) {
		uint64_t want = i < A ? (i % 2 ? 0 : V | W) : i < A + HOLE ? E :
				((i - A - HOLE) % 3 ? 0 : V | W);

		if (got[i] != want)
			print_message("page %lu\n", i);
		assert_int_equal(got[i], want);
	}
	for (i = 0; i < N; i++)
		got[i] = i < A || i >= A + HOLE ? FAULT : 0;
	assert_int_equal(rf(p, N, got, 0, FAULT, 0), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], i < A ? (i % 2 ? zero_result() : V | W) :
				 i < A + HOLE ? E : V | W);
	munmap(p, A * ps);
	munmap(p + (A + HOLE) * ps, B * ps);
	free(got);
}

/* ------------------------------------------------------------------ */
/* Concurrent changes                                                  */

struct churn {
	char *p;
	unsigned long n;
	unsigned long rounds;
	int stop;			/* atomic */
	int bad;			/* atomic: unexpected return codes */
	int ok;				/* atomic: successful faults */
	pthread_barrier_t start;
};

/* Take pages away and give them back, one at a time, until stopped. */
static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	unsigned long i = 0;
	char *pg;

	pthread_barrier_wait(&c->start);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		pg = c->p + (i++ % c->n) * ps;
		mprotect(pg, ps, PROT_NONE);
		mprotect(pg, ps, PROT_READ | PROT_WRITE);
		madvise(pg, ps, MADV_DONTNEED);
	}
	return NULL;
}

/* Fault for writing; the first call of each thread races the other's. */
static void *fault_fn(void *arg)
{
	struct churn *c = arg;
	uint64_t got[16];
	unsigned long r;
	int ret;

	pthread_barrier_wait(&c->start);
	for (r = 0; r < c->rounds; r++) {
		ret = rf(c->p, c->n, got, WRITE, 0, 0);
		if (ret == 0)
			__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
		else if (ret != -EFAULT && ret != -EBUSY)
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Two threads fault while a third mprotects and discards the same pages:
 * every call ends in 0, -EFAULT (a page was PROT_NONE) or -EBUSY (pages
 * never settled), and nothing hangs.
 */
static void concurrent_changes(void **state)
{
	struct churn c = { .n = 16, .rounds = harness_rounds(1000) };
	struct harness_watchdog wd;
	pthread_t t[3];
	uint64_t got[16];
	int i;

	c.p = anon(c.n);
	assert_int_equal(pthread_barrier_init(&c.start, NULL, 3), 0);
	harness_watchdog_start(&wd, 60, "range fault against mprotect/madvise");
	assert_int_equal(pthread_create(&t[0], NULL, churn_fn, &c), 0);
	for (i = 1; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fault_fn, &c), 0);
	for (i = 1; i < 3; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t[0], NULL);
	harness_watchdog_stop(&wd);
	print_message("%d of %lu faults succeeded\n", c.ok, 2 * c.rounds);
	assert_int_equal(c.bad, 0);
	run(c.p, c.n, got, WRITE);		/* quiet again: all settle */
	expect_all(got, V | W, c.n);
	pthread_barrier_destroy(&c.start);
	munmap(c.p, c.n * ps);
}

/* ------------------------------------------------------------------ */
/* VMA readers                                                         */

static char *vvar_addr(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vvar]"))
			s = strtoul(line, NULL, 16);
	fclose(f);
	return (char *)s;
}

/* Mappings whose VMA both readers must describe alike. */
struct probe_set {
	char *addr[10];
	unsigned int n;
	int vvar;			/* index of [vvar], or -1 */
	int huge;			/* index of a hugetlb mapping, or -1 */
};

static void probe_set_make(struct probe_set *s, int fd)
{
	char *p = anon(6), *h;

	memset(p, 1, 6 * ps);
	mprotect(p + ps, ps, PROT_READ);
	mprotect(p + 2 * ps, ps, PROT_NONE);
	s->n = 0;
	s->addr[s->n++] = p;			/* rw private anon */
	s->addr[s->n++] = p + ps;		/* read-only */
	s->addr[s->n++] = p + 2 * ps;		/* PROT_NONE */
	s->addr[s->n++] = p + 3 * ps;		/* hole, made below */
	s->addr[s->n++] = map(2, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	s->addr[s->n++] = map(2, PROT_READ, MAP_PRIVATE, fd);
	s->addr[s->n++] = map(1, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1);
	munmap(p + 3 * ps, ps);		/* last: nothing mmapped fills it */
	s->vvar = s->huge = -1;
	if (vvar_addr()) {
		s->vvar = (int)s->n;
		s->addr[s->n++] = vvar_addr();
	}
	h = huge_page_size() ? map_hugetlb(huge_page_size(), MAP_SHARED) : NULL;
	if (h) {
		s->huge = (int)s->n;
		s->addr[s->n++] = h;
	} else {
		print_message("no hugetlb mapping: its VMA goes unchecked\n");
	}
}

static void vma_expect_flags(const struct probe_set *s,
			     const struct uhmm__vma *v)
{
	unsigned int rw = UHMM__VMA_READ | UHMM__VMA_WRITE;

	assert_int_equal(v[0].flags, rw);
	assert_int_equal(v[0].page_size, ps);
	assert_int_equal(v[1].flags, UHMM__VMA_READ);
	assert_int_equal(v[2].flags, 0);
	assert_int_equal(v[3].start, (uintptr_t)s->addr[3] + ps); /* above */
	assert_int_equal(v[4].flags, rw | UHMM__VMA_SHARED | UHMM__VMA_FILE);
	assert_int_equal(v[5].flags, UHMM__VMA_READ | UHMM__VMA_FILE);
	assert_int_equal(v[6].flags, rw | UHMM__VMA_SHARED | UHMM__VMA_FILE);
	if (s->vvar >= 0)
		assert_true(v[s->vvar].flags & UHMM__VMA_IO);
	if (s->huge >= 0) {
		assert_true(v[s->huge].flags & UHMM__VMA_HUGETLB);
		assert_int_equal(v[s->huge].page_size, huge_page_size());
	}
}

static void vma_lookup_all(const struct probe_set *s, struct uhmm__vma *v)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		assert_int_equal(uhmm__os_vma_find((uintptr_t)s->addr[i], &v[i]),
				 0);
}

/* UHMM_VMA=maps, set before the first lookup in this process. */
static void vma_maps_fallback(void **state)
{
	struct uhmm__vma v[10];
	struct probe_set s;
	uint64_t got[4];
	int fd;

	setenv("UHMM_VMA", "maps", 1);
	assert_string_equal(uhmm__os_vma_backend(), "proc_maps");
	fd = temp_file(2);
	probe_set_make(&s, fd);
	vma_lookup_all(&s, v);
	vma_expect_flags(&s, v);
	/* The range walk over it: rw, ro, PROT_NONE, hole. */
	run(s.addr[0], 4, got, 0);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], V);
	assert_int_equal(got[2], E);
	assert_int_equal(got[3], E);
	close(fd);
}

/* Both readers, each in a child that picks it first, describe alike. */
static void vma_backends_agree(void **state)
{
	struct uhmm__vma *res, v[10];
	struct probe_set s;
	const char *which[2] = { "query", "maps" };
	int fd = temp_file(2), k, status;
	unsigned int i;
	pid_t pid;

	if (!kernel_at_least(6, 11))
		SKIP("kernel before 6.11 has no PROCMAP_QUERY");
	res = (void *)map(1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	probe_set_make(&s, fd);
	for (k = 0; k < 2; k++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setenv("UHMM_VMA", which[k], 1);
			for (i = 0; i < s.n; i++)
				if (uhmm__os_vma_find((uintptr_t)s.addr[i],
						      &res[k * 10 + i]))
					_exit(1);
			_exit(strcmp(uhmm__os_vma_backend(), k ? "proc_maps" :
				     "procmap_query") ? 2 : 0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (i = 0; i < s.n; i++) {
		assert_int_equal(res[i].start, res[10 + i].start);
		assert_int_equal(res[i].end, res[10 + i].end);
		assert_int_equal(res[i].flags, res[10 + i].flags);
		assert_int_equal(res[i].page_size, res[10 + i].page_size);
		v[i] = res[i];
	}
	vma_expect_flags(&s, v);
	close(fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backend_honours_env),
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
		cmocka_unit_test(shared_file),
		cmocka_unit_test(shared_file_write_dirties),
		cmocka_unit_test(private_file),
		cmocka_unit_test(shared_anon),
		cmocka_unit_test(memfd),
		cmocka_unit_test(ebusy),
		cmocka_unit_test(edeadlk_in_callback),
		cmocka_unit_test(einval),
		cmocka_unit_test(esrch_after_teardown),
		cmocka_unit_test(cow_after_fork),
		cmocka_unit_test(want_pfn),
		cmocka_unit_test(long_mixed_range),
		cmocka_unit_test(concurrent_changes),
		cmocka_unit_test_teardown(vma_maps_fallback, restore_hugepages),
		cmocka_unit_test_teardown(vma_backends_agree, restore_hugepages),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
