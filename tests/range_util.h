/* SPDX-License-Identifier: MIT */
/*
 * range_util.h - what the test_range_*.c files share: the pfn flag
 * shorthands, a range fault over pages of this process, per-page
 * expectations, mappings of each kind, the zero page and huge pages as the
 * chosen page-state reader sees them, and hugetlb reservations.
 *
 * Each file sets ps = uhmm_page_size() in main() before running tests.
 */
#ifndef UHMM_TEST_RANGE_UTIL_H
#define UHMM_TEST_RANGE_UTIL_H

#include <fcntl.h>
#include <sys/file.h>

#include "util.h"

#define V	UHMM_PFN_VALID
#define W	UHMM_PFN_WRITE
#define E	UHMM_PFN_ERROR
#define Z	UHMM_PFN_ZERO
#define FAULT	UHMM_PFN_REQ_FAULT
#define WRITE	UHMM_PFN_REQ_WRITE
#define ORDER(o) ((uint64_t)(o) << UHMM_PFN_ORDER_SHIFT)

static unsigned long ps;	/* uhmm_page_size(): set by main() */

/* A range fault of @n pages at @addr in this process. */
static inline int rf(void *addr, unsigned long n, uint64_t *pfns,
		     uint64_t dflt, uint64_t mask, unsigned int flags)
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
static inline void run(void *addr, unsigned long n, uint64_t *pfns,
		       uint64_t dflt)
{
	memset(pfns, 0, n * sizeof(*pfns));
	assert_int_equal(rf(addr, n, pfns, dflt, 0, 0), 0);
}

static inline void expect(const uint64_t *got, const uint64_t *want,
			  unsigned long n)
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

static inline void expect_all(const uint64_t *got, uint64_t want,
			      unsigned long n)
{
	uint64_t w[1024];
	unsigned long i;

	for (i = 0; i < n; i++)
		w[i] = want;
	expect(got, w, n);
}

static inline char *map(unsigned long n, int prot, int flags, int fd)
{
	char *p = mmap(NULL, n * ps, prot, flags, fd, 0);

	assert_true(p != MAP_FAILED);
	if (!(flags & MAP_SHARED) && fd < 0)
		madvise(p, n * ps, MADV_NOHUGEPAGE);
	return p;
}

static inline char *anon(unsigned long n)
{
	return map(n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

static inline void touch_read(const char *p)
{
	(void)*(const volatile char *)p;
}

/* Every byte of page @p is @c. */
static inline void expect_bytes(const char *p, char c)
{
	unsigned long i;

	for (i = 0; i < ps; i++)
		if (p[i] != c)
			break;
	assert_int_equal(i, ps);
}

/* The test's own reading of a pagemap entry (independent of uhmm). */
static inline uint64_t pagemap_entry(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, 8, (off_t)((uintptr_t)addr / ps) * 8), 8);
	close(fd);
	return e;
}

static inline bool pfns_readable(void)
{
	char *p = anon(1);
	bool ok;

	p[0] = 1;
	ok = (pagemap_entry(p) & ((1ULL << 55) - 1)) != 0;
	munmap(p, ps);
	return ok;
}

static inline bool scan_backend(void)
{
	return !strcmp(uhmm_range_backend(), "pagemap_scan");
}

/* Are the zero page and PMD mappings recognisable with this reader? */
static inline bool zero_and_huge_visible(void)
{
	static int visible = -1;

	if (visible < 0)
		visible = scan_backend() || pfns_readable();
	return visible;
}

/* The zero page as this reader reports it. */
static inline uint64_t zero_result(void)
{
	return zero_and_huge_visible() ? V | Z : V;
}

/* A temp file of @n pages, page i filled with 'a' + i. */
static inline int temp_file(unsigned long n)
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

/* ------------------------------------------------------------------ */
/* hugetlb: reserve pages if none are free (as root), give them back.  */
/* Tests running in parallel serialise their reservations on a lock file
 * and give back exactly what they added. */

#define HUGETLB_LOCK "/tmp/uhmm-test-hugetlb.lock"
#define HUGETLB_ADD 4

static long added_hugepages;
static int hugetlb_lock = -1;

static inline long nr_hugepages(long set)
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

static inline char *try_hugetlb(unsigned long len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       flags | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static inline char *map_hugetlb(unsigned long len, int flags)
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

static inline int restore_hugepages(void **state)
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

static inline unsigned long huge_page_size(void)
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

#endif /* UHMM_TEST_RANGE_UTIL_H */
