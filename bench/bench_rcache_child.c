/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache_child.c - the loops of uhmm-bench's rcache group, run in a
 * helper process of their own (one per cache: uhmm-bench-rcache for
 * uhmm_rcache with capture on, uhmm-bench-rcache-ucx for UCX's ucs_rcache
 * with UCM on; see bench_rcache.h):
 *
 *     uhmm-bench-rcache[-ucx] (run by uhmm-bench)
 *
 * Capture and UCM both patch libc for the whole process, for good, so each
 * cache gets a process where only its own hooks are active.  The same loops
 * run against either cache through bench_rcache.h's rbc_*() calls.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_pipe.h"
#include "bench_rcache.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* The idle loop's large blocks are glibc mmaps in both processes. */
#define MMAP_THRESHOLD	(128 << 10)

static size_t page;
static char *hitbuf[RB_MAX_THREADS];	/* cached at setup, never changed */
static char *missbuf;
static char *churn[RB_CHURN_BUFS];	/* cached at setup, then churned */
static unsigned long churn_next;
static int cpus[RB_MAX_THREADS];	/* where each hit thread runs */
static int ncpus;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Get and put [@p, @p + @len) once. */
static int touch_region(void *p, size_t len)
{
	void *h;
	int ret = rbc_get(p, len, &h);

	if (!ret)
		rbc_put(h);
	return ret;
}

/* ------------------------------------------------------------------ */
/* RB_HIT: each thread gets and puts a region of its own               */

