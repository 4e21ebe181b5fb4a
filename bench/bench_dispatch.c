/* SPDX-License-Identifier: MIT */
/*
 * bench_dispatch.c - figure 2: the cost of uhmm_invalidate() on a one-page
 * range that hits exactly one interval, with 1, 1k and 100k intervals
 * registered, and of a miss (a page between intervals) with 100k.
 *
 * Goal: dispatch with 100k intervals at most twice the cost with one (the
 * interval tree keeps the lookup logarithmic).
 *
 * The intervals are page-sized and two pages apart over plain addresses: an
 * invalidation only looks them up, it touches no memory, so nothing needs to
 * be mapped.  Each hit picks its interval from a fixed pseudo-random
 * sequence, so the large trees are walked along many paths, as a real
 * process's changes would, rather than along one cached path;
 * dispatch_hit_100k_hot always hits the same interval, which shows the cost
 * of the walk itself once the path is in cache.
 */
#include <stdio.h>
#include <stdlib.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define BASE		(1ul << 42)	/* plain address, never dereferenced */
#define NTARGETS	4096		/* power of two */
#define GOAL_RATIO	2.0
#define NTREES		3		/* 1, 1k, 100k intervals */
#define NAIMS		5

/* Intervals registered on their own address space handle. */
struct tree {
	struct uhmm_mm *mm;
	struct uhmm_interval_sub *subs;
	unsigned long n;
};

/* Where one measured side aims its invalidations. */
struct aim {
	struct tree *t;
	unsigned long page;
	bool miss;			/* aim between intervals */
	bool hot;			/* always the same interval */
	unsigned int cursor;
	unsigned long targets[NTARGETS];	/* interval indices */
};

static unsigned long calls;	/* callbacks run; single-threaded */

static bool count_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *range,
			     unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	calls++;
	return true;
}

static const struct uhmm_interval_sub_ops count_ops = {
	.invalidate = count_invalidate,
};

static unsigned long addr_of(const struct aim *a, unsigned long idx)
{
	return BASE + idx * 2 * a->page + (a->miss ? a->page : 0);
}

static uint64_t dispatch_body(void *arg, unsigned long iters)
{
	struct aim *a = arg;
	struct uhmm_notifier_range r;
	uint64_t fails = 0, t0 = bench_now_ns();
	unsigned long i, addr;

	for (i = 0; i < iters; i++) {
		addr = addr_of(a, a->targets[a->cursor++ & (NTARGETS - 1)]);
		uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR,
					 UHMM_RANGE_BLOCKABLE, a->t->mm, addr,
					 addr + a->page);
		fails += uhmm_invalidate(&r) != 0;
	}
	t0 = bench_now_ns() - t0;
	bench_sink += fails;
	return t0;
}

static void aim_init(struct aim *a, struct tree *t, bool miss, bool hot)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int i;

	a->t = t;
	a->page = uhmm_page_size();
	a->miss = miss;
	a->hot = hot;
	for (i = 0; i < NTARGETS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a->targets[i] = hot ? t->n / 2 : (unsigned long)(x % t->n);
	}
}

static void tree_fini(struct tree *t)
{
	unsigned long i;

	for (i = 0; t->subs && i < t->n; i++)
		if (t->subs[i].mm)
			uhmm_interval_sub_remove(&t->subs[i]);
	free(t->subs);
	if (t->mm)
		uhmm_mm_put(t->mm);
}

/* Register @n page-sized intervals, two pages apart, on a fresh handle. */
static int tree_init(struct tree *t, unsigned long n)
{
	unsigned long i, page = uhmm_page_size();
	int ret;

	t->n = n;
	t->subs = calloc(n, sizeof(*t->subs));
	if (!t->subs)
		return -1;
	ret = uhmm_mm_create(&t->mm);
	for (i = 0; !ret && i < n; i++)
		ret = uhmm_interval_sub_insert(&t->subs[i], t->mm,
					       BASE + i * 2 * page, page,
					       &count_ops);
	if (ret)
		fprintf(stderr, "dispatch: setting up %lu intervals: %d\n",
			n, ret);
	return ret ? -1 : 0;
}

/* Check that a hit runs exactly one callback and a miss none. */
static int aim_verify(struct aim *a)
{
	unsigned long want = a->miss ? 0 : 64;

	calls = 0;
	dispatch_body(a, 64);
	if (calls == want)
		return 0;
	fprintf(stderr, "dispatch: %lu intervals, %s: %lu callbacks, "
		"expected %lu\n", a->t->n, a->miss ? "miss" : "hit", calls,
		want);
	return -1;
}

static void report(const struct bench_side *s, int i, const char *goal,
		   bool met)
{
	struct bench_fig f = {
		.name = s[i].name,
		.value = s[i].ns_per_op,
		.unit = "ns/op",
		.noise = s[i].noise,
		.baseline = i ? s[0].name : NULL,
		.baseline_value = s[0].ns_per_op,
		.ratio = s[i].ns_per_op / s[0].ns_per_op,
		.goal = goal,
		.goal_met = met,
	};

	bench_report(&f);
}

static void measure(struct aim *a)
{
	struct bench_side s[NAIMS] = {
		{ "dispatch_hit_1", dispatch_body, &a[0], 1, 0, 0, 0 },
		{ "dispatch_hit_1k", dispatch_body, &a[1], 1, 0, 0, 0 },
		{ "dispatch_hit_100k", dispatch_body, &a[2], 1, 0, 0, 0 },
		{ "dispatch_hit_100k_hot", dispatch_body, &a[3], 1, 0, 0, 0 },
		{ "dispatch_miss_100k", dispatch_body, &a[4], 1, 0, 0, 0 },
	};
	double ratio;
	int i;

	bench_run(s, NAIMS, 40);
	ratio = s[2].ns_per_op / s[0].ns_per_op;
	for (i = 0; i < NAIMS; i++)
		report(s, i, i == 2 ? "ratio <= 2" : NULL,
		       ratio <= GOAL_RATIO);
}

int bench_dispatch(void)
{
	static const unsigned long counts[NTREES] = { 1, 1000, 100000 };
	struct tree t[NTREES] = { { 0 } };
	struct aim *a = calloc(NAIMS, sizeof(*a));
	int i, ret = a ? 0 : -1;

	for (i = 0; i < NTREES && !ret; i++)
		ret = tree_init(&t[i], counts[i]);
	if (!ret) {
		aim_init(&a[0], &t[0], false, false);
		aim_init(&a[1], &t[1], false, false);
		aim_init(&a[2], &t[2], false, false);
		aim_init(&a[3], &t[2], false, true);
		aim_init(&a[4], &t[2], true, false);
	}
	for (i = 0; i < NAIMS && !ret; i++)
		ret = aim_verify(&a[i]);
	if (!ret)
		measure(a);
	for (i = 0; i < NTREES; i++)
		tree_fini(&t[i]);
	free(a);
	return ret;
}
