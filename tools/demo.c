/* SPDX-License-Identifier: MIT */
/*
 * demo.c - `uhmm demo`: options, the threads, the run.  demo.h explains the
 * design and why it cannot deadlock.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/dmirror.h>

#include "demo.h"

static void demo_usage(FILE *f)
{
	fprintf(f,
		"usage: uhmm demo [--duration S] [--threads N] [--devices N] [--seed X]\n"
		"                 [--json] [--quiet]\n"
		"  Workload threads churn their memory (malloc/free, mmap/munmap,\n"
		"  mremap, madvise(DONTNEED), mprotect) while dmirror devices\n"
		"  read and write it through their mirrors; every access is checked.\n"
		"  --duration S  seconds to run (default 20)\n"
		"  --threads N   workload threads, 1-%d (default 4)\n"
		"  --devices N   devices, 1-%d, %d threads each (default 3)\n"
		"  --seed X      seed of the contents and choices (default: random)\n"
		"  --json        the summary as one JSON object\n"
		"  --quiet       no progress lines\n"
		"  Exit 0 if no access was wrong or stale, 1 otherwise, 2 on bad usage.\n",
		DEMO_MAX_THREADS, DEMO_MAX_DEVICES, DEMO_THREADS_PER_DEVICE);
}

static int bad(const char *what, const char *v)
{
	fprintf(stderr, "uhmm demo: %s '%s'\n", what, v ? v : "");
	demo_usage(stderr);
	return 2;
}

/* A whole number in [lo, hi], or false. */
static bool number(const char *v, unsigned long lo, unsigned long hi,
		   unsigned int *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n < lo || n > hi)
		return false;
	*out = (unsigned int)n;
	return true;
}

static bool duration(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d > 0) || d > 86400)
		return false;
	*out = d;
	return true;
}

static bool seed(const char *v, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 0);
	return !errno && end != v && !*end && *v != '-';
}

/* An option with a value.  Return: 0 or 2. */
static int value(struct demo_config *c, const char *a, const char *v)
{
	if (!v)
		return bad("missing value for", a);
	if (!strcmp(a, "--duration"))
		return duration(v, &c->duration) ? 0 : bad("bad duration", v);
	if (!strcmp(a, "--threads"))
		return number(v, 1, DEMO_MAX_THREADS, &c->threads) ? 0 :
		       bad("bad thread count", v);
	if (!strcmp(a, "--devices"))
		return number(v, 1, DEMO_MAX_DEVICES, &c->devices) ? 0 :
		       bad("bad device count", v);
	c->seeded = true;
	return seed(v, &c->seed) ? 0 : bad("bad seed", v);
}

static bool has_value(const char *a)
{
	return !strcmp(a, "--duration") || !strcmp(a, "--threads") ||
	       !strcmp(a, "--devices") || !strcmp(a, "--seed");
}

/* Return: -1 to go on, else the exit status. */
static int parse(struct demo_config *c, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			c->json = true;
		} else if (!strcmp(a, "--quiet")) {
			c->quiet = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			demo_usage(stdout);
			return 0;
		} else if (has_value(a)) {
			if (value(c, a, i + 1 < argc ? argv[i + 1] : NULL))
				return 2;
			i++;
		} else {
			return bad("unknown argument", a);
		}
	}
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The process-wide settings the checks rely on: no transparent huge pages
 * (khugepaged would move pages behind everyone's back), and a fixed mmap
 * threshold (glibc raises it after the first free of a mapped chunk, and
 * large blocks would stop being unmapped by free()).
 */
static void settings(struct demo_config *c)
{
	const char *f = getenv("UHMM_DEMO_FAULT");

	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#ifdef DEMO_SANITIZER
	c->large = false;
	c->slots_per_thread = 16;
#else
	c->large = mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1;
	c->slots_per_thread = 32;
#endif
	c->corrupt = f && !strcmp(f, "corrupt");
	if (!c->seeded)
		c->seed = demo_mix((uint64_t)time(NULL) ^
				   ((uint64_t)getpid() << 32));
}

static int open_devices(void)
{
	unsigned int d;
	int ret;

	for (d = 0; d < demo.cfg.devices; d++) {
		ret = uhmm_dmirror_open(NULL, &demo.dev[d]);
		if (ret) {
			fprintf(stderr, "uhmm demo: uhmm_dmirror_open: %s\n",
				strerror(-ret));
			while (d--)
				uhmm_dmirror_close(demo.dev[d]);
			return ret;
		}
	}
	return 0;
}

static void close_devices(void)
{
	unsigned int d;

	for (d = 0; d < demo.cfg.devices; d++)
		uhmm_dmirror_close(demo.dev[d]);
}

struct threads {
	pthread_t workload[DEMO_MAX_THREADS];
	struct demo_device_thread dev[DEMO_MAX_DEVICES *
				      DEMO_THREADS_PER_DEVICE];
	unsigned int nr_workload, nr_dev;
};

static int start(struct threads *th)
{
	unsigned int i, n = demo.cfg.devices * DEMO_THREADS_PER_DEVICE;
	int err = 0;

	for (i = 0; !err && i < demo.cfg.threads; i++) {
		err = pthread_create(&th->workload[i], NULL,
				     demo_workload_thread, (void *)(uintptr_t)i);
		th->nr_workload += !err;
	}
	for (i = 0; !err && i < n; i++) {
		th->dev[i].dev = i % demo.cfg.devices;
		th->dev[i].nr = i;
		err = pthread_create(&th->dev[i].tid, NULL, demo_device_thread,
				     &th->dev[i]);
		th->nr_dev += !err;
	}
	if (err)
		fprintf(stderr, "uhmm demo: pthread_create: %s\n",
			strerror(err));
	return -err;
}

/* Device threads first: once they are gone no pin is held. */
static void stop(struct threads *th)
{
	unsigned int i;

	__atomic_store_n(&demo.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < th->nr_dev; i++)
		pthread_join(th->dev[i].tid, NULL);
	for (i = 0; i < th->nr_workload; i++)
		pthread_join(th->workload[i], NULL);
}

/* Progress every second on a terminal, every 5 s otherwise. */
static double run(double t0)
{
	double every = isatty(STDERR_FILENO) ? 1 : 5, next = every, t;
	struct timespec tick = { 0, 50 * 1000 * 1000 };

	while ((t = now() - t0) < demo.cfg.duration) {
		if (t >= next && !demo.cfg.quiet) {
			demo_progress(t, false);
			next += every;
		}
		nanosleep(&tick, NULL);
	}
	return t;
}

static int demo_main(void)
{
	static struct threads th;
	double t0, elapsed;
	bool fail = true;
	int ret;

	if (demo_slots_init())
		return 1;
	demo_pagemap_open();
	ret = open_devices();
	if (!ret) {
		t0 = now();
		ret = start(&th);
		elapsed = ret ? now() - t0 : run(t0);
		stop(&th);
		demo_workload_retire_all();
		if (!demo.cfg.quiet)
			demo_progress(now() - t0, true);
		fail = demo_summary(elapsed);
		close_devices();
	}
	if (demo.pagemap_fd >= 0)
		close(demo.pagemap_fd);
	demo_slots_free();
	return fail ? 1 : 0;
}

int uhmm_cmd_demo(int argc, char **argv)
{
	int ret;

	demo.cfg.duration = 20;
	demo.cfg.threads = 4;
	demo.cfg.devices = 3;
	ret = parse(&demo.cfg, argc, argv);
	if (ret >= 0)
		return ret;
	settings(&demo.cfg);
	return demo_main();
}
