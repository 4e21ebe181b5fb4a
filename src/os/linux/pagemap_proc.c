/* SPDX-License-Identifier: MIT */
/*
 * pagemap_proc.c - the page-state reader over /proc/self/pagemap alone:
 * one 8-byte entry per page, for kernels without PAGEMAP_SCAN.  Frame
 * numbers read as 0 without CAP_SYS_ADMIN; where they are readable the
 * zero page is recognised by its frame number (learnt once from a fresh
 * read-faulted page), and a PMD-sized, PMD-aligned run of contiguous frames
 * as a huge mapping (confirmed through /proc/kpageflags where readable).
 * Without frame numbers neither is recognised.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../os.h"
#include "pagemap.h"
#include "proc.h"

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define KPF_HUGE	(1ULL << 17)
#define KPF_THP		(1ULL << 22)
#define KPF_ZERO_PAGE	(1ULL << 24)

#define FD_UNAVAILABLE	(-2)	/* kpageflags_fd: failed to open, no retry */

static int kpageflags_fd = UHMM__FD_NONE;	/* atomic; system-wide */
static uint64_t zero_pfn;			/* atomic: 0 = unknown */
static int zero_pfn_tried;			/* atomic */

/* ------------------------------------------------------------------ */
/* The zero page                                                       */

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
	    uhmm__os_pagemap_read(fd, (uintptr_t)p, &e, 1))
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

/* ------------------------------------------------------------------ */
/* Huge mappings                                                       */

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

/* ------------------------------------------------------------------ */
/* Entry point                                                         */

int uhmm__os_pagemap_proc_read(int fd, unsigned long start, unsigned long end,
			       uint64_t *out)
{
	unsigned long i, n = (end - start) / uhmm__os_page_size();
	uint64_t zero;
	int ret = uhmm__os_pagemap_read(fd, start, out, n);

	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		out[i] = uhmm__os_pagemap_merge(0, out[i]);
	zero = get_zero_pfn(fd);
	for (i = 0; zero && i < n; i++)
		if ((out[i] & UHMM__PG_PFN_MASK) == zero)
			out[i] |= UHMM__PG_ZERO;
	proc_mark_huge(start, out, n);
	return 0;
}
