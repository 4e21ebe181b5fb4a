/* SPDX-License-Identifier: MIT */
/*
 * bench_capture.c - figure group "capture": what announcing every change
 * costs the calls that make them (issue 3), side by side with the bare calls
 * and with UCX's UCM:
 *   - mmap+munmap of one page, and mmap+touch+munmap: bare, uhmm capture
 *     with a subscriber that the loop never overlaps, UCM with a
 *     UCM_EVENT_VM_UNMAPPED handler that only counts;
 *   - mmap+munmap of one page that lies in exactly one of 100k page-sized
 *     intervals (one callback per munmap), against the same loop bare;
 *   - the raw-syscall path: write + madvise(DONTNEED) of a subscribed page
 *     through an inline syscall instruction, which only the userfaultfd
 *     reader sees (UHMM_CAPTURE_UFFD=on), against the same loop bare.
 * Goals: uhmm <= 1.02x bare and no slower than UCM; 1-of-100k <= 1.3x bare;
 * raw-syscall path <= 3x bare.
 *
 * Capture and UCM patch libc's entries for the whole process, for good, so
 * every side runs in a helper process of its own (uhmm-bench-capture and
 * uhmm-bench-capture-ucm, next to this program; bench_capture_child.c), all
 * of them alive for the whole
 * group.  bench_run() interleaves the sides as usual: a side's body sends
 * its helper one command through a pipe and gets back the time the helper's
 * own loop took, so only one helper runs at a time and machine noise lands
 * on every side alike.  Every helper loads libuhmm-interpose.so (the bare
 * and UCM ones with UHMM_CAPTURE=off, i.e. pass-through wrappers), so what
 * the uhmm ratio prices is capture itself, not the library being loaded.
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
#include "bench_capture.h"

#define TARGET_MS	60
#define GOAL_OVER_BARE	1.02
#define GOAL_HIT	1.3
#define GOAL_RAW	3.0

enum { C_BARE, C_UHMM, C_UHMM100K, C_UFFD, C_UCM, NCHILD };

/*
 * Linking libucm brings libucs, whose constructor patches libc's entries at
 * load, before ours: so UCM has a helper binary of its own, built only when
 * libucx-dev is installed.
 */
#define HELPER		"uhmm-bench-capture"

/* One helper process, one side. */
struct capchild {
	char *mode;		/* argv[1] of the helper */
	const char *helper;	/* its file name */
	bool capture_off;
	bool uffd;		/* UHMM_CAPTURE_UFFD=on */
	pid_t pid;
	int to, from;		/* its stdin, its stdout */
	char why[160];		/* non-empty: unusable, and why */
};

/* How many callbacks a loop must have run, per operation. */
enum expect { EXPECT_NONE, EXPECT_ONE, EXPECT_SOME };

/* What a measured side sends its helper. */
struct capside {
	struct capchild *c;
	enum caploop loop;
	enum expect expect;
};

static struct capchild kids[NCHILD] = {
	[C_BARE] = { "bare", HELPER, true },
	[C_UHMM] = { "uhmm", HELPER, false },
	[C_UHMM100K] = { "uhmm100k", HELPER, false },
	[C_UFFD] = { "uffd", HELPER, false, true },
	[C_UCM] = { "ucm", HELPER "-ucm", true },
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Our environment without UHMM_CAPTURE and UHMM_CAPTURE_UFFD, plus what
 * @c's side sets. */
static char **child_env(const struct capchild *c)
{
	extern char **environ;
	size_t n, i, j = 0;
	char **envp;

	for (n = 0; environ[n]; n++)
		;
	envp = calloc(n + 3, sizeof(*envp));
	if (!envp)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "UHMM_CAPTURE=", 13) &&
		    strncmp(environ[i], "UHMM_CAPTURE_UFFD=", 18))
			envp[j++] = environ[i];
	if (c->capture_off)
		envp[j++] = (char *)"UHMM_CAPTURE=off";
	if (c->uffd)
		envp[j++] = (char *)"UHMM_CAPTURE_UFFD=on";
	return envp;
}

