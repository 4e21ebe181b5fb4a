/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c - the state of each page of a range: present, swapped, file or
 * anonymous, mapped only here, the zero page, huge, and the frame number.
 *
 * Two readers, chosen once at run time:
 *  - the PAGEMAP_SCAN ioctl (Linux 6.7+) reports page categories in runs,
 *    zero page and PMD/hugetlb mappings included, frame numbers never.
 *    It has no "mapped only here" category, and that is what decides
 *    whether a private page is writable without a copy-on-write fault (a
 *    page shared with a fork child is not), so for present anonymous pages
 *    the 8-byte /proc/self/pagemap entries are read as well; they carry the
 *    frame number, which want_pfn needs for the other present pages too.
 *  - /proc/self/pagemap alone: one 8-byte entry per page.  Frame numbers
 *    read as 0 without CAP_SYS_ADMIN; where they are readable the zero page
 *    is recognised by its frame number (learnt once from a fresh
 *    read-faulted page), and a PMD-sized, PMD-aligned run of contiguous
 *    frames as a huge mapping (confirmed through /proc/kpageflags where
 *    readable).  Without frame numbers neither is recognised.
 * The ioctl is tried once; UHMM_PAGEMAP=scan|proc overrides the choice (a
 * kernel without the ioctl falls back to proc even when asked for scan).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../os.h"
#include "proc.h"

/*
 * The PAGEMAP_SCAN ABI, mirroring struct page_region, struct pm_scan_arg,
 * the PAGE_IS_* categories and PAGEMAP_SCAN in the kernel's
 * include/uapi/linux/fs.h (Linux 6.7), which Debian 12's headers predate.
 */
struct uhmm_page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct uhmm_pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;		/* out: where the walk stopped */
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define UHMM_PAGE_IS_WPALLOWED	(1ULL << 0)
#define UHMM_PAGE_IS_WRITTEN	(1ULL << 1)	/* uffd-wp async only */
#define UHMM_PAGE_IS_FILE	(1ULL << 2)
#define UHMM_PAGE_IS_PRESENT	(1ULL << 3)
#define UHMM_PAGE_IS_SWAPPED	(1ULL << 4)
#define UHMM_PAGE_IS_PFNZERO	(1ULL << 5)
#define UHMM_PAGE_IS_HUGE	(1ULL << 6)
#define UHMM_PAGE_IS_SOFT_DIRTY	(1ULL << 7)
#define UHMM_PAGEMAP_SCAN _IOWR('f', 16, struct uhmm_pm_scan_arg)

#define SCAN_CATEGORIES (UHMM_PAGE_IS_FILE | UHMM_PAGE_IS_PRESENT | \
			 UHMM_PAGE_IS_SWAPPED | UHMM_PAGE_IS_PFNZERO | \
			 UHMM_PAGE_IS_HUGE)

/* /proc/pid/pagemap entries (Documentation/admin-guide/mm/pagemap.rst). */
#define PME_PRESENT	(1ULL << 63)
#define PME_SWAPPED	(1ULL << 62)
#define PME_FILE	(1ULL << 61)	/* file page or shared anonymous */
#define PME_EXCLUSIVE	(1ULL << 56)
#define PME_PFN		((1ULL << 55) - 1)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define KPF_HUGE	(1ULL << 17)
#define KPF_THP		(1ULL << 22)
#define KPF_ZERO_PAGE	(1ULL << 24)

#define SCAN_REGIONS	32	/* page_region slots per ioctl */
#define PME_BATCH	256	/* pagemap entries per pread (2 KiB) */
#define FD_UNAVAILABLE	(-2)

enum { PB_NONE, PB_SCAN, PB_PROC };

static int backend;				/* atomic: PB_* once chosen */
static int pagemap_fd = UHMM__FD_NONE;		/* atomic; per address space */
static int kpageflags_fd = UHMM__FD_NONE;	/* atomic; system-wide */
static uint64_t zero_pfn;			/* atomic: 0 = unknown */
static int zero_pfn_tried;			/* atomic */

static off_t pme_offset(unsigned long addr)
{
	return (off_t)(addr / uhmm__os_page_size()) * (off_t)sizeof(uint64_t);
}

/* Read the pagemap entries of @n pages from @addr: 0 or -errno. */
static int read_pme(int fd, unsigned long addr, uint64_t *e, unsigned long n)
{
	long got = uhmm__pread_full(fd, e, n * sizeof(*e), pme_offset(addr));

	if (got < 0)
		return (int)got;
	return (unsigned long)got == n * sizeof(*e) ? 0 : -EIO;
}

/* Fold pagemap entry @e into state word @pg. */
static uint64_t merge_pme(uint64_t pg, uint64_t e)
{
	if (e & PME_SWAPPED)
		pg |= UHMM__PG_SWAPPED;
	if (e & PME_FILE)
		pg |= UHMM__PG_FILE;
	if (!(e & PME_PRESENT))
		return pg;	/* bits 0-54 are a swap entry, not a frame */
	pg |= UHMM__PG_PRESENT | UHMM__PG_EXCL_KNOWN | (e & PME_PFN);
	if (e & PME_EXCLUSIVE)
		pg |= UHMM__PG_EXCLUSIVE;
	return pg;
}

