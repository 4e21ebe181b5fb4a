/* SPDX-License-Identifier: MIT */
/*
 * pagemap.h - what the two page-state readers share with the choice
 * between them:
 *   pagemap.c       the run-time choice, the entry points, the cached
 *                   /proc/self/pagemap descriptor and its 8-byte entries;
 *   pagemap_scan.c  the PAGEMAP_SCAN ioctl reader (Linux 6.7+), which still
 *                   reads entries for what the ioctl does not report;
 *   pagemap_proc.c  the /proc/self/pagemap entry reader (any kernel), with
 *                   /proc/kpageflags.
 *
 * Both readers take the pagemap descriptor, a page-aligned [start, end)
 * inside one VMA and an array of (end - start) / page size state words
 * (UHMM__PG_* of os.h).  They never allocate; they may change errno
 * (uhmm__os_page_scan() restores it).
 */
#ifndef UHMM_OS_LINUX_PAGEMAP_H
#define UHMM_OS_LINUX_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "../os.h"

/* /proc/pid/pagemap entries (Documentation/admin-guide/mm/pagemap.rst). */
#define PME_PRESENT	(1ULL << 63)
#define PME_SWAPPED	(1ULL << 62)
#define PME_FILE	(1ULL << 61)	/* file page or shared anonymous */
#define PME_EXCLUSIVE	(1ULL << 56)
#define PME_PFN		((1ULL << 55) - 1)

/* Read the pagemap entries of @n pages from @addr: 0 or -errno. */
int uhmm__os_pagemap_read(int fd, unsigned long addr, uint64_t *e,
			  unsigned long n);

/* Fold pagemap entry @e into state word @pg.  Inline: runs per page. */
static inline uint64_t uhmm__os_pagemap_merge(uint64_t pg, uint64_t e)
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

/* Does this kernel answer PAGEMAP_SCAN on @fd?  Tried once, by the choice. */
bool uhmm__os_pagemap_scan_probe(int fd);

/* uhmm__os_page_scan() through PAGEMAP_SCAN: 0 or -errno. */
int uhmm__os_pagemap_scan_read(int fd, unsigned long start, unsigned long end,
			       uint64_t *out, bool want_pfn);

/* uhmm__os_page_scan() from the entries alone (frames always read). */
int uhmm__os_pagemap_proc_read(int fd, unsigned long start, unsigned long end,
			       uint64_t *out);

#endif /* UHMM_OS_LINUX_PAGEMAP_H */
