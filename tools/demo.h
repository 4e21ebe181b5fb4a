/* SPDX-License-Identifier: MIT */
/*
 * demo.h - `uhmm demo`: workload threads churn their memory while several
 * dmirror devices (<uhmm/dmirror.h>) mirror it and keep reading and writing
 * through their mirrors; every device access is checked against a record of
 * what the memory holds, kept by the demo itself.
 *
 * Files:
 *   demo.c           options, threads, the run
 *   demo_slots.c     the slot table, the pin protocol, content patterns
 *   demo_workload.c  workload threads: allocate, change, retire memory
 *   demo_device.c    device threads: READ / WRITE and the data checks
 *   demo_check.c     translation checks: device entries against the CPU
 *   demo_report.c    live progress and the summary (text or JSON)
 *
 * The slot table.  A slot is one block of memory: a page-aligned
 * posix_memalign() block below the mmap threshold ("small", it lives in the
 * heap), one above it ("large": glibc mmaps it, usually, and free() munmaps
 * it), or an anonymous private mmap().  Its record (struct demo_record)
 * says where it is and what it holds: bytes derived from a content seed (0:
 * all zero).
 * Each slot belongs to one workload thread, the only one that allocates,
 * changes and retires it.  Device threads pin a live slot, access it, check
 * the result against the record, and unpin.
 *
 * The pin protocol and why it cannot deadlock.  The locks:
 *
 *   slot->lock    a leaf: held only to read or update a slot's state, pins
 *                 and record, never across any other call (except waiting on
 *                 slot->drained, which releases it).
 *   reuse_lock    workload threads only: taken shared around every
 *                 allocation, exclusive around a change that may give
 *                 address space back (munmap, free, mremap) and the check
 *                 that the devices dropped their entries for it, so no new
 *                 slot can appear at that address during the check.
 *   device lock   inside libuhmm-dmirror: held by a command while it copies,
 *                 and by the device's invalidation callback, which runs in
 *                 the workload thread inside free() / munmap() / madvise() /
 *                 mprotect() / mremap() (the capture layer announces the
 *                 change before making it).
 *   arena locks   glibc's, inside malloc() / free() (a heap trim announces
 *                 a change, so the callback may run under one).
 *
 * Device threads only *try* to pin (a slot that is not live, or busy, or
 * pinned in a conflicting way is skipped): they never wait for a slot, nor
 * for reuse_lock.  While pinned they block only on the device lock.
 * A workload thread changes a slot in three steps: under slot->lock mark it
 * BUSY (no new pins) and wait until the pins drain; with no lock of ours held
 * make the change (free, munmap, ...; the callbacks take device locks);
 * under slot->lock update the record and publish.  So:
 *
 *   device thread:   [pin] -> device lock            (never waits on a pin)
 *   workload thread: reuse_lock -> arena lock -> device lock (in callbacks)
 *                    waits for pins with nothing else held
 *
 * A device thread waiting for a device lock waits for a command (which
 * finishes: it waits for nothing of the workload's) or for a callback (which
 * waits for nothing but device locks).  A workload thread waiting for pins
 * waits for device threads, which never wait for workload threads.  No
 * cycle, provided the device never calls malloc() under its own lock (a
 * callback may run under an arena lock: that would be device lock -> arena
 * lock against arena lock -> device lock).
 *
 * Pins: READ pins are shared between devices, a WRITE pin is exclusive
 * (two devices writing the same slot would leave no single record).  A
 * slot's record changes only while it is BUSY (workload) or under a WRITE pin
 * (the content seed).
 */
#ifndef UHMM_TOOLS_DEMO_H
#define UHMM_TOOLS_DEMO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEMO_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DEMO_SANITIZER 1
#endif
#endif

struct uhmm_dmirror;

#define DEMO_MAX_PAGES		64	/* a slot's pages: one bit each below */
#define DEMO_MAX_DEVICES	16
#define DEMO_MAX_THREADS	64
#define DEMO_THREADS_PER_DEVICE	2
#define DEMO_ERRNO_MAX		134	/* errors are counted by code below it */

enum demo_kind {
	KIND_SMALL,	/* posix_memalign below the mmap threshold: the heap */
	KIND_LARGE,	/* posix_memalign above it: free() munmaps */
	KIND_MMAP,	/* anonymous private mmap() */
	KIND__COUNT
};

/* Workload operations, counted by kind. */
enum demo_op {
	OP_ALLOC_SMALL, OP_ALLOC_LARGE, OP_MMAP,
	OP_FREE_SMALL, OP_FREE_LARGE, OP_FREE_KEPT, OP_MUNMAP,
	OP_MREMAP, OP_DONTNEED, OP_PROTECT_RO, OP_PROTECT_RW,
	OP__COUNT
};

enum demo_state {
	SLOT_EMPTY,	/* no memory */
	SLOT_LIVE,	/* published: may be pinned */
	SLOT_BUSY,	/* its workload thread is changing it: no new pins */
};

