/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache_ucx.c - uhmm-bench-rcache-ucx's cache: UCX's ucs_rcache
 * (libucs) with the trivial backend (bench_rcache.h), the way UCX's own
 * transports create theirs: invalidated by UCM_EVENT_VM_UNMAPPED, which
 * UCM's hooks raise inside munmap, mmap(MAP_FIXED), mremap, madvise,
 * shmdt and brk, before the change.  An event that finds the cache's page
 * table lock free invalidates at once (the region waits on a garbage list
 * for the next cache call); one that finds it busy is queued.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ucm/api/ucm.h>
#include <ucs/memory/rcache.h>

#include "bench_rcache.h"

struct bench_region {
	ucs_rcache_region_t super;
	uint64_t key;
};

static ucs_rcache_t *cache;
static uint64_t nreg, ndereg;		/* atomic */

static ucs_status_t mem_reg(void *ctx, ucs_rcache_t *rc, void *arg,
			    ucs_rcache_region_t *r, uint16_t flags)
{
	(void)ctx;
	(void)rc;
	(void)arg;
	(void)flags;
	((struct bench_region *)r)->key = r->super.start;
	__atomic_add_fetch(&nreg, 1, __ATOMIC_RELAXED);
	return UCS_OK;
}

static void mem_dereg(void *ctx, ucs_rcache_t *rc, ucs_rcache_region_t *r)
{
	(void)ctx;
	(void)rc;
	(void)r;
	__atomic_add_fetch(&ndereg, 1, __ATOMIC_RELAXED);
}

static void dump_region(void *ctx, ucs_rcache_t *rc, ucs_rcache_region_t *r,
			char *buf, size_t max)
{
	(void)ctx;
	(void)rc;
	snprintf(buf, max, "key 0x%llx",
		 (unsigned long long)((struct bench_region *)r)->key);
}

static const ucs_rcache_ops_t ops = {
	.mem_reg = mem_reg,
	.mem_dereg = mem_dereg,
	.dump_region = dump_region,
};

int rbc_create(char *why, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	ucs_rcache_params_t p = {
		.region_struct_size = sizeof(struct bench_region),
		.alignment = page,		/* page-aligned, as ours */
		.max_alignment = page,
		.ucm_events = UCM_EVENT_VM_UNMAPPED,
		.ucm_event_priority = 1000,	/* as UCX's IB transport */
		.ops = &ops,
		.max_regions = ULONG_MAX,	/* no limits, as ours */
		.max_size = SIZE_MAX,
		.max_unreleased = SIZE_MAX,
	};
	ucs_status_t st = ucs_rcache_create(&p, "uhmm-bench", NULL, &cache);

	if (st == UCS_OK)
		st = ucm_test_events(UCM_EVENT_VM_UNMAPPED);
	if (st != UCS_OK)
		snprintf(why, len, "ucs_rcache_create / ucm_test_events: %s",
			 ucs_status_string(st));
	return st == UCS_OK ? 0 : -1;
}

void rbc_describe(char *buf, size_t len)
{
	static const char *const modes[] = { "none", "reloc", "bistro" };
	unsigned int m = (unsigned int)ucm_global_opts.mmap_hook_mode;

	snprintf(buf, len, "UCM hooks (mode %s, malloc hooks %s): "
		 "VM_UNMAPPED raised before the change",
		 m < UCM_MMAP_HOOK_LAST ? modes[m] : "?",
		 ucm_global_opts.enable_malloc_hooks ? "on" : "off");
}

int rbc_get(void *addr, size_t len, void **handle)
{
	ucs_rcache_region_t *r;
	ucs_status_t st = ucs_rcache_get(cache, addr, len,
					 PROT_READ | PROT_WRITE, NULL, &r);

	*handle = st == UCS_OK ? r : NULL;
	return st == UCS_OK ? 0 : -EIO;
}

void rbc_put(void *handle)
{
	ucs_rcache_region_put(cache, handle);
}

static void invalidated(void *arg)
{
	(void)arg;
}

/* As UCX's ucp_memh_put(): invalidate while held, then put. */
int rbc_drop(void *handle, void *addr, size_t len)
{
	(void)addr;
	(void)len;
	ucs_rcache_region_invalidate(cache, handle, invalidated, NULL);
	ucs_rcache_region_put(cache, handle);
	return 0;
}

void rbc_counts(uint64_t *regs, uint64_t *deregs)
{
	*regs = __atomic_load_n(&nreg, __ATOMIC_RELAXED);
	*deregs = __atomic_load_n(&ndereg, __ATOMIC_RELAXED);
}

/* ucs_rcache keeps its garbage list and queue to itself. */
uint64_t rbc_pending(void)
{
	return RB_UNKNOWN;
}
