/* SPDX-License-Identifier: MIT */
/*
 * range_walk.h - what uhmm_range_fault() (range.c: checks, the walk from
 * VMA to VMA, retry passes) shares with the work on one piece of a VMA
 * (range_walk.c: requests, faulting, the result words).
 */
#ifndef UHMM_RANGE_WALK_H
#define UHMM_RANGE_WALK_H

#include "internal.h"

/* Pages per chunk: 4 KiB of page states on the stack, and with 4 KiB
 * pages one PMD, so a THP is read whole. */
#define UHMM__RANGE_CHUNK_PAGES	512
/* Read this chunk again.  Positive: never reaches uhmm_range_fault()'s
 * caller. */
#define UHMM__RANGE_AGAIN	1

#define UHMM__RANGE_REQ_ALL	(UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE)

/* One uhmm_range_fault() call; set up once, read-only during the walk. */
struct uhmm__range_walk {
	struct uhmm_range *range;
	unsigned long ps;		/* base page size */
	unsigned int shift;		/* log2(ps) */
	bool may_fault;			/* some page may request a fault */
	bool want_pfn;
};

/*
 * No usable mapping over [start, end) (a hole, PROT_NONE, VM_IO): ERROR
 * for each page, as the kernel's hmm_vma_walk_hole() / _walk_test().
 * Return: 0, or -EFAULT where a page requested a fault.
 */
int uhmm__range_hole(const struct uhmm__range_walk *w, unsigned long start,
		     unsigned long end);

/*
 * A snapshot (no page may request a fault) of [start, end) inside @vma,
 * any length.  Return: 0 or -errno.
 */
int uhmm__range_snapshot(const struct uhmm__range_walk *w,
			 const struct uhmm__vma *vma, unsigned long start,
			 unsigned long end);

/* Reads of one chunk before the walk gives up with -EBUSY (or, when every
 * one of them found the pages unmapped, believes it: -ENOMEM). */
#define UHMM__RANGE_MAX_PASSES	8

/*
 * One chunk [start, end) of @vma, at most UHMM__RANGE_CHUNK_PAGES pages:
 * read it, fault the pages whose requests are not met, and write the
 * results once nothing needed a fault.  @pass counts the reads of this
 * chunk so far.  Return: 0 (written), UHMM__RANGE_AGAIN (faulted or the
 * VMA changed: read the chunk again), or -errno.
 */
int uhmm__range_chunk(const struct uhmm__range_walk *w,
		      const struct uhmm__vma *vma, unsigned long start,
		      unsigned long end, unsigned int pass);

#endif /* UHMM_RANGE_WALK_H */
