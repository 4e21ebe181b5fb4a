/* SPDX-License-Identifier: MIT */
/*
 * pagemap_scan.c - the page-state reader over the PAGEMAP_SCAN ioctl
 * (Linux 6.7+).  It reports page categories in runs, zero page and
 * PMD/hugetlb mappings included, frame numbers never.  It has no "mapped
 * only here" category, and that is what decides whether a private page is
 * writable without a copy-on-write fault (a page shared with a fork child
 * is not), so for present anonymous pages the 8-byte /proc/self/pagemap
 * entries are read as well; they carry the frame number, which want_pfn
 * needs for the other present pages too.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../os.h"
#include "pagemap.h"
#include "uapi_pagemap_scan.h"

#define SCAN_CATEGORIES UHMM_PAGE_SNAPSHOT_CATEGORIES

#define SCAN_REGIONS	32	/* page_region slots per ioctl */
#define PME_BATCH	256	/* pagemap entries per pread (2 KiB) */

static void scan_arg_init(struct uhmm_pm_scan_arg *a, unsigned long start,
			  unsigned long end, struct uhmm_page_region *vec,
			  unsigned long vec_len)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->start = start;
	a->end = end;
	a->vec = (uintptr_t)vec;
	a->vec_len = vec_len;
	a->return_mask = SCAN_CATEGORIES;
}

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

	scan_arg_init(&a, start, end, v, SCAN_REGIONS);
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
		ret = uhmm__os_pagemap_read(fd, start + i * ps, e, run);
		if (ret)
			return ret;
		/* A page gone since the scan keeps its exclusivity unknown. */
		for (k = 0; k < run; k++, i++)
			if (e[k] & PME_PRESENT)
				out[i] = uhmm__os_pagemap_merge(out[i], e[k]);
	}
	return 0;
}

int uhmm__os_pagemap_scan_read(int fd, unsigned long start, unsigned long end,
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

/* One scan of the page holding a stack variable: does the ioctl exist? */
bool uhmm__os_pagemap_scan_probe(int fd)
{
	unsigned long ps = uhmm__os_page_size();
	unsigned long page = (uintptr_t)&ps & ~(ps - 1);
	struct uhmm_page_region v;
	struct uhmm_pm_scan_arg a;

	scan_arg_init(&a, page, page + ps, &v, 1);
	return ioctl(fd, UHMM_PAGEMAP_SCAN, &a) >= 0;
}
