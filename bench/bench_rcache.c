/* SPDX-License-Identifier: MIT */
/*
 * bench_rcache.c - figure group "rcache": uhmm's registration cache
 * (consumers/rcache, issue 5) side by side with UCX's ucs_rcache:
 *   - hit: get + put of a cached region, on 1 thread and on 2 threads each
 *     hitting a region of its own (aggregate throughput);
 *   - miss: get of a range not cached + invalidate + put: registration and
 *     deregistration, the cache's own cost around them;
 *   - churn: munmap() + mmap() of a registered 256 KiB buffer, get of the
 *     new one (a miss), get of another (a hit);
 *   - idle: 10^6 malloc/free rounds after caching 64 buffers, with no cache
 *     call: resident memory before and after, regions left pending.
 * Goals (issue 5): hit <= 30 ns and >= 3x faster than UCX's; 2 threads
 * >= 1.8x one thread; memory bounded in the idle rounds.
 *
 * Each cache runs in a helper process of its own (bench_rcache_child.c),
 * both alive for the whole group: uhmm-bench-rcache with capture on,
 * uhmm-bench-rcache-ucx with UCM's hooks on (each patches libc for good).
 * bench_run() interleaves the sides as usual; a rep sends one helper a
 * command through a pipe and takes back the time of the helper's own loop.
 * The parent checks every rep's registration counts (no registration in a
 * hit loop, exactly one per miss and per churned buffer), so a cache that
 * missed an invalidation or a hit turns its figures into skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_pipe.h"
#include "bench_rcache.h"

#define TARGET_MS	40
#define GOAL_HIT_NS	30.0
#define GOAL_HIT_RATIO	(1.0 / 3)
#define GOAL_SCALING	1.8
#define GOAL_IDLE_KIB	1024.0
#define HIST		32	/* per-rep CPU counts kept for the median */

enum { K_UHMM, K_UCX, NKID };

/* One helper process, one cache. */
struct rbkid {
	const char *helper;	/* its file name, next to this program */
	pid_t pid;
	int to, from;		/* its stdin, its stdout */
	char note[120];		/* how its cache hears of changes */
	char why[160];		/* non-empty: unusable, and why */
};

/* What a measured side sends its helper, and what its reps showed. */
struct rbside {
	struct rbkid *k;
	enum rbloop loop;
	unsigned int threads;
	double cpus[HIST];	/* RB_HIT: CPU time / wall time, per call */
	double overlap[HIST];	/* RB_HIT: all-threads-running / wall */
	unsigned int ncalls;
	char why[200];		/* non-empty: a rep's counts were wrong */
};

static struct rbkid kids[NKID] = {
	[K_UHMM] = { .helper = "uhmm-bench-rcache" },
	[K_UCX] = { .helper = "uhmm-bench-rcache-ucx" },
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static int spawn_fds(struct rbkid *k, char *path, int *to, int *from)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	char *argv[] = { path, NULL };
	int ret = posix_spawn_file_actions_init(&fa);

	if (ret)
		return ret;
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	ret = posix_spawn(&k->pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return ret;
}

/* The helper's set-up reply: a note, or why it cannot run. */
static void read_setup(struct rbkid *k)
{
	struct rbreply r;

	if (bench_xfer(k->from, &r, sizeof(r), true))
		snprintf(k->why, sizeof(k->why), "%s died", k->helper);
	else if (r.err)
		snprintf(k->why, sizeof(k->why), "%s: %.*s", k->helper,
			 (int)sizeof(r.why), r.why);
	else
		snprintf(k->note, sizeof(k->note), "%.*s",
			 (int)sizeof(r.why), r.why);
}

static void kid_start(struct rbkid *k)
{
	char path[PATH_MAX];
	int to[2], from[2], ret;

	k->pid = -1;
	k->to = k->from = -1;
	if (bench_helper_path(path, sizeof(path), k->helper)) {
		snprintf(k->why, sizeof(k->why), "%s not found next to "
			 "uhmm-bench", k->helper);
		return;
	}
	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC)) {
		snprintf(k->why, sizeof(k->why), "pipe: %s", strerror(errno));
		return;
	}
	ret = spawn_fds(k, path, to, from);
	close(to[0]);
	close(from[1]);
	k->to = to[1];
	k->from = from[0];
	if (ret)
		snprintf(k->why, sizeof(k->why), "spawn %s: %s", k->helper,
			 strerror(ret));
	else
		read_setup(k);
}

