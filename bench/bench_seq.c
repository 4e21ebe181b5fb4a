/* SPDX-License-Identifier: MIT */
/*
 * bench_seq.c - figure 1: the owner's fast path, uhmm_interval_read_begin()
 * followed by uhmm_interval_read_retry() with no invalidation running.
 *
 * Goal: at most 5 ns per pair.  A pthread mutex lock + unlock pair, which an
 * owner takes around its commit anyway, is measured alongside for scale.
 */
#include <pthread.h>
#include <stdio.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define GOAL_NS 5.0

static bool nop_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *range,
			   unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_interval_sub_ops nop_ops = {
	.invalidate = nop_invalidate,
};

static uint64_t seq_body(void *arg, unsigned long iters)
{
	struct uhmm_interval_sub *sub = arg;
	uint64_t retries = 0, t0 = bench_now_ns();
	unsigned long i, seq;

	for (i = 0; i < iters; i++) {
		seq = uhmm_interval_read_begin(sub);
		retries += uhmm_interval_read_retry(sub, seq);
	}
	t0 = bench_now_ns() - t0;
	bench_sink += retries;
	return t0;
}

static uint64_t mutex_body(void *arg, unsigned long iters)
{
	pthread_mutex_t *m = arg;
	uint64_t t0 = bench_now_ns();
	unsigned long i;

	for (i = 0; i < iters; i++) {
		pthread_mutex_lock(m);
		pthread_mutex_unlock(m);
	}
	return bench_now_ns() - t0;
}

static void report(const struct bench_side *s)
{
	struct bench_fig f = {
		.name = "read_begin_retry",
		.value = s[0].ns_per_op,
		.unit = "ns/op",
		.noise = s[0].noise,
		.baseline = "mutex_lock_unlock",
		.baseline_value = s[1].ns_per_op,
		.ratio = s[0].ns_per_op / s[1].ns_per_op,
		.goal = "<= 5 ns/op",
		.goal_met = s[0].ns_per_op <= GOAL_NS,
	};

	bench_report(&f);
}

int bench_seq(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct uhmm_interval_sub sub;
	struct uhmm_mm *mm;
	struct bench_side s[2] = {
		{ "read_begin_retry", seq_body, &sub, 1, 0, 0, 0 },
		{ "mutex_lock_unlock", mutex_body, &m, 1, 0, 0, 0 },
	};
	int ret = uhmm_mm_create(&mm);

	if (ret) {
		fprintf(stderr, "seq: uhmm_mm_create: %d\n", ret);
		return -1;
	}
	/* No memory behind it: read_begin only reads sequences. */
	ret = uhmm_interval_sub_insert(&sub, mm, 1ul << 40, 1ul << 20,
				       &nop_ops);
	if (ret) {
		fprintf(stderr, "seq: uhmm_interval_sub_insert: %d\n", ret);
		uhmm_mm_put(mm);
		return -1;
	}
	bench_run(s, 2, 40);
	report(s);
	uhmm_interval_sub_remove(&sub);
	uhmm_mm_put(mm);
	return 0;
}
