/* SPDX-License-Identifier: MIT */
/*
 * uapi_pagemap_scan.h - the PAGEMAP_SCAN ioctl's ABI, mirroring struct
 * page_region, struct pm_scan_arg, the PAGE_IS_* categories and PAGEMAP_SCAN
 * of the kernel's include/uapi/linux/fs.h (Linux 6.7), which Debian 12's
 * headers predate.  Shared by the OS layer's reader and the benchmark's raw
 * baseline, so both speak the same ABI.
 */
#ifndef UHMM_UAPI_PAGEMAP_SCAN_H
#define UHMM_UAPI_PAGEMAP_SCAN_H

#include <stdint.h>
#include <sys/ioctl.h>

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

/* The categories a snapshot needs: present, swapped, file, zero, huge. */
#define UHMM_PAGE_SNAPSHOT_CATEGORIES					\
	(UHMM_PAGE_IS_FILE | UHMM_PAGE_IS_PRESENT | UHMM_PAGE_IS_SWAPPED |	\
	 UHMM_PAGE_IS_PFNZERO | UHMM_PAGE_IS_HUGE)

#endif /* UHMM_UAPI_PAGEMAP_SCAN_H */
