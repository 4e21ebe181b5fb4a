/* SPDX-License-Identifier: MIT */
/*
 * bench_snapshot.c - figure 3: uhmm_range_fault() with no request flags (a
 * snapshot) over a populated range, in pages per second, against the raw
 * page-state read of the same range:
 *   - uhmm's default backend (PAGEMAP_SCAN on 6.7+) vs one PAGEMAP_SCAN ioctl;
 *   - uhmm with UHMM_PAGEMAP=proc vs one pread() of /proc/self/pagemap.
 * uhmm reads UHMM_PAGEMAP once, at first use, so the second pair runs in a
 * re-executed copy of this program with the variable set.
 * Goal: >= 80% of the raw rate.
 *
 * The raw sides do only the kernel call: uhmm's extra work (one result word
 * per page, VMA permissions, whatever else its backend reads) is what the
 * ratio prices.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "bench_range.h"

#define SNAP_GOAL	0.8

/* ------------------------------------------------------------------ */
/* Snapshot bodies                                                     */

static uint64_t uhmm_snap_body(void *arg, unsigned long iters)
{
	struct rbench *rb = arg;
	uint64_t fails = 0, t0 = bench_now_ns();
	unsigned long i;

	for (i = 0; i < iters; i++)
		fails += rbench_range_fault(rb, rb->mem, 0) != 0;
	t0 = bench_now_ns() - t0;
	bench_sink += fails;
	return t0;
}

/* One PAGEMAP_SCAN walk of the whole range; regions found, or -errno. */
static long raw_scan(struct rbench *rb)
{
	struct uhmm_pm_scan_arg a = {
		.size = sizeof(a),
		.start = (uintptr_t)rb->mem,
		.end = (uintptr_t)rb->mem + rb->len,
		.vec = (uintptr_t)rb->vec,
		.vec_len = rb->npages,
		.return_mask = UHMM_PAGE_SNAPSHOT_CATEGORIES,
	};
	long n = ioctl(rb->pagemap_fd, UHMM_PAGEMAP_SCAN, &a);

	return n < 0 ? -errno : n;
}

static uint64_t raw_scan_body(void *arg, unsigned long iters)
{
	struct rbench *rb = arg;
	uint64_t regions = 0, t0 = bench_now_ns();
	unsigned long i;

	for (i = 0; i < iters; i++)
		regions += (uint64_t)raw_scan(rb);
	t0 = bench_now_ns() - t0;
	bench_sink += regions;
	return t0;
}

static ssize_t raw_pread(struct rbench *rb)
{
	off_t off = (off_t)((uintptr_t)rb->mem / rb->page * sizeof(uint64_t));

	return pread(rb->pagemap_fd, rb->words,
		     rb->npages * sizeof(uint64_t), off);
}

static uint64_t raw_pread_body(void *arg, unsigned long iters)
{
	struct rbench *rb = arg;
	uint64_t bytes = 0, t0 = bench_now_ns();
	unsigned long i;

	for (i = 0; i < iters; i++)
		bytes += (uint64_t)raw_pread(rb);
	t0 = bench_now_ns() - t0;
	bench_sink += bytes;
	return t0;
}

/* ------------------------------------------------------------------ */
/* Snapshot figures                                                    */

/* Map and touch the range, check uhmm sees it, open the raw reader. */
static const char *snap_setup(struct rbench *rb)
{
	static char why[96];
	unsigned long i;
	int ret;

	rb->mem = rbench_map_fresh(rb->len);
	if (!rb->mem)
		return "mmap failed";
	for (i = 0; i < rb->len; i += rb->page)
		rb->mem[i] = 1;
	rb->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (rb->pagemap_fd < 0)
		return "cannot open /proc/self/pagemap";
	ret = rbench_range_fault(rb, rb->mem, 0);
	if (ret) {
		snprintf(why, sizeof(why), "uhmm_range_fault: %s",
			 strerror(-ret));
		return why;
	}
	if (rbench_check_words(rb, UHMM_PFN_VALID, "snapshot"))
		return "snapshot reports a touched page as not present";
	return NULL;
}

