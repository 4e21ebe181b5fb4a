/* SPDX-License-Identifier: MIT */
/*
 * os.h - the OS layer: every system call and kernel interface uhmm uses.
 *
 * Contract for all functions here:
 *  - errors are returned as 0 / -errno; errno is preserved for the caller;
 *  - none allocates with malloc (buffers are the caller's or on the stack),
 *    so they may run on hook and callback paths unless marked otherwise;
 *  - none takes a uhmm lock; each may block in the kernel (system calls).
 *
 * Implementations live in src/os/linux/.  Nothing above this layer includes
 * <sys/syscall.h>, <linux/fs.h>, <linux/userfaultfd.h> or reads /proc.
 */
#ifndef UHMM_OS_H
#define UHMM_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Basics                                                              */

/* Base page size, cached at first call (never 0). */
unsigned long uhmm__os_page_size(void);

/* The kernel thread id of the caller (cached per thread; no system call
 * after the first). */
int uhmm__os_gettid(void);

/* In a fork child, before anything else: forget per-process caches. */
void uhmm__os_fork_child(void);

/*
 * Zeroed private memory of @len bytes for uhmm's own large state, straight
 * from the kernel: bare system calls, so capture does not see it, no
 * allocator lock is taken (safe in a fork child whatever another thread
 * held), and untouched pages cost nothing.  Return: the memory, or NULL.
 */
void *uhmm__os_map_zeroed(size_t len);
/* Give back memory from uhmm__os_map_zeroed() (same @len). */
void uhmm__os_unmap(void *p, size_t len);

/* ------------------------------------------------------------------ */
/* VMAs: what the address space maps where.                           */

#define UHMM__VMA_READ		(1u << 0)
#define UHMM__VMA_WRITE		(1u << 1)
#define UHMM__VMA_EXEC		(1u << 2)
#define UHMM__VMA_SHARED	(1u << 3)
#define UHMM__VMA_FILE		(1u << 4)	/* backed by a file (incl. shmem) */
#define UHMM__VMA_HUGETLB	(1u << 5)
#define UHMM__VMA_IO		(1u << 6)	/* VM_IO / VM_PFNMAP: no struct page */

struct uhmm__vma {
	unsigned long start;		/* first byte */
	unsigned long end;		/* one past the last byte */
	unsigned int flags;		/* UHMM__VMA_* */
	unsigned long page_size;	/* the VMA's page size (hugetlb: huge) */
};

/*
 * uhmm__os_vma_find() - the VMA containing @addr, or else the first one above.
 * Return: 0 with *@vma filled; -ENOENT if no VMA ends above @addr; other
 * -errno on failure.  Uses the PROCMAP_QUERY ioctl (6.11+) or parses
 * /proc/self/maps (UHMM_VMA=query|maps overrides the run-time choice).
 */
__attribute__((visibility("default")))	/* UHMM_PRIVATE: capture uses it */
int uhmm__os_vma_find(unsigned long addr, struct uhmm__vma *vma);

/* Which VMA reader is in use: "procmap_query" or "proc_maps". */
const char *uhmm__os_vma_backend(void);

/* ------------------------------------------------------------------ */
/* Page state                                                          */

/* Per-page state word produced by uhmm__os_page_scan(). */
#define UHMM__PG_PRESENT	(1ULL << 63)
#define UHMM__PG_SWAPPED	(1ULL << 62)
#define UHMM__PG_FILE		(1ULL << 61)	/* file page or shared anon */
#define UHMM__PG_EXCLUSIVE	(1ULL << 60)	/* mapped only here (no COW share) */
#define UHMM__PG_ZERO		(1ULL << 59)	/* the shared zero page */
#define UHMM__PG_HUGE		(1ULL << 58)	/* PMD-mapped THP or hugetlb */
#define UHMM__PG_WRITTEN	(1ULL << 57)	/* known writable without fault */
#define UHMM__PG_EXCL_KNOWN	(1ULL << 56)	/* EXCLUSIVE bit is meaningful */
#define UHMM__PG_PFN_MASK	((1ULL << 55) - 1)

/*
 * uhmm__os_page_scan() - state of each page of [start, end), inside one VMA.
 * @out: (end - start) / page size words.
 * @want_pfn: also report frame numbers where readable (may cost more).
 * Return: 0 or -errno.  Backend: the PAGEMAP_SCAN ioctl (6.7+) or
 * /proc/self/pagemap (UHMM_PAGEMAP=scan|proc overrides the run-time choice).
 */
int uhmm__os_page_scan(unsigned long start, unsigned long end, uint64_t *out,
		       bool want_pfn);

/* Which page-state reader is in use: "pagemap_scan" or "proc_pagemap". */
const char *uhmm__os_page_backend(void);

/*
 * uhmm__os_populate() - make [start, end) present, writable if @write
 * (MADV_POPULATE_READ / MADV_POPULATE_WRITE).
 * Return: 0; -ENOMEM (not mapped / out of memory); -EFAULT (the access
 * would have raised SIGBUS/SIGSEGV); -EINVAL (permissions); -EINTR.
 */
int uhmm__os_populate(unsigned long start, unsigned long end, bool write);

/* Size of a PMD-mapped transparent huge page in bytes (0 if no THP). */
unsigned long uhmm__os_thp_size(void);

#endif /* UHMM_OS_H */
