/* SPDX-License-Identifier: MIT */
/*
 * bench_range.h - what the uhmm_range_fault() figure groups share: a range
 * of base pages, the buffers both sides of a comparison use, and helpers.
 */
#ifndef UHMM_BENCH_RANGE_H
#define UHMM_BENCH_RANGE_H

#include <stdint.h>

#include "bench.h"
#include "uapi_pagemap_scan.h"

struct uhmm_mm;

/* struct page_region of the PAGEMAP_SCAN ioctl (linux/fs.h, 6.7+). */

/* A range of memory and the buffers both sides of a comparison need. */
struct rbench {
	unsigned long page;
	unsigned long npages;
	unsigned long len;
	char *mem;			/* populated range (snapshot only) */
	uint64_t *pfns;			/* uhmm side: one word per page */
	struct uhmm_page_region *vec;	/* raw PAGEMAP_SCAN output */
	uint64_t *words;		/* raw /proc/self/pagemap output */
	int pagemap_fd;
	struct uhmm_mm *mm;
};

/* Set up @rb for a 64 MiB range (8 MiB with --quick); 0 or -1. */
int rbench_init(struct rbench *rb);
void rbench_fini(struct rbench *rb);

/* A fresh anonymous MADV_NOHUGEPAGE range of @len bytes; NULL on failure. */
char *rbench_map_fresh(unsigned long len);

/* uhmm_range_fault() of @rb->len bytes at @mem, @req in default_flags. */
int rbench_range_fault(struct rbench *rb, char *mem, uint64_t req);

/* Every result word in @rb->pfns has all of @want; else print and fail. */
int rbench_check_words(const struct rbench *rb, uint64_t want,
		       const char *what);

/* Report side 0 against side 1 in pages/s, ratio 0 / 1 against @goal_ratio. */
void rbench_report(const char *name, const struct bench_side *s,
		   const char *goal, double goal_ratio);

#endif /* UHMM_BENCH_RANGE_H */
