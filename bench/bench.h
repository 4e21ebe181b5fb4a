/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the tiny timing and reporting kit shared by the figure groups of
 * uhmm-bench.
 *
 * A comparison measures every side in the same process, interleaved: rep 0
 * runs A then B, rep 1 runs B then A, and so on, and each side's figure is
 * the median of its reps.  Machine noise (other processes, frequency steps)
 * then lands on both sides alike instead of on whichever ran second.
 */
#ifndef UHMM_BENCH_H
#define UHMM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

/* Command line, set once by main(). */
struct bench_opts {
	bool json;		/* one JSON object per line and figure */
	bool quick;		/* smoke-test sizes: a few seconds in all */
	int reps;		/* --reps N; 0: the default */
	char *self;		/* argv[0], for re-executing ourselves */
};

extern struct bench_opts bench_opts;

/*
 * A measured body: run @iters operations and return the nanoseconds spent in
 * the part being measured (setup a body does per operation, such as mapping a
 * fresh range, is left out of the returned time).
 */
typedef uint64_t (*bench_body_fn)(void *arg, unsigned long iters);

/* One side of a comparison. */
struct bench_side {
	const char *name;
	bench_body_fn body;
	void *arg;
	unsigned long ops_per_iter;	/* e.g. pages per call, for rates */
	/* filled in by bench_run() */
	unsigned long iters;		/* per rep, from calibration */
	double ns_per_op;		/* median over reps */
	double noise;			/* (max - min) / median over reps */
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Reps per side; odd so that the median is one measured rep. */
/* Most reps a figure may take (--reps). */
#define BENCH_MAX_REPS	31
int bench_reps(void);

/*
 * bench_run() - calibrate each side so one rep takes about @target_ms
 * (quick mode scales it down), then run bench_reps() interleaved reps.
 */
void bench_run(struct bench_side *sides, int n, unsigned int target_ms);

/* ops per second of a measured side. */
double bench_rate(const struct bench_side *s);

/* One line of output: a figure, optionally compared with a baseline. */
struct bench_fig {
	const char *name;
	double value;
	const char *unit;
	double noise;			/* of @value, as a fraction */
	const char *baseline;		/* NULL: a plain figure */
	double baseline_value;
	double ratio;
	const char *goal;		/* NULL: no goal */
	bool goal_met;
	const char *skipped;		/* non-NULL: not measured, and why */
};

void bench_report(const struct bench_fig *f);

/* Report @name as not measured, with @why. */
void bench_skip(const char *name, const char *unit, const char *why);

/* Print a note (text mode only; --json output stays pure figures). */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Keep a computed value alive so the compiler cannot drop the loop. */
extern volatile uint64_t bench_sink;

/* The figure groups; each returns 0, or -1 after printing why it failed. */
int bench_seq(void);
int bench_dispatch(void);
int bench_snapshot(void);
int bench_fault(void);
int bench_capture(void);
int bench_rcache(void);
/* The half of the snapshot group that runs in a re-executed child. */
int bench_snapshot_child(void);

#endif /* UHMM_BENCH_H */