/* ------------------------------------------------------------------ */
/* /proc/self/pagemap                                                  */

/*
 * The zero page's frame number, learnt once from a private page that was
 * only read.  Raw system calls: the mapping is ours alone, so an mmap or
 * madvise interposer has nothing to hear about.  0 if frames are hidden.
 */
static uint64_t learn_zero_pfn(int fd)
{
	unsigned long ps = uhmm__os_page_size();
	uint64_t e = 0;
	void *p;

	p = (void *)syscall(SYS_mmap, NULL, ps, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	if (uhmm__os_populate((uintptr_t)p, (uintptr_t)p + ps, false) ||
	    read_pme(fd, (uintptr_t)p, &e, 1))
		e = 0;
	syscall(SYS_munmap, p, ps);
	if (!(e & PME_PRESENT) || (e & (PME_EXCLUSIVE | PME_FILE)))
		return 0;
	return e & PME_PFN;
}

static uint64_t get_zero_pfn(int fd)
{
	if (!__atomic_load_n(&zero_pfn_tried, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&zero_pfn, learn_zero_pfn(fd), __ATOMIC_RELAXED);
		__atomic_store_n(&zero_pfn_tried, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&zero_pfn, __ATOMIC_RELAXED);
}

/* The page flags of frame @pfn, or 0 if /proc/kpageflags is closed to us. */
static uint64_t kpageflags(uint64_t pfn)
{
	int fd = __atomic_load_n(&kpageflags_fd, __ATOMIC_ACQUIRE);
	int none = UHMM__FD_NONE;
	uint64_t flags;

	if (fd == FD_UNAVAILABLE)
		return 0;
	fd = uhmm__proc_fd(&kpageflags_fd, "/proc/kpageflags");
	if (fd < 0) {
		__atomic_compare_exchange_n(&kpageflags_fd, &none,
					    FD_UNAVAILABLE, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		return 0;
	}
	if (uhmm__pread_full(fd, &flags, sizeof(flags),
			     (off_t)(pfn * sizeof(flags))) != (long)sizeof(flags))
		return 0;
	return flags;
}

/*
 * Whether @n pages from @pg map @n contiguous frames starting at a multiple
 * of @n: what a PMD mapping of a huge page looks like from here.  Any such
 * run maps exactly what one huge device mapping would.
 */
static bool frames_contiguous(const uint64_t *pg, unsigned long n)
{
	uint64_t first = pg[0] & UHMM__PG_PFN_MASK;
	unsigned long i;

	if (!first || first % n)
		return false;
	for (i = 0; i < n; i++)
		if (!(pg[i] & UHMM__PG_PRESENT) ||
		    (pg[i] & UHMM__PG_PFN_MASK) != first + i)
			return false;
	return true;
}

/* Mark the PMD-sized blocks lying wholly inside the @n pages from @start. */
static void proc_mark_huge(unsigned long start, uint64_t *pg, unsigned long n)
{
	unsigned long ps = uhmm__os_page_size();
	unsigned long block = uhmm__os_thp_size() / ps;
	unsigned long i, j;
	uint64_t extra, kpf;

	if (block < 2)
		return;
	i = (block - (start / ps) % block) % block;
	for (; i + block <= n; i += block) {
		if (!frames_contiguous(pg + i, block))
			continue;
		kpf = kpageflags(pg[i] & UHMM__PG_PFN_MASK);
		if (kpf && !(kpf & (KPF_THP | KPF_HUGE)))
			continue;
		extra = UHMM__PG_HUGE;
		if (kpf & KPF_ZERO_PAGE)
			extra |= UHMM__PG_ZERO;		/* the huge zero page */
		for (j = 0; j < block; j++)
			pg[i + j] |= extra;
	}
}

static int proc_scan(int fd, unsigned long start, uint64_t *out,
		     unsigned long n)
{
	uint64_t zero;
	unsigned long i;
	int ret = read_pme(fd, start, out, n);

	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		out[i] = merge_pme(0, out[i]);
	zero = get_zero_pfn(fd);
	for (i = 0; zero && i < n; i++)
		if ((out[i] & UHMM__PG_PFN_MASK) == zero)
			out[i] |= UHMM__PG_ZERO;
	proc_mark_huge(start, out, n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* PAGEMAP_SCAN                                                        */

static uint64_t category_to_pg(uint64_t c)
{
	return (c & UHMM_PAGE_IS_PRESENT ? UHMM__PG_PRESENT : 0) |
	       (c & UHMM_PAGE_IS_SWAPPED ? UHMM__PG_SWAPPED : 0) |
	       (c & UHMM_PAGE_IS_FILE ? UHMM__PG_FILE : 0) |
	       (c & UHMM_PAGE_IS_PFNZERO ? UHMM__PG_ZERO : 0) |
	       (c & UHMM_PAGE_IS_HUGE ? UHMM__PG_HUGE : 0);
}

static void fill_region(const struct uhmm_page_region *r, unsigned long start,
			unsigned long end, uint64_t *out)
{
	unsigned long ps = uhmm__os_page_size();
	unsigned long a = r->start > start ? r->start : start;
	unsigned long e = r->end < end ? r->end : end;
	uint64_t pg = category_to_pg(r->categories);

	for (; a < e; a += ps)
		out[(a - start) / ps] = pg;
}

/* Categories of [start, end) into @out; pages in no region stay 0. */
static int scan_regions(int fd, unsigned long start, unsigned long end,
			uint64_t *out)
{
	struct uhmm_page_region v[SCAN_REGIONS];
	struct uhmm_pm_scan_arg a;
	long n, k;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = start;
	a.end = end;
	a.vec = (uintptr_t)v;
	a.vec_len = SCAN_REGIONS;
	a.return_mask = SCAN_CATEGORIES;
	while (a.start < end) {
		n = ioctl(fd, UHMM_PAGEMAP_SCAN, &a);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (k = 0; k < n; k++)
			fill_region(&v[k], start, end, out);
		/* A full vector stops the walk early at walk_end. */
		if (a.walk_end <= a.start || a.walk_end > end)
			return -EIO;
		a.start = a.walk_end;
	}
	return 0;
}

/* Does page state @pg need its pagemap entry? */
static bool needs_pme(uint64_t pg, bool want_pfn)
{
	if (!(pg & UHMM__PG_PRESENT))
		return false;
	return want_pfn || !(pg & (UHMM__PG_FILE | UHMM__PG_ZERO));
}

/* Add exclusivity and frame numbers from pagemap where they matter. */
static int scan_add_pme(int fd, unsigned long start, uint64_t *out,
			unsigned long n, bool want_pfn)
{
	unsigned long ps = uhmm__os_page_size();
	uint64_t e[PME_BATCH];
	unsigned long i = 0, run, k;
	int ret;

	while (i < n) {
		if (!needs_pme(out[i], want_pfn)) {
			i++;
			continue;
		}
		for (run = 1; i + run < n && run < PME_BATCH &&
		     needs_pme(out[i + run], want_pfn); run++)
			;
		ret = read_pme(fd, start + i * ps, e, run);
		if (ret)
			return ret;
		/* A page gone since the scan keeps its exclusivity unknown. */
		for (k = 0; k < run; k++)
			if (e[k] & PME_PRESENT)
				out[i + k] = merge_pme(out[i + k], e[k]);
		i += run;
	}
	return 0;
}

static int scan_scan(int fd, unsigned long start, unsigned long end,
		     uint64_t *out, bool want_pfn)
{
	unsigned long n = (end - start) / uhmm__os_page_size();
	int ret;

	memset(out, 0, n * sizeof(*out));
	ret = scan_regions(fd, start, end, out);
	if (ret)
		return ret;
	return scan_add_pme(fd, start, out, n, want_pfn);
}

/* ------------------------------------------------------------------ */
/* Choice and entry points                                             */

/* One scan of the page holding a stack variable: does the ioctl exist? */
static bool scan_works(int fd)
{
	unsigned long ps = uhmm__os_page_size();
	unsigned long page = (uintptr_t)&ps & ~(ps - 1);
	struct uhmm_page_region v;
	struct uhmm_pm_scan_arg a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = page;
	a.end = page + ps;
	a.vec = (uintptr_t)&v;
	a.vec_len = 1;
	a.return_mask = SCAN_CATEGORIES;
	return ioctl(fd, UHMM_PAGEMAP_SCAN, &a) >= 0;
}

static int choose(int fd)
{
	int b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);

	if (__builtin_expect(b != PB_NONE, 1))
		return b;
	if (uhmm__env_choice("UHMM_PAGEMAP", "scan", "proc") != 2 &&
	    fd >= 0 && scan_works(fd))
		b = PB_SCAN;
	else
		b = PB_PROC;
	/* Racing first callers probe alike and store the same answer. */
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
	return b;
}

int uhmm__os_page_scan(unsigned long start, unsigned long end, uint64_t *out,
		       bool want_pfn)
{
	unsigned long mask = uhmm__os_page_size() - 1;
	int saved = errno;
	int fd, ret;

	if ((start | end) & mask || start > end)
		return -EINVAL;
	fd = uhmm__proc_fd(&pagemap_fd, "/proc/self/pagemap");
	if (fd < 0)
		ret = fd;
	else if (choose(fd) == PB_SCAN)
		ret = scan_scan(fd, start, end, out, want_pfn);
	else
		ret = proc_scan(fd, start, out, (end - start) / (mask + 1));
	errno = saved;
	return ret;
}

const char *uhmm__os_page_backend(void)
{
	int saved = errno;
	int b = choose(uhmm__proc_fd(&pagemap_fd, "/proc/self/pagemap"));

	errno = saved;
	return b == PB_SCAN ? "pagemap_scan" : "proc_pagemap";
}

void uhmm__os_page_fork_child(void)
{
	uhmm__proc_fd_reset(&pagemap_fd);
}
