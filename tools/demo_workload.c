/* SPDX-License-Identifier: MIT */
/*
 * demo_workload.c - the workload threads: each allocates, changes and
 * retires the slots it owns, and keeps each slot's record true.
 *
 * Every change that must make the devices drop entries is checked right
 * after it returns, while nothing can map that memory again: a slot being
 * changed is BUSY (no device touches it), and memory given back is checked
 * under reuse_lock held exclusive (no slot is allocated meanwhile).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "demo.h"

const char *const demo_op_names[OP__COUNT] = {
	[OP_ALLOC_SMALL] = "alloc-small",	[OP_ALLOC_LARGE] = "alloc-large",
	[OP_MMAP] = "mmap",			[OP_FREE_SMALL] = "free-small",
	[OP_FREE_LARGE] = "free-large",		[OP_FREE_KEPT] = "free-large-heap",
	[OP_MUNMAP] = "munmap",
	[OP_MREMAP] = "mremap",			[OP_DONTNEED] = "madv-dontneed",
	[OP_PROTECT_RO] = "mprotect-ro",	[OP_PROTECT_RW] = "mprotect-rw",
};

/* Pages per kind: small stay well below the 128 KiB mmap threshold (fixed
 * with mallopt() in demo.c), large are above it. */
static size_t pages_for(enum demo_kind kind, uint64_t *rng)
{
	uint64_t r = demo_rand(rng);

	switch (kind) {
	case KIND_SMALL:
		return 1 + r % 8;
	case KIND_LARGE:
		return 40 + r % (DEMO_MAX_PAGES - 40 + 1);
	default:
		return 1 + r % 48;
	}
}

static enum demo_kind pick_kind(uint64_t *rng)
{
	unsigned int r = demo_rand(rng) % 10;

	if (r < 4)
		return KIND_MMAP;
	if (r < 7 || !demo.cfg.large)
		return KIND_SMALL;
	return KIND_LARGE;
}

static void workload_error(const char *what, int err)
{
	demo_inc(demo.c.unexpected);
	demo_report_problem("workload: %s failed: errno %d", what, err);
}

static void *get_memory(enum demo_kind kind, size_t len)
{
	void *p = NULL;
	int err;

	if (kind == KIND_MMAP) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			workload_error("mmap", errno);
			return NULL;
		}
		return p;
	}
	err = posix_memalign(&p, demo_page(), len);
	if (err) {
		workload_error("posix_memalign", err);
		return NULL;
	}
	return p;
}

static uint64_t new_seed(const struct demo_slot *s, uint64_t gen,
			 uint64_t *rng)
{
	uint64_t seed = demo_mix(demo.cfg.seed ^ ((uint64_t)s->index << 40) ^
				 gen ^ demo_rand(rng));

	return seed ? seed : 1;
}

static void allocate(struct demo_slot *s, uint64_t *rng)
{
	static const enum demo_op op[KIND__COUNT] = {
		[KIND_SMALL] = OP_ALLOC_SMALL, [KIND_LARGE] = OP_ALLOC_LARGE,
		[KIND_MMAP] = OP_MMAP,
	};
	struct demo_record rec = { .kind = pick_kind(rng) };

	rec.len = pages_for(rec.kind, rng) * demo_page();
	pthread_rwlock_rdlock(&demo.reuse_lock);
	rec.addr = get_memory(rec.kind, rec.len);
	pthread_rwlock_unlock(&demo.reuse_lock);
	if (!rec.addr)
		return;
	rec.gen = __atomic_add_fetch(&demo.next_gen, 1, __ATOMIC_RELAXED);
	rec.seed = new_seed(s, rec.gen, rng);
	demo_fill(rec.addr, rec.len, rec.seed);
	demo_publish(s, &rec);
	demo_inc(demo.c.ops[op[rec.kind]]);
}

/*
 * free(): glibc munmaps a block it got from mmap(), but serves a large
 * request from the heap when a free chunk there is big enough, and may trim
 * the heap under a small one.  What it unmapped is found out afterwards
 * (mincore()), and must be gone from every device.  A heap chunk gets
 * free()'s list pointers written into it: it must be writable.
 */
static void release(struct demo_record *rec)
{
	uintptr_t addr = (uintptr_t)rec->addr;
	size_t gone;

	if (rec->ro && mprotect(rec->addr, rec->len, PROT_READ | PROT_WRITE))
		workload_error("mprotect", errno);
	free(rec->addr);
	gone = demo_check_unmapped("free", addr, rec->len);
	if (rec->kind == KIND_SMALL)
		demo_inc(demo.c.ops[OP_FREE_SMALL]);
	else
		demo_inc(demo.c.ops[gone ? OP_FREE_LARGE : OP_FREE_KEPT]);
}

