/* SPDX-License-Identifier: MIT */
/*
 * stress_interval.c - owners, changers and churn on one region of real
 * memory, checking that no owner ever keeps a translation of old pages.
 *
 *   stress_interval [--threads N] [--rounds M] [--pages P] [--churn K]
 *                   [--timeout S]
 *
 * N owner threads each run the canonical loop (stress/mirror.h) M times over
 * a window of 4 pages (windows overlap), and every K rounds remove their
 * subscription, free it and insert a fresh one.  N changer threads discard
 * (madvise) or replace (mmap MAP_FIXED) 1-3 random pages between start and
 * end; one change in eight is non-blockable, which a busy owner refuses.
 * Exit status 0 when every check held: no stale translation (at commit, in
 * callbacks, at the end), no callback after or during a finished remove, no
 * unexpected error.  A run longer than S seconds aborts (deadlock?).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mirror.h"

#define WIN 4
#define PACE 2			/* changes per owner round, at most */

static struct {
	unsigned int threads, pages, churn, timeout;
	unsigned long rounds;
} opt = { 4, 16, 64, 120, 20000 };

static char *region;
static struct uhmm_mm *mm;
static unsigned int owners_done;	/* atomic */

/* Totals, atomic. */
static unsigned long progress, changes, eagain, errors;
static unsigned long commits, retries, callbacks, refused, stale, lingering;

#define ADD(x, v) __atomic_add_fetch(&(x), (v), __ATOMIC_RELAXED)
#define GET(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

/* ------------------------------------------------------------------ */
/* Owners                                                              */

static struct mirror *owner_new(unsigned int first)
{
	struct mirror *m = malloc(sizeof(*m));

	if (!m)
		abort();
	mirror_init(m, (char *)mirror_word(region, first), WIN);
	m->cb_yield = 5;
	if (mirror_insert(m, mm))
		ADD(errors, 1);
	return m;
}

/* Remove, check nothing runs any more, add up, poison, free. */
static void owner_free(struct mirror *m)
{
	mirror_check(m);
	mirror_zap(m);
	if (uhmm_interval_sub_remove(&m->sub))
		ADD(errors, 1);
	if (__atomic_load_n(&m->in_cb, __ATOMIC_ACQUIRE))
		ADD(lingering, 1);
	ADD(commits, m->commits);
	ADD(retries, m->retries);
	ADD(callbacks, m->callbacks);
	ADD(refused, m->refused);
	ADD(stale, m->stale);
	mirror_poison(m);
	free(m);
}

static void owner_mid(struct mirror *m, void *arg)
{
	unsigned long *k = arg;

	if (*k % 8 == 0)
		sched_yield();	/* a fault takes time: let changes in */
}

static void *owner_fn(void *arg)
{
	unsigned int first = (unsigned int)(unsigned long)arg;
	struct mirror *m = owner_new(first);
	unsigned long k;

	for (k = 1; k <= opt.rounds; k++) {
		ADD(progress, 1);
		mirror_build(m, owner_mid, &k);
		if (opt.churn && k % opt.churn == 0) {
			owner_free(m);
			m = owner_new(first);
		}
	}
	owner_free(m);
	ADD(owners_done, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Changers                                                            */

static void change_once(unsigned long *rng)
{
	unsigned int first = mirror_rnd(rng) % opt.pages;
	unsigned int n = 1 + mirror_rnd(rng) % 3;
	enum mirror_how how = mirror_pick_how(rng);
	unsigned int flags = mirror_rnd(rng) % 8 ? UHMM_RANGE_BLOCKABLE : 0;
	int ret;

	if (first + n > opt.pages)
		n = opt.pages - first;
	ret = mirror_change(mm, region, first, n, how, flags);
	ADD(changes, 1);
	if (ret == -EAGAIN && !flags)
		ADD(eagain, 1);
	else if (ret)
		ADD(errors, 1);
}

static void *changer_fn(void *arg)
{
	unsigned long rng = (unsigned long)arg * 0x9e3779b97f4a7c15UL + 7;

	while (GET(owners_done) < opt.threads) {
		if (GET(changes) > PACE * GET(progress) + 64) {
			usleep(20);	/* do not outrun the owners */
			continue;
		}
		change_once(&rng);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static void on_alarm(int sig)
{
	static const char msg[] = "stress_interval: timeout (deadlock?)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	abort();
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--threads N] [--rounds M] [--pages P] "
		"[--churn K] [--timeout S]\n", prog);
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "pages", required_argument, NULL, 'p' },
		{ "churn", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "t:r:p:c:s:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 't': opt.threads = (unsigned int)atoi(optarg); break;
		case 'r': opt.rounds = strtoul(optarg, NULL, 0); break;
		case 'p': opt.pages = (unsigned int)atoi(optarg); break;
		case 'c': opt.churn = (unsigned int)atoi(optarg); break;
		case 's': opt.timeout = (unsigned int)atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (opt.threads < 1 || opt.threads > 64 || opt.pages < WIN ||
	    opt.pages > 4096 || opt.rounds < 1)
		usage(argv[0]);
}

static void map_region(void)
{
	region = mirror_map_region(opt.pages);
	if (!region) {
		perror("mmap");
		exit(2);
	}
	mm = uhmm_mm_current();
	if (!mm)
		exit(2);
}

static void run(void)
{
	pthread_t *t = calloc(2 * opt.threads, sizeof(*t));
	unsigned long i;

	if (!t)
		exit(2);
	for (i = 0; i < opt.threads; i++) {
		unsigned long first = (i * 2) % (opt.pages - WIN + 1);

		if (pthread_create(&t[i], NULL, owner_fn, (void *)first) ||
		    pthread_create(&t[opt.threads + i], NULL, changer_fn,
				   (void *)(i + 1)))
			exit(2);
	}
	for (i = 0; i < 2 * opt.threads; i++)
		pthread_join(t[i], NULL);
	free(t);
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	int ok;

	parse(argc, argv);
	signal(SIGALRM, on_alarm);
	alarm(opt.timeout);
	map_region();
	clock_gettime(CLOCK_MONOTONIC, &a);
	run();
	clock_gettime(CLOCK_MONOTONIC, &b);
	alarm(0);
	ok = !stale && !lingering && !mirror_bad_cb && !errors &&
	     commits == opt.rounds * opt.threads;
	printf("stress_interval: %u owners x %lu rounds, %u pages, %.2f s: "
	       "commits %lu retries %lu callbacks %lu refused %lu changes %lu "
	       "eagain %lu | stale %lu lingering %lu bad_cb %lu errors %lu: "
	       "%s\n",
	       opt.threads, opt.rounds, opt.pages,
	       (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
	       commits, retries, callbacks, refused, changes, eagain, stale,
	       lingering, mirror_bad_cb, errors, ok ? "ok" : "FAILED");
	munmap(region, (size_t)opt.pages * uhmm_page_size());
	return ok ? 0 : 1;
}
