/* SPDX-License-Identifier: MIT */
/*
 * demo_check.c - the devices' translations against what the CPU maps.
 *
 * Two checks, both exact about the changes the demo makes itself:
 *
 * 1. After a change (free / munmap / mremap / MADV_DONTNEED: every entry of
 *    the range; mprotect(PROT_READ): every write entry), no device may keep
 *    an entry for the old memory.  Nothing can fault it in again while the
 *    check runs (demo_workload.c), so an entry there is one the
 *    invalidation failed to drop: "kept after a change".
 *
 * 2. After each access, under the pin, each page's entry is compared with
 *    the frame the CPU maps now (/proc/self/pagemap; needs CAP_SYS_ADMIN).
 *    A write entry on read-only memory is stale.  A different frame is
 *    stale when the slot had a change that replaces frames (DONTNEED,
 *    mremap) since this device's last access to it, or when the device
 *    never accessed this incarnation yet its memory was mmap()ed for it (the
 *    entry belongs to a mapping removed since), or right after the device's
 *    own WRITE (it just made those entries).  Otherwise the page was
 *    replaced by something userspace is not told about, reported once per
 *    page and not counted as stale: copy-on-write of the zero page by
 *    another device's write (the record counts those), or "other": the
 *    kernel moving it (compaction, reclaim: MODEL.md 6), or, on the first
 *    access to a block from the heap, copy-on-write by the CPU's fill of
 *    memory an earlier block left mapped to the zero page (the heap may
 *    hand out the same pages again, so the entry need not be stale; a large
 *    block may come from the heap too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/dmirror.h>

#include "demo.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define MAX_REPORTS	10

/**
 * demo_report_problem() - one line on stderr per problem, the first
 * MAX_REPORTS of them: the details a device bug report needs.
 */