static void snap_compare(struct rbench *rb, const char *name,
			 const char *raw_name, bench_body_fn raw_body)
{
	struct bench_side s[2] = {
		{ name, uhmm_snap_body, rb, rb->npages, 0, 0, 0 },
		{ raw_name, raw_body, rb, rb->npages, 0, 0, 0 },
	};

	bench_run(s, 2, 40);
	rbench_report(name, s, ">= 0.8 of raw", SNAP_GOAL);
}

static void snap_proc(struct rbench *rb)
{
	if (raw_pread(rb) != (ssize_t)(rb->npages * sizeof(uint64_t))) {
		bench_skip("snapshot_proc_pagemap", "pages/s",
			   "pread of /proc/self/pagemap failed");
		return;
	}
	snap_compare(rb, "snapshot_proc_pagemap", "raw_pagemap_pread",
		     raw_pread_body);
}

static void snap_scan(struct rbench *rb)
{
	long n = raw_scan(rb);

	if (n < 0) {
		bench_skip("snapshot_pagemap_scan", "pages/s",
			   "PAGEMAP_SCAN ioctl unavailable");
		return;
	}
	snap_compare(rb, "snapshot_pagemap_scan", "raw_pagemap_scan",
		     raw_scan_body);
}

/* Run the proc half in a copy of ourselves with UHMM_PAGEMAP=proc. */
static int spawn_proc_child(void)
{
	extern char **environ;
	char *argv[5], **envp;
	size_t n = 0, i, j = 0;
	pid_t pid;
	int st, ret;

	argv[n++] = bench_opts.self;
	argv[n++] = (char *)"--snapshot-child";
	if (bench_opts.json)
		argv[n++] = (char *)"--json";
	if (bench_opts.quick)
		argv[n++] = (char *)"--quick";
	argv[n] = NULL;
	for (n = 0; environ[n]; n++)
		;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return -1;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "UHMM_PAGEMAP=", 13))
			envp[j++] = environ[i];
	envp[j] = (char *)"UHMM_PAGEMAP=proc";
	fflush(stdout);
	ret = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, envp);
	free(envp);
	if (ret || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int bench_snapshot_child(void)
{
	struct rbench rb;
	const char *why;
	int ret = rbench_init(&rb);

	if (ret)
		return ret;
	why = snap_setup(&rb);
	if (why)
		bench_skip("snapshot_proc_pagemap", "pages/s", why);
	else if (strcmp(uhmm_range_backend(), "proc_pagemap"))
		bench_skip("snapshot_proc_pagemap", "pages/s",
			   "UHMM_PAGEMAP=proc did not select proc_pagemap");
	else
		snap_proc(&rb);
	rbench_fini(&rb);
	return 0;
}

int bench_snapshot(void)
{
	struct rbench rb;
	const char *why;
	bool scan;
	int ret = rbench_init(&rb);

	if (ret)
		return ret;
	why = snap_setup(&rb);
	scan = !why && !strcmp(uhmm_range_backend(), "pagemap_scan");
	bench_note("snapshot: %lu pages, uhmm default backend %s\n",
		   rb.npages, uhmm_range_backend());
	if (why) {
		bench_skip("snapshot_pagemap_scan", "pages/s", why);
		bench_skip("snapshot_proc_pagemap", "pages/s", why);
	} else if (scan) {
		snap_scan(&rb);
	} else {
		bench_skip("snapshot_pagemap_scan", "pages/s",
			   "uhmm does not use PAGEMAP_SCAN here");
		snap_proc(&rb);
	}
	rbench_fini(&rb);
	if (scan && spawn_proc_child()) {
		fprintf(stderr, "snapshot: proc_pagemap child failed\n");
		return -1;
	}
	return 0;
}