struct worker {
	pthread_t tid;
	pthread_barrier_t *go;
	char *buf;
	int cpu;		/* -1: not pinned */
	uint64_t iters;
	uint64_t t0, t1, cpu_ns;
	int err;
} __attribute__((aligned(64)));	/* one line each: no false sharing */

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* A request inside the thread's cached region: always a hit. */
static void *hit_worker(void *arg)
{
	struct worker *w = arg;
	char *addr = w->buf + 256;
	uint64_t i, c0, iters = w->iters;
	int err = 0;
	void *h;

	pin(w->cpu);
	pthread_barrier_wait(w->go);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w->t0 = clock_ns(CLOCK_MONOTONIC);
	/* Locals only in the loop: the workers' structs sit side by side. */
	for (i = 0; i < iters; i++) {
		err = rbc_get(addr, 8192, &h);
		if (err)
			break;
		rbc_put(h);
	}
	w->t1 = clock_ns(CLOCK_MONOTONIC);
	w->err = err;
	w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static void hit_sum(struct worker *w, unsigned int n, struct rbreply *r)
{
	uint64_t first = w[0].t0, last = w[0].t1;
	uint64_t late = w[0].t0, early = w[0].t1;
	unsigned int i;

	for (i = 0; i < n; i++) {
		first = w[i].t0 < first ? w[i].t0 : first;
		late = w[i].t0 > late ? w[i].t0 : late;
		last = w[i].t1 > last ? w[i].t1 : last;
		early = w[i].t1 < early ? w[i].t1 : early;
		r->cpu_ns += w[i].cpu_ns;
		r->err = r->err ? r->err : w[i].err;
	}
	r->ns = last - first;
	r->overlap_ns = early > late ? early - late : 0;
}

static int hit_loop(unsigned int n, uint64_t iters, struct rbreply *r)
{
	struct worker w[RB_MAX_THREADS];
	pthread_barrier_t go;
	unsigned int i;

	if (n < 1 || n > RB_MAX_THREADS)
		return -EINVAL;
	memset(w, 0, sizeof(w));
	pthread_barrier_init(&go, NULL, n);
	for (i = 0; i < n; i++) {
		w[i].go = &go;
		w[i].buf = hitbuf[i];
		w[i].cpu = (int)i < ncpus && ncpus >= (int)n ? cpus[i] : -1;
		w[i].iters = iters;
		if (pthread_create(&w[i].tid, NULL, hit_worker, &w[i]))
			abort();	/* the barrier would wait forever */
	}
	for (i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	pthread_barrier_destroy(&go);
	hit_sum(w, n, r);
	return (int)r->err;
}

/* ------------------------------------------------------------------ */
/* RB_MISS, RB_CHURN                                                    */

static int miss_loop(uint64_t iters)
{
	uint64_t i;
	void *h;
	int ret;

	for (i = 0; i < iters; i++) {
		ret = rbc_get(missbuf, RB_HIT_LEN, &h);
		if (!ret)
			ret = rbc_drop(h, missbuf, RB_HIT_LEN);
		if (ret)
			return ret;
	}
	return 0;
}

/* A fresh churned buffer: its own mapping, NULL if none. */
static char *churn_map(void)
{
	void *p = mmap(NULL, RB_CHURN_LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * Replace one live registered buffer with a fresh one (munmap + mmap: the
 * new one usually lands at the same address), get the new one (a miss
 * unless the cache missed the munmap) and one other, still cached (a hit).
 * Not free() + malloc(): glibc serves even a block above the mmap
 * threshold from the heap when its top has room, and free() of a heap
 * block unmaps nothing, so neither cache would (or should) drop it.
 */
static int churn_loop(uint64_t iters)
{
	unsigned long i, j;
	uint64_t k;
	int ret;

	for (k = 0; k < iters; k++) {
		i = churn_next++ % RB_CHURN_BUFS;
		j = (i + RB_CHURN_BUFS / 2) % RB_CHURN_BUFS;
		munmap(churn[i], RB_CHURN_LEN);
		churn[i] = churn_map();
		if (!churn[i])
			return -ENOMEM;
		ret = touch_region(churn[i], RB_CHURN_LEN);
		if (!ret)
			ret = touch_region(churn[j], RB_CHURN_LEN);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* RB_IDLE: is memory bounded when the cache is never called?          */

static uint64_t rss_kib(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (page / 1024);
}

/* Heap and mmap'd sizes alike: free() announces both to capture. */
static size_t idle_size(uint64_t k)
{
	static const size_t sizes[] = { 48, 1000, 4096, 40000, 200000 };

	return sizes[(k + k / RB_IDLE_BUFS) % 5];
}

static int idle_rounds(char **b, uint64_t rounds)
{
	uint64_t k;
	size_t i;

	for (k = 0; k < rounds; k++) {
		i = k % RB_IDLE_BUFS;
		free(b[i]);
		b[i] = malloc(idle_size(k));
		if (!b[i])
			return -ENOMEM;
		*(volatile char *)b[i] = 1;
	}
	return 0;
}

/*
 * Register RB_IDLE_BUFS malloc'd buffers, then free and reallocate them
 * @rounds times without calling the cache: the first round of frees
 * invalidates every region, the rest announce changes to nothing cached.
 */
static int idle_loop(uint64_t rounds, struct rbreply *r)
{
	char *b[RB_IDLE_BUFS] = { NULL };
	uint64_t regs, deregs;
	int ret = 0;
	size_t i;

	for (i = 0; !ret && i < RB_IDLE_BUFS; i++) {
		b[i] = malloc(idle_size(i));
		ret = b[i] ? touch_region(b[i], idle_size(i)) : -ENOMEM;
	}
	r->rss_before = rss_kib();
	if (!ret)
		ret = idle_rounds(b, rounds);
	r->rss_after = rss_kib();
	r->pending = rbc_pending();
	rbc_counts(&regs, &deregs);
	r->registered = regs - deregs;
	for (i = 0; i < RB_IDLE_BUFS; i++)
		free(b[i]);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

/* A munmap of a cached region must make the next get of it a miss. */
static int check_invalidation(struct rbreply *r)
{
	size_t len = 4 * page;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t r0, r1, d;
	int ret;

	if (p == MAP_FAILED)
		return -errno;
	ret = touch_region(p, len);
	munmap(p, len);
	if (ret)
		return ret;
	if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0) != p)
		return -EADDRINUSE;
	rbc_counts(&r0, &d);
	ret = touch_region(p, len);
	rbc_counts(&r1, &d);
	munmap(p, len);
	if (!ret && r1 == r0) {
		snprintf(r->why, sizeof(r->why), "a munmap did not invalidate "
			 "the cached region: memory hooks not active");
		return -1;
	}
	return ret;
}

static void find_cpus(void)
{
	cpu_set_t set;
	int c;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (c = 0; c < CPU_SETSIZE && ncpus < RB_MAX_THREADS; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpus++] = c;
}

static int setup_buffers(void)
{
	size_t stride = RB_HIT_LEN + page;	/* a gap between regions */
	char *m = mmap(NULL, (RB_MAX_THREADS + 1) * stride,
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	int i, ret = 0;

	if (m == MAP_FAILED)
		return -errno;
	for (i = 0; !ret && i < RB_MAX_THREADS; i++) {
		hitbuf[i] = m + (size_t)i * stride;
		ret = touch_region(hitbuf[i], RB_HIT_LEN);
	}
	missbuf = m + RB_MAX_THREADS * stride;
	for (i = 0; !ret && i < RB_CHURN_BUFS; i++) {
		churn[i] = churn_map();
		ret = churn[i] ? touch_region(churn[i], RB_CHURN_LEN) : -ENOMEM;
	}
	return ret;
}

static int setup(struct rbreply *r)
{
	int ret;

	page = (size_t)sysconf(_SC_PAGESIZE);
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);	/* fixed, not adaptive */
	find_cpus();
	ret = rbc_create(r->why, sizeof(r->why));
	if (!ret)
		ret = check_invalidation(r);
	if (!ret)
		ret = setup_buffers();
	if (!ret)
		rbc_describe(r->why, sizeof(r->why));
	return ret;
}

/* ------------------------------------------------------------------ */
/* Protocol                                                            */

static void run(const struct rbcmd *c, struct rbreply *r)
{
	uint64_t r0, d0, r1, d1, t0 = clock_ns(CLOCK_MONOTONIC);
	int err;

	rbc_counts(&r0, &d0);
	if (c->loop == RB_HIT)
		err = hit_loop(c->threads, c->iters, r);
	else if (c->loop == RB_MISS)
		err = miss_loop(c->iters);
	else if (c->loop == RB_CHURN)
		err = churn_loop(c->iters);
	else if (c->loop == RB_IDLE)
		err = idle_loop(c->iters, r);
	else
		err = -EINVAL;
	if (c->loop != RB_HIT)
		r->ns = clock_ns(CLOCK_MONOTONIC) - t0;
	rbc_counts(&r1, &d1);
	r->regs = r1 - r0;
	r->deregs = d1 - d0;
	r->err = err;
	if (err && !r->why[0])
		snprintf(r->why, sizeof(r->why), "loop %u: %s", c->loop,
			 err < 0 ? strerror(-err) : "failed");
}

int main(int argc, char **argv)
{
	struct rbreply r = { 0 };
	struct rbcmd c;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: uhmm-bench-rcache[-ucx] "
			"(run by uhmm-bench)\n");
		return 2;
	}
	r.err = setup(&r);
	if (r.err && !r.why[0])
		snprintf(r.why, sizeof(r.why), "setup: %s",
			 r.err < 0 ? strerror((int)-r.err) : "failed");
	if (bench_xfer(1, &r, sizeof(r), false) || r.err)
		return 0;
	while (!bench_xfer(0, &c, sizeof(c), true)) {
		memset(&r, 0, sizeof(r));
		run(&c, &r);
		if (bench_xfer(1, &r, sizeof(r), false))
			break;
	}
	return 0;
}