static int spawn_fds(struct capchild *c, char *path, int *to, int *from)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { path, c->mode, NULL };
	char **envp = child_env(c);
	int ret = envp ? posix_spawn_file_actions_init(&fa) : ENOMEM;

	if (ret) {
		free(envp);
		return ret;
	}
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	ret = posix_spawn(&c->pid, path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	return ret;
}

/* Start @c and read its set-up reply; on failure c->why says why. */
static void child_start(struct capchild *c)
{
	char path[PATH_MAX];
	struct capreply r;
	int to[2], from[2], ret;

	c->pid = -1;
	c->to = c->from = -1;
	if (bench_helper_path(path, sizeof(path), c->helper)) {
		snprintf(c->why, sizeof(c->why), "%s", c == &kids[C_UCM] ?
			 "built without UCX's libucm (install libucx-dev)" :
			 "uhmm-bench-capture not found next to uhmm-bench");
		return;
	}
	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC)) {
		snprintf(c->why, sizeof(c->why), "pipe: %s", strerror(errno));
		return;
	}
	ret = spawn_fds(c, path, to, from);
	close(to[0]);
	close(from[1]);
	c->to = to[1];
	c->from = from[0];
	if (ret)
		snprintf(c->why, sizeof(c->why), "spawn uhmm-bench-capture: %s",
			 strerror(ret));
	else if (bench_xfer(c->from, &r, sizeof(r), true))
		snprintf(c->why, sizeof(c->why), "%s helper died", c->mode);
	else if (r.err)
		snprintf(c->why, sizeof(c->why), "%s: %.*s", c->mode,
			 (int)sizeof(r.why), r.why);
}

static void child_stop(struct capchild *c)
{
	int st;

	if (c->to >= 0)
		close(c->to);
	if (c->from >= 0)
		close(c->from);
	if (c->pid > 0)
		waitpid(c->pid, &st, 0);
}

/* ------------------------------------------------------------------ */
/* Remote bodies                                                       */

static bool calls_ok(enum expect e, uint64_t calls, uint64_t iters)
{
	if (e == EXPECT_ONE)
		return calls == iters;
	if (e == EXPECT_SOME)
		return calls >= iters;
	return calls == 0;
}