static void kid_stop(struct rbkid *k)
{
	int st;

	if (k->to >= 0)
		close(k->to);
	if (k->from >= 0)
		close(k->from);
	if (k->pid > 0)
		waitpid(k->pid, &st, 0);
}

/* ------------------------------------------------------------------ */
/* Remote bodies                                                       */

/* Are the registration counts of a loop of @n operations right? */
static const char *counts_wrong(enum rbloop loop, uint64_t n,
				const struct rbreply *r)
{
	if (loop == RB_HIT)
		return r->regs ? "registered in a hit loop" : NULL;
	if (r->regs != n)
		return loop == RB_CHURN ? "a freed buffer stayed cached" :
		       "a miss was not registered once";
	if (loop == RB_CHURN && !r->deregs)
		return "free() unmapped nothing (an allocator that keeps "
		       "freed memory, e.g. a sanitizer's)";
	if (r->deregs + RB_CHURN_BUFS < n)
		return "invalidated regions were not deregistered";
	return NULL;
}

static int send_cmd(struct rbkid *k, struct rbcmd *c,
		    struct rbreply *r)
{
	if (k->why[0])
		return -1;
	if (bench_xfer(k->to, c, sizeof(*c), false) ||
	    bench_xfer(k->from, r, sizeof(*r), true)) {
		snprintf(k->why, sizeof(k->why), "%s died", k->helper);
		return -1;
	}
	if (r->err)
		snprintf(k->why, sizeof(k->why), "%s: %.*s", k->helper,
			 (int)sizeof(r->why), r->why);
	return r->err ? -1 : 0;
}

static void keep_cpus(struct rbside *s, const struct rbreply *r)
{
	unsigned int i = s->ncalls++ % HIST;

	s->cpus[i] = r->ns ? (double)r->cpu_ns / (double)r->ns : 0;
	s->overlap[i] = r->ns ? (double)r->overlap_ns / (double)r->ns : 0;
}

