/* SPDX-License-Identifier: MIT */
/*
 * bench_capture_child.c - uhmm-bench-capture, the helper that runs one side
 * of uhmm-bench's capture figures in a process of its own:
 *
 *     uhmm-bench-capture bare|uhmm|uhmm100k|uffd|ucm
 *
 * It is linked with libuhmm-interpose.so, so capture is set up by the
 * library's constructor before main() runs; the parent picks what that
 * does through the environment:
 *   bare      UHMM_CAPTURE=off: the wrappers pass through, nothing patched;
 *   uhmm      default capture, one subscriber on the page next to the
 *             churned one (every change is announced and misses it);
 *   uhmm100k  default capture, 100k page-sized intervals, CAPLOOP_FIXED's
 *             page inside exactly one of them;
 *   uffd      default capture with UHMM_CAPTURE_UFFD=on, one subscriber
 *             on CAPLOOP_RAW_DISCARD's page: the raw system call bypasses
 *             libc, so only the userfaultfd reader sees it (after it);
 *   ucm       UHMM_CAPTURE=off plus UCX's UCM with a UCM_EVENT_VM_UNMAPPED
 *             handler that only counts (when built with libucm).
 * The loops and the protocol are in bench_capture.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#ifdef UHMM_BENCH_UCM
#include <ucm/api/ucm.h>
#endif

#include "bench_pipe.h"
#include "bench_capture.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static unsigned long page;
static char *resv;		/* 2 * CAP_NINTERVALS pages, PROT_NONE */
static char *fixed;		/* CAPLOOP_FIXED's page: a hole in resv */
static char *arena;		/* 3 pages PROT_NONE, the middle one a hole */
static char *discard;		/* CAPLOOP_RAW_DISCARD's page, read-write */
/* Callbacks run; atomic: the userfaultfd reader thread runs them too. */
static unsigned long calls;

static void count_call(void)
{
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Loops                                                               */

static int map_loop(uint64_t iters, int touch)
{
	uint64_t i;
	char *p;

	for (i = 0; i < iters; i++) {
		p = mmap(arena + page, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		if (p != arena + page) {	/* hint not taken: not comparable */
			munmap(p, page);
			return -EADDRINUSE;
		}
		if (touch)
			*(volatile char *)p = 1;
		if (munmap(p, page))
			return -errno;
	}
	return 0;
}

/* The same page every time: MAP_FIXED_NOREPLACE announces nothing. */
static int fixed_loop(uint64_t iters)
{
	uint64_t i;
	char *p;

	for (i = 0; i < iters; i++) {
		p = mmap(fixed, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
		if (p != fixed)
			return p == MAP_FAILED ? -errno : -EEXIST;
		if (munmap(p, page))
			return -errno;
	}
	return 0;
}

#if defined(__x86_64__)
/* madvise without libc: what statically linked code or Go's runtime do. */
static long raw_madvise(void *addr, unsigned long len, long advice)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_madvise), "D"(addr), "S"(len),
			   "d"(advice)
			 : "rcx", "r11", "memory");
	return ret;
}
#define HAVE_RAW_MADVISE 1
#else
#define HAVE_RAW_MADVISE 0
static long raw_madvise(void *addr, unsigned long len, long advice)
{
	(void)addr;
	(void)len;
	(void)advice;
	return -ENOSYS;
}
#endif

/* Make the page present, then discard it behind libc's back. */
static int raw_discard_loop(uint64_t iters)
{
	uint64_t i;
	long ret;

	for (i = 0; i < iters; i++) {
		*(volatile char *)discard = 1;
		ret = raw_madvise(discard, page, MADV_DONTNEED);
		if (ret)
			return (int)ret;
	}
	return 0;
}

static void run(const struct capcmd *c, struct capreply *r)
{
	uint64_t t0;
	int err;

	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	t0 = now_ns();
	if (c->loop == CAPLOOP_FIXED)
		err = fixed_loop(c->iters);
	else if (c->loop == CAPLOOP_RAW_DISCARD)
		err = raw_discard_loop(c->iters);
	else if (c->loop < CAPLOOP_COUNT)
		err = map_loop(c->iters, c->loop == CAPLOOP_TOUCH);
	else
		err = -EINVAL;
	r->ns = now_ns() - t0;
	r->calls = __atomic_load_n(&calls, __ATOMIC_RELAXED);
	r->err = err;
	if (err)
		snprintf(r->why, sizeof(r->why), "loop %u: %s", c->loop,
			 strerror(-err));
}

/* ------------------------------------------------------------------ */
/* Sides                                                               */

static bool count_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *range,
			     unsigned long cur_seq)
{
	(void)range;
	uhmm_interval_set_seq(sub, cur_seq);
	count_call();
	return true;
}

static const struct uhmm_interval_sub_ops count_ops = {
	.invalidate = count_invalidate,
};

/* @npages of PROT_NONE with a one-page hole at @hole; NULL on failure. */
static char *reserve_one(unsigned long npages, unsigned long hole)
{
	char *p = mmap(NULL, npages * page, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED || munmap(p + hole * page, page))
		return NULL;
	return p;
}

/*
 * The churned pages are holes between PROT_NONE pages, the same in every
 * helper: the kernel can never merge them with a neighbour, so each side's
 * system calls do the same work whatever else the helper has mapped.
 * CAPLOOP_MAP/TOUCH pass the hole as a hint (a plain mmap, no event);
 * CAPLOOP_FIXED's hole lies in the range of CAP_NINTERVALS intervals.
 */
