/* SPDX-License-Identifier: MIT */
/*
 * bench.c - timing and reporting for uhmm-bench (see bench.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define MAX_REPS	BENCH_MAX_REPS
#define MAX_ITERS	(1ul << 30)

struct bench_opts bench_opts;
volatile uint64_t bench_sink;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_reps(void)
{
	if (bench_opts.reps)
		return bench_opts.reps;
	return bench_opts.quick ? 3 : 15;
}

/*
 * Grow the iteration count until a run is long enough to time (an eighth of
 * the target), then scale it to the target.  Bodies that take longer than the
 * target per operation run once per rep.
 */
static void calibrate(struct bench_side *s, uint64_t target_ns)
{
	unsigned long iters = 1;
	uint64_t t;

	for (;;) {
		t = s->body(s->arg, iters);
		if (t >= target_ns / 8 || iters >= MAX_ITERS)
			break;
		iters *= t < target_ns / 64 ? 8 : 2;
	}
	if (t == 0)
		t = 1;
	iters = (unsigned long)((double)iters * (double)target_ns / (double)t);
	if (iters < 1)
		iters = 1;
	s->iters = iters > MAX_ITERS ? MAX_ITERS : iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void summarise(struct bench_side *s, double *v, int reps)
{
	double med;

	qsort(v, (size_t)reps, sizeof(*v), cmp_double);
	med = v[reps / 2];
	s->ns_per_op = med;
	s->noise = med > 0 ? (v[reps - 1] - v[0]) / med : 0;
}

void bench_run(struct bench_side *sides, int n, unsigned int target_ms)
{
	uint64_t target = (uint64_t)target_ms * 1000000u;
	double v[8][MAX_REPS];
	int reps = bench_reps();
	int r, k, i;

	if (bench_opts.quick)
		target /= 10;
	if (n > 8)
		abort();
	for (i = 0; i < n; i++)
		calibrate(&sides[i], target);
	/* Rotate the order every rep so no side always runs first. */
	for (r = 0; r < reps; r++) {
		for (k = 0; k < n; k++) {
			struct bench_side *s = &sides[(r + k) % n];
			uint64_t t = s->body(s->arg, s->iters);

			v[(r + k) % n][r] = (double)t /
				((double)s->iters * (double)s->ops_per_iter);
		}
	}
	for (i = 0; i < n; i++)
		summarise(&sides[i], v[i], reps);
}

double bench_rate(const struct bench_side *s)
{
	return s->ns_per_op > 0 ? 1e9 / s->ns_per_op : 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

/* A number for people: 3 significant digits with a k/M/G suffix. */
static const char *human(char *buf, size_t len, double x)
{
	static const char sfx[] = " kMG";
	int i = 0;

	while (x >= 1000 && i < 3) {
		x /= 1000;
		i++;
	}
	if (i)
		snprintf(buf, len, "%.3g%c", x, sfx[i]);
	else
		snprintf(buf, len, "%.3g", x);
	return buf;
}

static void print_json(const struct bench_fig *f)
{
	if (f->skipped) {
		printf("{\"name\": \"%s\", \"value\": null, \"unit\": \"%s\", "
		       "\"skipped\": \"%s\"}\n", f->name, f->unit, f->skipped);
		return;
	}
	printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", "
	       "\"noise\": %.3f", f->name, f->value, f->unit, f->noise);
	if (f->baseline)
		printf(", \"baseline\": \"%s\", \"baseline_value\": %.6g, "
		       "\"ratio\": %.4f", f->baseline, f->baseline_value,
		       f->ratio);
	if (f->goal)
		printf(", \"goal\": \"%s\", \"goal_met\": %s", f->goal,
		       f->goal_met ? "true" : "false");
	printf("}\n");
}

static void print_text(const struct bench_fig *f)
{
	char v[32], b[32], noise[16];

	if (f->skipped) {
		printf("%-26s %9s %-8s skipped: %s\n", f->name, "-", f->unit,
		       f->skipped);
		return;
	}
	snprintf(noise, sizeof(noise), "+-%.0f%%", f->noise * 50);
	printf("%-26s %9s %-8s %-6s", f->name, human(v, sizeof(v), f->value),
	       f->unit, noise);
	if (f->baseline)
		printf(" vs %-22s %9s  ratio %6.3f", f->baseline,
		       human(b, sizeof(b), f->baseline_value), f->ratio);
	if (f->goal)
		printf("  goal %s: %s", f->goal, f->goal_met ? "met" : "NOT met");
	printf("\n");
}

void bench_report(const struct bench_fig *f)
{
	if (bench_opts.json)
		print_json(f);
	else
		print_text(f);
	fflush(stdout);
}

void bench_skip(const char *name, const char *unit, const char *why)
{
	struct bench_fig f = { .name = name, .unit = unit, .skipped = why };

	bench_report(&f);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;

	if (bench_opts.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}