/**
 * struct demo_record - what a slot's memory is and holds.
 * @addr: first byte, page aligned.
 * @len: bytes, whole pages, at most DEMO_MAX_PAGES.
 * @kind: how it was allocated.
 * @gen: incarnation: unique per slot allocation.
 * @seed: content seed; 0: every byte is zero (after MADV_DONTNEED).
 * @unknown: a failed device write left the content unknown: not compared.
 * @ro: mprotect()ed read-only.
 * @changes: changes uhmm must announce (MADV_DONTNEED, mprotect, mremap)
 *	made to this incarnation.
 * @cows: device writes to zeroed memory: each breaks copy-on-write of the
 *	zero page, a change the kernel makes on its own (not announced).
 */
struct demo_record {
	char *addr;
	size_t len;
	enum demo_kind kind;
	uint64_t gen;
	uint64_t seed;
	bool unknown;
	bool ro;
	unsigned long changes;
	unsigned long cows;
};

/*
 * What one device last saw of a slot (demo_check.c): the record's @changes
 * and @cows at the end of its last access to this incarnation, and the
 * pages whose mismatch it already reported.
 */
struct demo_seen {
	bool valid;
	unsigned long changes;
	unsigned long cows;
	uint64_t reported;
};

struct demo_slot {
	pthread_mutex_t lock;
	pthread_cond_t drained;		/* pins reached zero while BUSY */
	enum demo_state state;		/* under lock */
	unsigned int readers;		/* under lock */
	bool writer;			/* under lock */
	struct demo_record rec;		/* under lock; see "Pins" above */
	struct demo_seen seen[DEMO_MAX_DEVICES];	/* under lock */
	unsigned int index;		/* constant */
};

/* Counters, updated with relaxed atomics by every thread. */
struct demo_counters {
	uint64_t reads, writes, writes_ro;
	uint64_t pages_compared;
	uint64_t wrong_data;		/* accesses with wrong bytes */
	uint64_t stale_kept;		/* entries kept after a change */
	uint64_t stale_frame;		/* wrong frame / permission at access */
	uint64_t moved_cow, moved_kernel;
	uint64_t entries_checked;	/* entries compared with the CPU */
	uint64_t changes_checked;	/* changes whose drop was checked */
	uint64_t unexpected;		/* errors no rule allows */
	uint64_t errors[DEMO_ERRNO_MAX];	/* device errors by code */
	uint64_t ops[OP__COUNT];
};

struct demo_config {
	double duration;
	unsigned int threads;
	unsigned int devices;
	uint64_t seed;
	bool seeded;		/* --seed given */
	bool json;
	bool quiet;
	bool corrupt;		/* UHMM_DEMO_FAULT=corrupt */
	bool large;		/* large blocks used (not in sanitizer builds) */
	unsigned int slots_per_thread;
};

struct demo {
	struct demo_config cfg;
	struct uhmm_dmirror *dev[DEMO_MAX_DEVICES];
	struct demo_slot *slots;
	unsigned int nr_slots;
	pthread_rwlock_t reuse_lock;
	int pagemap_fd;			/* -1: frame numbers unavailable */
	int stop;			/* atomic */
	uint64_t next_gen;		/* atomic */
	struct demo_counters c;
};

extern struct demo demo;

#define demo_inc(field)		__atomic_add_fetch(&(field), 1, __ATOMIC_RELAXED)
#define demo_add(field, n)	__atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define demo_read(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

/* demo_slots.c */
int demo_slots_init(void);
void demo_slots_free(void);
bool demo_pin(struct demo_slot *s, bool write, struct demo_record *rec);
void demo_unpin(struct demo_slot *s, bool write, const struct demo_record *rec);
void demo_change_begin(struct demo_slot *s, struct demo_record *rec);
void demo_change_end(struct demo_slot *s, const struct demo_record *rec);
void demo_publish(struct demo_slot *s, const struct demo_record *rec);
uint64_t demo_rand(uint64_t *state);
uint64_t demo_mix(uint64_t x);
void demo_fill(void *p, size_t len, uint64_t seed);
long demo_compare(const void *p, size_t len, uint64_t seed);
size_t demo_page(void);
bool demo_stopping(void);

/* demo_workload.c */
void *demo_workload_thread(void *arg);
void demo_workload_retire_all(void);
extern const char *const demo_op_names[OP__COUNT];

/* demo_device.c */
struct demo_device_thread {
	pthread_t tid;
	unsigned int dev;		/* index into demo.dev */
	unsigned int nr;		/* thread number */
};
void *demo_device_thread(void *arg);

/* demo_check.c */
int demo_pagemap_open(void);
void demo_check_access(unsigned int dev, struct demo_slot *s,
		       const struct demo_record *rec, bool own_write);
void demo_check_dropped(const char *what, uintptr_t addr, size_t len,
			bool write_only);
size_t demo_check_unmapped(const char *what, uintptr_t addr, size_t len);
void demo_report_problem(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* demo_report.c */
void demo_progress(double elapsed, bool final);
bool demo_summary(double elapsed);

int uhmm_cmd_demo(int argc, char **argv);

#endif /* UHMM_TOOLS_DEMO_H */