static int reserve(void)
{
	page = uhmm_page_size();
	arena = reserve_one(3, 1);
	resv = reserve_one(2 * CAP_NINTERVALS, 2 * CAP_FIXED_INDEX);
	discard = reserve_one(3, 1);
	if (!arena || !resv || !discard)
		return -ENOMEM;
	discard = mmap(discard + page, page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (discard == MAP_FAILED)
		return -errno;
	fixed = resv + 2 * CAP_FIXED_INDEX * page;
	return 0;
}

/* @n page-sized intervals two pages apart over the reservation. */
static int subscribe_resv(struct uhmm_mm *mm, unsigned long n)
{
	struct uhmm_interval_sub *subs = calloc(n, sizeof(*subs));
	unsigned long i;
	int ret = subs ? 0 : -ENOMEM;

	for (i = 0; !ret && i < n; i++)
		ret = uhmm_interval_sub_insert(&subs[i], mm,
					       (uintptr_t)resv + i * 2 * page,
					       page, &count_ops);
	return ret;	/* the intervals live until the process exits */
}

/* Check that capture announces a munmap: unmap a subscribed page. */
static int check_caught(struct uhmm_mm *mm, struct capreply *r)
{
	static struct uhmm_interval_sub probe;
	char *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (p == MAP_FAILED)
		return -errno;
	ret = uhmm_interval_sub_insert(&probe, mm, (uintptr_t)p, page,
				       &count_ops);
	if (ret)
		return ret;
	__atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
	munmap(p, page);
	uhmm_interval_sub_remove(&probe);
	if (__atomic_load_n(&calls, __ATOMIC_RELAXED) == 1)
		return 0;
	snprintf(r->why, sizeof(r->why),
		 "capture is not active (%lu callbacks for a munmap)",
		 __atomic_load_n(&calls, __ATOMIC_RELAXED));
	return -1;
}

static int setup_uhmm(bool many, struct capreply *r)
{
	static struct uhmm_interval_sub idle;
	struct uhmm_mm *mm;
	int ret = uhmm_mm_create(&mm);

	if (ret)
		return ret;
	ret = check_caught(mm, r);
	if (ret || many)
		return ret ? ret : subscribe_resv(mm, CAP_NINTERVALS);
	/* Right next to the churned page, never overlapping it. */
	return uhmm_interval_sub_insert(&idle, mm, (uintptr_t)arena, page,
					&count_ops);
}

/*
 * The subscriber of the raw-syscall side, and proof at start that the
 * userfaultfd reader is on: by the time a raw discard returns, the reader
 * has started its invalidation (it does so before it lets the call go).
 */
static int setup_uffd(struct capreply *r)
{
	static struct uhmm_interval_sub sub;
	struct uhmm_mm *mm;
	int ret;

	if (!HAVE_RAW_MADVISE) {
		snprintf(r->why, sizeof(r->why), "no inline syscall here "
			 "(x86-64 only)");
		return -1;
	}
	ret = uhmm_mm_create(&mm);
	if (!ret)
		ret = uhmm_interval_sub_insert(&sub, mm, (uintptr_t)discard,
					       page, &count_ops);
	if (!ret)
		ret = raw_discard_loop(1);
	if (ret || __atomic_load_n(&calls, __ATOMIC_RELAXED))
		return ret;
	snprintf(r->why, sizeof(r->why), "userfaultfd capture is not active "
		 "(no callback for a raw madvise; see docs/capture.md)");
	return -1;
}

#ifdef UHMM_BENCH_UCM
static void ucm_count(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
	(void)type;
	(void)ev;
	(void)arg;
	count_call();
}

static int setup_ucm(struct capreply *r)
{
	ucs_status_t st = ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED, 0,
						ucm_count, NULL);

	if (st == UCS_OK)
		return 0;
	snprintf(r->why, sizeof(r->why),
		 "ucm_set_event_handler(VM_UNMAPPED): status %d", (int)st);
	return -1;
}
#else
static int setup_ucm(struct capreply *r)
{
	snprintf(r->why, sizeof(r->why),
		 "built without UCX's libucm (install libucx-dev)");
	return -1;
}
#endif

static int setup(const char *mode, struct capreply *r)
{
	int ret = reserve();

	if (ret)
		return ret;
	if (!strcmp(mode, "bare"))
		return 0;
	if (!strcmp(mode, "uhmm") || !strcmp(mode, "uhmm100k"))
		return setup_uhmm(!strcmp(mode, "uhmm100k"), r);
	if (!strcmp(mode, "uffd"))
		return setup_uffd(r);
	if (!strcmp(mode, "ucm"))
		return setup_ucm(r);
	snprintf(r->why, sizeof(r->why), "unknown side '%s'", mode);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Protocol                                                            */

int main(int argc, char **argv)
{
	struct capreply r = { 0 };
	struct capcmd c;

	if (argc != 2) {
		fprintf(stderr, "usage: uhmm-bench-capture "
			"bare|uhmm|uhmm100k|uffd|ucm (run by uhmm-bench)\n");
		return 2;
	}
	r.err = setup(argv[1], &r);
	if (r.err && !r.why[0])
		snprintf(r.why, sizeof(r.why), "setup: %s",
			 strerror((int)-r.err));
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
