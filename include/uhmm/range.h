/* SPDX-License-Identifier: MIT */
/*
 * uhmm/range.h - fault or snapshot a range of the calling process's memory
 * (the kernel's hmm_range_fault()).
 *
 * The caller passes one 64-bit word per page.  On input each word is a
 * request, computed per page as (in & pfn_flags_mask) | default_flags:
 *
 *   UHMM_PFN_REQ_FAULT  make the page present (readable)
 *   UHMM_PFN_REQ_WRITE  make it present and writable (breaks copy-on-write);
 *                       implies REQ_FAULT
 *   neither             snapshot: report the page as it is, fault nothing
 *
 * On output each word holds flags and, where the system lets us read it, the
 * page frame number:
 *
 *   UHMM_PFN_VALID   the page is present and readable
 *   UHMM_PFN_WRITE   ... and writable without a fault
 *   UHMM_PFN_ERROR   no usable mapping: a hole, or no read access (PROT_NONE),
 *                    as the kernel reports it
 *   UHMM_PFN_ZERO    the page is the shared zero page (uhmm extension)
 *   order            uhmm_pfn_to_map_order(): log2 of the mapping size in
 *                    pages (THP, hugetlb), 0 for base pages
 *   frame number     uhmm_pfn_to_pfn(); 0 unless UHMM_RANGE_WANT_PFN was asked
 *                    and the process may read frame numbers (CAP_SYS_ADMIN)
 *
 * Snapshot results: a hole -> ERROR; mapped but never touched -> 0; the zero
 * page -> VALID | ZERO; PROT_NONE -> ERROR (the kernel's hmm_vma_walk_test).
 *
 * What userspace cannot see: the kernel also moves pages on reclaim,
 * compaction, NUMA balancing and KSM, and tells no one in userspace.  A frame
 * number is a snapshot; a mirror that needs stable physical pages must pin
 * them (see docs/range.md).
 */
#ifndef UHMM_RANGE_H
#define UHMM_RANGE_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct uhmm_interval_sub;

#define UHMM_PFN_VALID		(1ULL << 63)
#define UHMM_PFN_WRITE		(1ULL << 62)
#define UHMM_PFN_ERROR		(1ULL << 61)
#define UHMM_PFN_ORDER_SHIFT	56
#define UHMM_PFN_ORDER_MASK	(0x1fULL << UHMM_PFN_ORDER_SHIFT)
#define UHMM_PFN_ZERO		(1ULL << 55)
#define UHMM_PFN_PFN_MASK	((1ULL << 55) - 1)
#define UHMM_PFN_FLAGS		(~UHMM_PFN_PFN_MASK)

#define UHMM_PFN_REQ_FAULT	UHMM_PFN_VALID
#define UHMM_PFN_REQ_WRITE	UHMM_PFN_WRITE

/* struct uhmm_range.flags */
#define UHMM_RANGE_WANT_PFN	(1u << 0)	/* report frame numbers */

/**
 * struct uhmm_range - one range fault or snapshot.  Every field is public
 * input except @pfns, which is also the output.
 * @notifier: the interval subscription covering the range, or NULL.  When
 *	set, an invalidation of it during the call makes the call return -EBUSY.
 * @notifier_seq: the value uhmm_interval_read_begin(@notifier) returned.
 * @mm: the address space when @notifier is NULL (otherwise ignored: the
 *	notifier's mm is used).
 * @start: first byte, page aligned.
 * @end: one past the last byte, page aligned, > @start.
 * @pfns: (@end - @start) / page size words: requests in, results out.
 * @default_flags: request flags added to every page.
 * @pfn_flags_mask: which bits of each input word are requests.
 * @flags: UHMM_RANGE_WANT_PFN.
 */
struct uhmm_range {
	struct uhmm_interval_sub *notifier;
	unsigned long notifier_seq;
	struct uhmm_mm *mm;
	unsigned long start;
	unsigned long end;
	uint64_t *pfns;
	uint64_t default_flags;
	uint64_t pfn_flags_mask;
	unsigned int flags;
};

/**
 * uhmm_range_fault() - fault and/or snapshot [start, end).
 * @range: the request; see the header comment.
 *
 * Takes a users reference on the mm for the duration (fails if teardown has
 * begun).  Faults with MADV_POPULATE_READ / MADV_POPULATE_WRITE, reads page
 * state with the PAGEMAP_SCAN ioctl where the kernel has it (6.7+) and
 * /proc/self/pagemap otherwise (UHMM_PAGEMAP=scan|proc overrides the run-time
 * choice).
 *
 * Context: any thread; not from inside a uhmm callback; takes no uhmm lock
 * the caller could hold, and must not be called with the owner lock held (a
 * fault can trigger an invalidation that needs it).  Blocks (system calls).
 * Return:
 *   0        every page's word is filled in;
 *   -EBUSY   an invalidation hit @notifier: start again from read_begin;
 *   -EFAULT  a fault was requested on a page with no mapping or no read
 *            access, or the kernel could not make it present;
 *   -EPERM   a write was requested on a mapping without write access;
 *   -EINVAL  a NULL or unaligned range, start >= end, or no mm;
 *   -ESRCH   the address space has been torn down (or is inert after fork);
 *   -EDEADLK called from inside a uhmm callback;
 *   -ENOMEM  the kernel ran out of memory.
 * On an error other than -EBUSY the content of @pfns is unspecified.
 */
UHMM_API UHMM_MUST_CHECK int uhmm_range_fault(struct uhmm_range *range);

/** uhmm_pfn_to_map_order() - log2 of the mapping size, in pages. */
static inline unsigned int uhmm_pfn_to_map_order(uint64_t pfn)
{
	return (unsigned int)((pfn & UHMM_PFN_ORDER_MASK) >> UHMM_PFN_ORDER_SHIFT);
}

/** uhmm_pfn_to_pfn() - the frame number in a result word (0 if unknown). */
static inline uint64_t uhmm_pfn_to_pfn(uint64_t pfn)
{
	return pfn & UHMM_PFN_PFN_MASK;
}

/**
 * uhmm_range_backend() - the page-state reader in use: "pagemap_scan" or
 * "proc_pagemap".
 */
UHMM_API const char *uhmm_range_backend(void);

UHMM_END_DECLS

#endif /* UHMM_RANGE_H */
