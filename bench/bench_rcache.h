/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache.h - uhmm-bench's rcache group: the pipe protocol between the
 * parent (bench_rcache.c) and its two helpers, and the five calls through
 * which a helper's loops (bench_rcache_child.c) drive its cache:
 *
 *   uhmm-bench-rcache      bench_rcache_uhmm.c: uhmm_rcache, capture on
 *   uhmm-bench-rcache-ucx  bench_rcache_ucx.c: UCX's ucs_rcache, UCM on
 *
 * Both caches get the same trivial backend: registering records the range
 * and counts, deregistering counts; no kernel call, so the cache itself is
 * measured.  The parent writes a struct rbcmd to a helper's stdin and reads
 * one struct rbreply from its stdout; right after it starts, a helper
 * writes one unsolicited reply: err 0 and a note (how its cache learns of
 * changes), or -errno and why it cannot run.
 */
#ifndef UHMM_BENCH_RCACHE_H
#define UHMM_BENCH_RCACHE_H

#include <stddef.h>
#include <stdint.h>

/* The loops a helper runs; each iteration is one operation. */
enum rbloop {
	RB_HIT,		/* get + put of a cached region, per thread */
	RB_MISS,	/* get (registers) + invalidate + put (deregisters) */
	RB_CHURN,	/* free + malloc a registered buffer, get it, get another */
	RB_IDLE,	/* malloc/free rounds, no cache call: memory used */
	RB_COUNT
};

#define RB_MAX_THREADS	2
#define RB_HIT_LEN	(64ul << 10)	/* each thread's cached region */
#define RB_CHURN_LEN	(256ul << 10)	/* above the mmap threshold */
#define RB_CHURN_BUFS	8		/* live churned buffers */
#define RB_IDLE_BUFS	64		/* buffers registered before RB_IDLE */

struct rbcmd {
	uint32_t loop;		/* enum rbloop */
	uint32_t threads;	/* RB_HIT: 1..RB_MAX_THREADS */
	uint64_t iters;		/* per thread */
};

struct rbreply {
	int64_t err;		/* 0, or -errno (-1: see @why) */
	uint64_t ns;		/* wall time of the loop, all threads */
	uint64_t cpu_ns;	/* RB_HIT: the threads' CPU time, summed */
	uint64_t overlap_ns;	/* RB_HIT: time every thread was in its loop */
	uint64_t regs;		/* backend registrations during the loop */
	uint64_t deregs;	/* backend deregistrations during the loop */
	uint64_t rss_before;	/* RB_IDLE: resident KiB before the rounds */
	uint64_t rss_after;	/* RB_IDLE: and after */
	uint64_t pending;	/* RB_IDLE: invalidated regions not yet dereg'd */
	uint64_t registered;	/* RB_IDLE: regions registered (not dereg'd) */
	char why[120];		/* NUL-terminated reason, or the setup note */
};

/* RB_IDLE's pending count when the cache cannot tell. */
#define RB_UNKNOWN	UINT64_MAX

/*
 * The cache behind a helper (one per process).  rbc_get() and rbc_put()
 * may run in several threads at once; the rest run in the helper's main
 * thread.  Each returns 0 or -errno; @why gets a reason on failure.
 */
int rbc_create(char *why, size_t len);
/* How this cache learns of changes, for the setup note. */
void rbc_describe(char *buf, size_t len);
int rbc_get(void *addr, size_t len, void **handle);
void rbc_put(void *handle);
/* Drop the region @handle covers (held by the caller) and put it. */
int rbc_drop(void *handle, void *addr, size_t len);
/* Backend calls so far (atomic counters). */
void rbc_counts(uint64_t *regs, uint64_t *deregs);
/* Invalidated regions waiting for deregistration, or RB_UNKNOWN. */
uint64_t rbc_pending(void);

#endif /* UHMM_BENCH_RCACHE_H */