/* Run @iters of the side's loop in its helper; its loop time in ns. */
static uint64_t remote_body(void *arg, unsigned long iters)
{
	struct capside *s = arg;
	struct capchild *c = s->c;
	struct capcmd cmd = { .loop = s->loop, .iters = iters };
	struct capreply r;

	if (c->why[0])
		return iters;	/* dead: the figure is skipped anyway */
	if (bench_xfer(c->to, &cmd, sizeof(cmd), false) ||
	    bench_xfer(c->from, &r, sizeof(r), true)) {
		snprintf(c->why, sizeof(c->why), "%s helper died", c->mode);
		return iters;
	}
	if (r.err)
		snprintf(c->why, sizeof(c->why), "%s: %.*s", c->mode,
			 (int)sizeof(r.why), r.why);
	else if (!calls_ok(s->expect, r.calls, iters))
		snprintf(c->why, sizeof(c->why),
			 "%s: %llu callbacks for %lu operations", c->mode,
			 (unsigned long long)r.calls, iters);
	return r.ns;
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */

static void report(const char *name, const struct bench_side *s,
		   const struct bench_side *base, const char *goal, bool met)
{
	struct bench_fig f = {
		.name = name,
		.value = s->ns_per_op,
		.unit = "ns/op",
		.noise = s->noise,
		.baseline = base->name,
		.baseline_value = base->ns_per_op,
		.ratio = s->ns_per_op / base->ns_per_op,
		.goal = goal,
		.goal_met = met,
	};

	bench_report(&f);
}

static const char *dead(const struct capchild *a, const struct capchild *b)
{
	return a->why[0] ? a->why : b->why[0] ? b->why : NULL;
}

/* bare vs uhmm (vs UCM when its helper is up) on one loop. */
static void compare_loop(enum caploop loop, const char *bare_name,
			 const char *uhmm_name, const char *ucm_name)
{
	struct capside cs[3] = {
		{ &kids[C_BARE], loop, EXPECT_NONE },
		{ &kids[C_UHMM], loop, EXPECT_NONE },
		{ &kids[C_UCM], loop, EXPECT_SOME },
	};
	struct bench_side s[3] = {
		{ bare_name, remote_body, &cs[0], 1, 0, 0, 0 },
		{ uhmm_name, remote_body, &cs[1], 1, 0, 0, 0 },
		{ ucm_name, remote_body, &cs[2], 1, 0, 0, 0 },
	};
	bool ucm = !kids[C_UCM].why[0];
	const char *why = dead(&kids[C_BARE], &kids[C_UHMM]);
	double r;

	if (!why)
		bench_run(s, ucm ? 3 : 2, TARGET_MS);
	why = dead(&kids[C_BARE], &kids[C_UHMM]);
	ucm = ucm && !kids[C_UCM].why[0];
	if (why) {
		bench_skip(uhmm_name, "ns/op", why);
		bench_skip(ucm_name, "ns/op", why);
		return;
	}
	r = s[1].ns_per_op / s[0].ns_per_op;
	if (ucm)
		report(uhmm_name, &s[1], &s[0], "<= 1.02x bare and <= ucm",
		       r <= GOAL_OVER_BARE && s[1].ns_per_op <= s[2].ns_per_op);
	else
		report(uhmm_name, &s[1], &s[0], "<= 1.02x bare",
		       r <= GOAL_OVER_BARE);
	if (ucm)
		report(ucm_name, &s[2], &s[0], NULL, false);
	else
		bench_skip(ucm_name, "ns/op", kids[C_UCM].why);
}

static void compare_hit(void)
{
	struct capside cs[2] = {
		{ &kids[C_BARE], CAPLOOP_FIXED, EXPECT_NONE },
		{ &kids[C_UHMM100K], CAPLOOP_FIXED, EXPECT_ONE },
	};
	struct bench_side s[2] = {
		{ "mmap_fixed_munmap_bare", remote_body, &cs[0], 1, 0, 0, 0 },
		{ "munmap_hit_1_of_100k", remote_body, &cs[1], 1, 0, 0, 0 },
	};
	const char *why = dead(&kids[C_BARE], &kids[C_UHMM100K]);

	if (!why)
		bench_run(s, 2, TARGET_MS);
	why = dead(&kids[C_BARE], &kids[C_UHMM100K]);
	if (why)
		bench_skip(s[1].name, "ns/op", why);
	else
		report(s[1].name, &s[1], &s[0], "<= 1.3x bare",
		       s[1].ns_per_op / s[0].ns_per_op <= GOAL_HIT);
}

/* The raw-syscall path: only userfaultfd sees it, after the fact. */
static void compare_raw(void)
{
	struct capside cs[2] = {
		{ &kids[C_BARE], CAPLOOP_RAW_DISCARD, EXPECT_NONE },
		{ &kids[C_UFFD], CAPLOOP_RAW_DISCARD, EXPECT_SOME },
	};
	struct bench_side s[2] = {
		{ "raw_discard_bare", remote_body, &cs[0], 1, 0, 0, 0 },
		{ "raw_discard_uffd", remote_body, &cs[1], 1, 0, 0, 0 },
	};
	const char *why = dead(&kids[C_BARE], &kids[C_UFFD]);

	if (!why)
		bench_run(s, 2, TARGET_MS);
	why = dead(&kids[C_BARE], &kids[C_UFFD]);
	if (why)
		bench_skip(s[1].name, "ns/op", why);
	else
		report(s[1].name, &s[1], &s[0], "<= 3x bare",
		       s[1].ns_per_op / s[0].ns_per_op <= GOAL_RAW);
}

int bench_capture(void)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int i;

	for (i = 0; i < NCHILD; i++)
		child_start(&kids[i]);
	bench_note("capture: one page per operation; sides in helper "
		   "processes, UCM %s\n", kids[C_UCM].why[0] ? "skipped" : "on");
	compare_loop(CAPLOOP_MAP, "mmap_munmap_bare", "mmap_munmap_uhmm",
		     "mmap_munmap_ucm");
	compare_loop(CAPLOOP_TOUCH, "mmap_touch_munmap_bare",
		     "mmap_touch_munmap_uhmm", "mmap_touch_munmap_ucm");
	compare_hit();
	compare_raw();
	for (i = 0; i < NCHILD; i++)
		child_stop(&kids[i]);
	signal(SIGPIPE, old);
	return 0;
}