void demo_report_problem(const char *fmt, ...)
{
	static unsigned int reports;
	va_list ap;

	if (__atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED) >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "uhmm demo: PROBLEM: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* The frame the CPU maps at @addr now, 0 if none. */
static uint64_t cpu_pfn(uintptr_t addr)
{
	uint64_t e = 0;
	off_t off = (off_t)(addr / demo_page()) * (off_t)sizeof(e);

	if (pread(demo.pagemap_fd, &e, sizeof(e), off) != (ssize_t)sizeof(e))
		return 0;
	return e & PM_PRESENT ? e & PM_PFN_MASK : 0;
}

/**
 * demo_pagemap_open() - open /proc/self/pagemap if it shows frame numbers
 * (the kernel zeroes them without CAP_SYS_ADMIN).
 *
 * Return: 0 with demo.pagemap_fd set, or -EPERM / -errno with it -1.
 */
int demo_pagemap_open(void)
{
	char *p;
	int ret = -EPERM;

	demo.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (demo.pagemap_fd < 0)
		return -errno;
	p = mmap(NULL, demo_page(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		ret = -errno;
	else if ((*(volatile char *)p = 1) && cpu_pfn((uintptr_t)p))
		ret = 0;
	if (p != MAP_FAILED)
		munmap(p, demo_page());
	if (ret) {
		close(demo.pagemap_fd);
		demo.pagemap_fd = -1;
	}
	return ret;
}

/* Every device, every page of [@addr, @addr + @len): no (write) entry. */
static void check_pages(const char *what, uintptr_t addr, size_t len,
			bool write_only)
{
	unsigned int d;
	size_t off;
	int prot;

	for (d = 0; d < demo.cfg.devices; d++) {
		for (off = 0; off < len; off += demo_page()) {
			prot = uhmm_dmirror_lookup(demo.dev[d], addr + off,
						   NULL);
			if (prot == UHMM_DMIRROR_PROT_NONE ||
			    (write_only && prot != UHMM_DMIRROR_PROT_WRITE))
				continue;
			demo_inc(demo.c.stale_kept);
			demo_report_problem("device %u kept a %s entry for %#lx after %s",
					    d, prot == UHMM_DMIRROR_PROT_WRITE ?
					    "write" : "read",
					    (unsigned long)(addr + off), what);
		}
	}
}

/**
 * demo_check_dropped() - check 1: no device keeps an entry (a write entry,
 * with @write_only) for [@addr, @addr + @len) after @what changed it.
 *
 * Context: workload thread, while nothing can map the range again.
 */
void demo_check_dropped(const char *what, uintptr_t addr, size_t len,
			bool write_only)
{
	check_pages(what, addr, len, write_only);
	demo_inc(demo.c.changes_checked);
}

/* Is the page at @addr mapped?  mincore() fails with ENOMEM if not. */
static bool unmapped(uintptr_t addr)
{
	unsigned char v;

	return mincore((void *)addr, demo_page(), &v) && errno == ENOMEM;
}

/**
 * demo_check_unmapped() - check 1 for the pages of [@addr, @addr + @len)
 * that @what (a free()) unmapped: it cannot be known beforehand which.
 *
 * Return: how many were unmapped.
 */
size_t demo_check_unmapped(const char *what, uintptr_t addr, size_t len)
{
	size_t off, gone = 0;

	for (off = 0; off < len; off += demo_page()) {
		if (!unmapped(addr + off))
			continue;
		check_pages(what, addr + off, demo_page(), false);
		gone++;
	}
	if (gone)
		demo_inc(demo.c.changes_checked);
	return gone;
}

struct verdict {
	uint64_t stale;		/* pages */
	uint64_t moved;		/* pages with another frame, not stale */
};

/* One page: a stale permission, or a frame other than the CPU's. */
static void check_page(unsigned int dev, const struct demo_record *rec,
		       unsigned int i, struct verdict *v)
{
	uintptr_t addr = (uintptr_t)rec->addr + i * demo_page();
	uint64_t pfn = 0, cur;
	int prot;

	prot = uhmm_dmirror_lookup(demo.dev[dev], addr, &pfn);
	if (prot == UHMM_DMIRROR_PROT_NONE)
		return;		/* dropped since: allowed */
	if (rec->ro && prot == UHMM_DMIRROR_PROT_WRITE) {
		v->stale |= 1ULL << i;
		demo_report_problem("device %u: write entry for read-only %#lx",
				    dev, (unsigned long)addr);
		return;
	}
	if (demo.pagemap_fd < 0 || !pfn)
		return;
	cur = cpu_pfn(addr);
	if (!cur)
		return;
	demo_inc(demo.c.entries_checked);
	if (cur != pfn)
		v->moved |= 1ULL << i;
}

static unsigned int bits(uint64_t x)
{
	return (unsigned int)__builtin_popcountll(x);
}

/* Which frame mismatches are stale, under the slot lock. */
static void classify(struct demo_seen *seen, const struct demo_record *rec,
		     bool own_write, struct verdict *v)
{
	bool stale;

	if (seen->valid && seen->changes != rec->changes)
		seen->reported = 0;	/* new frames since */
	if (own_write)
		stale = true;
	else if (!seen->valid)
		stale = rec->kind == KIND_MMAP;
	else
		stale = seen->changes != rec->changes;
	if (stale) {
		v->stale |= v->moved;
	} else {
		v->moved &= ~seen->reported;
		seen->reported |= v->moved;
		if (seen->valid && seen->cows != rec->cows)
			demo_add(demo.c.moved_cow, bits(v->moved));
		else
			demo_add(demo.c.moved_kernel, bits(v->moved));
	}
	seen->valid = true;
	seen->changes = rec->changes;
	seen->cows = rec->cows;
}

/**
 * demo_check_access() - check 2, after device @dev accessed pinned slot @s.
 * @rec: the record as the access left it.
 * @own_write: the device just wrote every page: its entries are new.
 */
void demo_check_access(unsigned int dev, struct demo_slot *s,
		       const struct demo_record *rec, bool own_write)
{
	struct verdict v = { 0, 0 };
	unsigned int i, n = (unsigned int)(rec->len / demo_page());

	for (i = 0; i < n; i++)
		check_page(dev, rec, i, &v);
	pthread_mutex_lock(&s->lock);
	classify(&s->seen[dev], rec, own_write, &v);
	pthread_mutex_unlock(&s->lock);
	if (!v.stale)
		return;
	demo_add(demo.c.stale_frame, bits(v.stale));
	demo_report_problem("device %u: %u stale entries in %p (slot %u, gen %llu, %zu pages, pages %#llx)",
			    dev, bits(v.stale), (void *)rec->addr, s->index,
			    (unsigned long long)rec->gen, rec->len / demo_page(),
			    (unsigned long long)v.stale);
}