/* Give the slot's memory back, then check the devices dropped it. */
static void retire(struct demo_record *rec)
{
	pthread_rwlock_wrlock(&demo.reuse_lock);
	if (rec->kind != KIND_MMAP) {
		release(rec);
	} else if (munmap(rec->addr, rec->len)) {
		workload_error("munmap", errno);
	} else {
		demo_check_dropped("munmap", (uintptr_t)rec->addr, rec->len,
				   false);
		demo_inc(demo.c.ops[OP_MUNMAP]);
	}
	pthread_rwlock_unlock(&demo.reuse_lock);
	rec->addr = NULL;
}

/* Move the mapping: a placeholder makes sure the address changes. */
static void move(struct demo_record *rec)
{
	void *to, *p;

	pthread_rwlock_wrlock(&demo.reuse_lock);
	to = mmap(NULL, rec->len, PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (to == MAP_FAILED) {
		workload_error("mmap (placeholder)", errno);
		goto out;
	}
	p = mremap(rec->addr, rec->len, rec->len,
		   MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (p == MAP_FAILED) {
		workload_error("mremap", errno);
		munmap(to, rec->len);
		goto out;
	}
	demo_check_dropped("mremap", (uintptr_t)rec->addr, rec->len,
			   false);
	rec->addr = p;
	rec->changes++;
	demo_inc(demo.c.ops[OP_MREMAP]);
out:
	pthread_rwlock_unlock(&demo.reuse_lock);
}

static void discard(struct demo_record *rec)
{
	if (madvise(rec->addr, rec->len, MADV_DONTNEED)) {
		workload_error("madvise", errno);
		return;
	}
	demo_check_dropped("madvise(DONTNEED)", (uintptr_t)rec->addr,
			   rec->len, false);
	rec->seed = 0;		/* private anonymous: reads zero now */
	rec->unknown = false;
	rec->changes++;
	demo_inc(demo.c.ops[OP_DONTNEED]);
}

/*
 * Losing write access must drop the devices' write entries; frames stay,
 * so it is not a change of @rec->changes.  Gaining it needs no event.
 */
static void protect(struct demo_record *rec)
{
	int prot = rec->ro ? PROT_READ | PROT_WRITE : PROT_READ;

	if (mprotect(rec->addr, rec->len, prot)) {
		workload_error("mprotect", errno);
		return;
	}
	rec->ro = !rec->ro;
	if (rec->ro)
		demo_check_dropped("mprotect(PROT_READ)",
				   (uintptr_t)rec->addr, rec->len, true);
	demo_inc(demo.c.ops[rec->ro ? OP_PROTECT_RO : OP_PROTECT_RW]);
}

/* One change of a live slot, by its kind: 0 retire, 1 move, 2 discard, 3
 * protect.  Small blocks live in the heap: they are only freed. */
static unsigned int pick_change(enum demo_kind kind, uint64_t *rng)
{
	unsigned int r = demo_rand(rng) % 10;

	if (kind == KIND_SMALL)
		return 0;
	if (kind == KIND_LARGE)
		return r < 4 ? 0 : r < 7 ? 2 : 3;
	return r % 4;
}

static void change(struct demo_slot *s, uint64_t *rng)
{
	struct demo_record rec;

	demo_change_begin(s, &rec);
	switch (pick_change(rec.kind, rng)) {
	case 0:
		retire(&rec);
		break;
	case 1:
		move(&rec);
		break;
	case 2:
		discard(&rec);
		break;
	default:
		protect(&rec);
		break;
	}
	demo_change_end(s, &rec);
}

/**
 * demo_workload_thread() - churn the slots i with i % threads == @arg.
 *
 * Only this thread writes those slots' state, so it reads it unlocked.
 */
void *demo_workload_thread(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg;
	unsigned int n = demo.cfg.slots_per_thread;
	uint64_t rng = demo_mix(demo.cfg.seed + 0x1000 + t) | 1;
	struct demo_slot *s;

	while (!demo_stopping()) {
		s = &demo.slots[t + demo.cfg.threads * (demo_rand(&rng) % n)];
		if (s->state == SLOT_EMPTY)
			allocate(s, &rng);
		else
			change(s, &rng);
	}
	return NULL;
}

/**
 * demo_workload_retire_all() - after the device threads are gone, give
 * every slot's memory back (the same checks apply).
 */
void demo_workload_retire_all(void)
{
	struct demo_record rec;
	unsigned int i;

	for (i = 0; i < demo.nr_slots; i++) {
		if (demo.slots[i].state == SLOT_EMPTY)
			continue;
		demo_change_begin(&demo.slots[i], &rec);
		retire(&rec);
		demo_change_end(&demo.slots[i], &rec);
	}
}