/* Run @iters of the side's loop in its helper; its loop time in ns. */
static uint64_t remote_body(void *arg, unsigned long iters)
{
	struct rbside *s = arg;
	struct rbcmd c = { s->loop, s->threads, iters };
	struct rbreply r;
	const char *bad;

	if (send_cmd(s->k, &c, &r))
		return iters;	/* dead: the figure is skipped anyway */
	bad = counts_wrong(s->loop, iters * s->threads, &r);
	if (bad && !s->why[0])
		snprintf(s->why, sizeof(s->why),
			 "%s: %s (%llu registrations, %llu deregistrations "
			 "for %lu operations)", s->k->helper, bad,
			 (unsigned long long)r.regs,
			 (unsigned long long)r.deregs, iters);
	if (s->loop == RB_HIT)
		keep_cpus(s, &r);
	return r.ns;
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of the values the last bench_reps() calls kept. */
static double median_last(const double *hist, unsigned int ncalls)
{
	unsigned int n = (unsigned int)bench_reps(), i;
	double v[HIST];

	if (n > ncalls)
		n = ncalls;
	if (n > HIST)
		n = HIST;
	for (i = 0; i < n; i++)
		v[i] = hist[(ncalls - 1 - i) % HIST];
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static void report_ns(const char *name, const struct bench_side *s,
		      const struct bench_side *base, const char *goal,
		      bool met)
{
	struct bench_fig f = {
		.name = name, .value = s->ns_per_op, .unit = "ns/op",
		.noise = s->noise, .goal = goal, .goal_met = met,
	};

	if (base) {
		f.baseline = base->name;
		f.baseline_value = base->ns_per_op;
		f.ratio = s->ns_per_op / base->ns_per_op;
	}
	bench_report(&f);
}

static void report_plain(const char *name, double v, const char *unit)
{
	struct bench_fig f = { .name = name, .value = v, .unit = unit };

	bench_report(&f);
}

/* Aggregate 2-thread throughput against one thread's. */
static void report_scaling(const struct bench_side *two,
			   const struct bench_side *one, const char *goal)
{
	struct bench_fig f = {
		.name = two->name, .value = bench_rate(two), .unit = "ops/s",
		.noise = two->noise, .baseline = one->name,
		.baseline_value = bench_rate(one),
		.ratio = bench_rate(two) / bench_rate(one),
		.goal = goal,
	};

	f.goal_met = f.ratio >= GOAL_SCALING;
	bench_report(&f);
}

static void skip_all(const char *const *names, int n, const char *unit,
		     const char *why)
{
	int i;

	for (i = 0; i < n; i++)
		bench_skip(names[i], unit, why);
}

/* Why a helper is unusable, or NULL: both alive. */
static const char *dead(void)
{
	return kids[K_UHMM].why[0] ? kids[K_UHMM].why :
	       kids[K_UCX].why[0] ? kids[K_UCX].why : NULL;
}

/* Why the figures of @n sides cannot be reported, or NULL. */
static const char *failed(const struct rbside *rs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (rs[i].why[0])
			return rs[i].why;
	return dead();
}

/* ------------------------------------------------------------------ */
/* Groups of figures                                                   */

static const char *const hit_names[] = {
	"rcache_hit_uhmm", "rcache_hit_ucx", "rcache_hit_2t_uhmm",
	"rcache_hit_2t_ucx", "rcache_hit_2t_cpus_uhmm", "rcache_hit_2t_cpus_ucx",
};

static void hit_notes(struct rbside *rs)
{
	double cu = median_last(rs[2].cpus, rs[2].ncalls);
	double cx = median_last(rs[3].cpus, rs[3].ncalls);

	report_plain(hit_names[4], cu, "cpus");
	report_plain(hit_names[5], cx, "cpus");
	bench_note("rcache: 2-thread reps kept %.2f (uhmm) / %.2f (ucx) CPUs "
		   "busy, both threads in their loops %.0f%% / %.0f%% of the "
		   "time%s\n", cu, cx,
		   100 * median_last(rs[2].overlap, rs[2].ncalls),
		   100 * median_last(rs[3].overlap, rs[3].ncalls),
		   cu < 1.9 || cx < 1.9 ? " (< 1.9: the machine was busy, "
		   "2-thread figures understate scaling)" : "");
}

static void group_hit(void)
{
	struct rbside rs[4] = {
		{ .k = &kids[K_UHMM], .loop = RB_HIT, .threads = 1 },
		{ .k = &kids[K_UCX], .loop = RB_HIT, .threads = 1 },
		{ .k = &kids[K_UHMM], .loop = RB_HIT, .threads = 2 },
		{ .k = &kids[K_UCX], .loop = RB_HIT, .threads = 2 },
	};
	struct bench_side s[4];
	int i;

	for (i = 0; i < 4; i++)
		s[i] = (struct bench_side){ hit_names[i], remote_body, &rs[i],
					    rs[i].threads, 0, 0, 0 };
	if (!dead())
		bench_run(s, 4, TARGET_MS);
	if (failed(rs, 4)) {
		skip_all(hit_names, 6, "ns/op", failed(rs, 4));
		return;
	}
	report_ns(hit_names[0], &s[0], &s[1], "<= 30 ns/op and <= 0.33x ucx",
		  s[0].ns_per_op <= GOAL_HIT_NS &&
		  s[0].ns_per_op <= GOAL_HIT_RATIO * s[1].ns_per_op);
	report_ns(hit_names[1], &s[1], NULL, NULL, false);
	report_scaling(&s[2], &s[0], ">= 1.8x 1 thread");
	report_scaling(&s[3], &s[1], NULL);
	hit_notes(rs);
}

/* uhmm vs UCX on a single-threaded loop. */
static void group_pair(enum rbloop loop, const char *uname, const char *xname)
{
	struct rbside rs[2] = {
		{ .k = &kids[K_UHMM], .loop = loop, .threads = 1 },
		{ .k = &kids[K_UCX], .loop = loop, .threads = 1 },
	};
	struct bench_side s[2] = {
		{ uname, remote_body, &rs[0], 1, 0, 0, 0 },
		{ xname, remote_body, &rs[1], 1, 0, 0, 0 },
	};
	const char *names[2] = { uname, xname };

	if (!dead())
		bench_run(s, 2, TARGET_MS);
	if (failed(rs, 2)) {
		skip_all(names, 2, "ns/op", failed(rs, 2));
		return;
	}
	report_ns(uname, &s[0], &s[1], NULL, false);
	report_ns(xname, &s[1], NULL, NULL, false);
}

static const struct {
	const char *name, *unit;
} idle_figs[] = {
	{ "rcache_idle_rss_uhmm", "KiB" },
	{ "rcache_idle_pending_uhmm", "regions" },
	{ "rcache_idle_registered_uhmm", "regions" },
	{ "rcache_idle_rss_ucx", "KiB" },
	{ "rcache_idle_registered_ucx", "regions" },
};

static void skip_idle(const char *why)
{
	size_t i;

	for (i = 0; i < sizeof(idle_figs) / sizeof(idle_figs[0]); i++)
		bench_skip(idle_figs[i].name, idle_figs[i].unit, why);
}

/* Resident KiB grown over the rounds, against the KiB before them. */
static void report_rss(const char *name, const struct rbreply *r, bool goal)
{
	struct bench_fig f = {
		.name = name, .unit = "KiB",
		.value = (double)r->rss_after - (double)r->rss_before,
		.baseline = "rss_before",
		.baseline_value = (double)r->rss_before,
		.ratio = (double)r->rss_after / (double)r->rss_before,
	};

	if (goal) {
		f.goal = "<= 1024 KiB growth, <= 64 regions pending";
		f.goal_met = f.value <= GOAL_IDLE_KIB &&
			     r->pending <= RB_IDLE_BUFS;
	}
	bench_report(&f);
}

static bool idle_one(struct rbkid *k, uint64_t rounds, struct rbreply *r)
{
	struct rbcmd c = { RB_IDLE, 1, rounds };

	return !send_cmd(k, &c, r) && r->rss_before;
}

static void group_idle(void)
{
	uint64_t rounds = bench_opts.quick ? 100000 : 1000000;
	struct rbreply u, x;

	if (!idle_one(&kids[K_UHMM], rounds, &u) ||
	    !idle_one(&kids[K_UCX], rounds, &x)) {
		skip_idle(dead() ? dead() : "no RSS");
		return;
	}
	bench_note("rcache: %llu malloc/free rounds, no cache call: "
		   "%.0f ns/round (uhmm capture) vs %.0f (UCM)\n",
		   (unsigned long long)rounds, (double)u.ns / (double)rounds,
		   (double)x.ns / (double)rounds);
	report_rss(idle_figs[0].name, &u, true);
	report_plain(idle_figs[1].name, (double)u.pending, "regions");
	report_plain(idle_figs[2].name, (double)u.registered, "regions");
	report_rss(idle_figs[3].name, &x, false);
	report_plain(idle_figs[4].name, (double)x.registered, "regions");
}

static const char *const pair_names[] = {
	"rcache_miss_uhmm", "rcache_miss_ucx",
	"rcache_churn_uhmm", "rcache_churn_ucx",
};

static void skip_group(const char *why)
{
	skip_all(hit_names, 6, "ns/op", why);
	skip_all(pair_names, 4, "ns/op", why);
	skip_idle(why);
}

int bench_rcache(void)
{
	static const char built[] = UHMM_BENCH_RCACHE_SKIP;
	void (*old)(int);
	int i;

	if (built[0]) {
		skip_group(built);
		return 0;
	}
	old = signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < NKID; i++)
		kid_start(&kids[i]);
	bench_note("rcache: trivial backend (record the range); uhmm: %s; "
		   "ucx: %s\n", kids[K_UHMM].note[0] ? kids[K_UHMM].note : "-",
		   kids[K_UCX].note[0] ? kids[K_UCX].note : "-");
	group_hit();
	group_pair(RB_MISS, pair_names[0], pair_names[1]);
	group_pair(RB_CHURN, pair_names[2], pair_names[3]);
	group_idle();
	for (i = 0; i < NKID; i++)
		kid_stop(&kids[i]);
	signal(SIGPIPE, old);
	return 0;
}
