/* SPDX-License-Identifier: MIT */
/*
 * main.c - uhmm-bench: the library's performance figures, each next to the
 * baseline it is judged against, measured side by side in one run.
 *
 *     uhmm-bench [--json] [--only GROUP] [--quick] [--reps N]
 *
 * Goals are printed with whether they were met; a missed goal never makes the
 * program fail (timing depends on the machine, not only on the code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/uhmm.h>

#include "bench.h"

struct group {
	const char *name;
	const char *what;
	int (*run)(void);
};

static const struct group groups[] = {
	{ "seq", "read_begin + read_retry, uncontended", bench_seq },
	{ "dispatch", "invalidation dispatch by interval count", bench_dispatch },
	{ "snapshot", "range snapshot vs raw pagemap reads", bench_snapshot },
	{ "fault", "range write fault vs MADV_POPULATE_WRITE", bench_fault },
	{ "capture", "mmap/munmap with capture vs bare and UCX's UCM",
	  bench_capture },
	{ "rcache", "registration cache vs UCX's ucs_rcache", bench_rcache },
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: uhmm-bench [--json] [--only GROUP] [--quick] "
		   "[--reps N]\n"
		   "  --reps N   interleaved reps per figure, 3 to %d "
		   "(default 15, 3 with --quick)\n"
		   "groups:\n", BENCH_MAX_REPS);
	for (i = 0; i < NGROUPS; i++)
		fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].what);
}

/* A rep count in [3, BENCH_MAX_REPS], or -1. */
static int parse_reps(const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || n < 3 || n > BENCH_MAX_REPS)
		return -1;
	return (int)n;
}

/* Return 0, 1 (help printed) or 2 (bad usage); *child set for --child. */
static int parse(int argc, char **argv, const char **only, bool *child)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			bench_opts.json = true;
		else if (!strcmp(argv[i], "--quick"))
			bench_opts.quick = true;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			bench_opts.reps = parse_reps(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			*only = argv[++i];
		else if (!strcmp(argv[i], "--snapshot-child"))
			*child = true;	/* internal: see bench_range.c */
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		else
			return 2;
	}
	return bench_opts.reps < 0 ? 2 : 0;
}

static void header(void)
{
	bench_note("uhmm-bench %s: build %s, UHMM_DEBUG=%s%s%s; "
		   "%d interleaved reps per figure, median shown\n",
		   uhmm_version(), UHMM_BENCH_BUILD_TYPE,
		   UHMM_BENCH_DEBUG ? "ON" : "OFF",
		   UHMM_BENCH_DEBUG ? " (debug checks inflate figures)" : "",
		   bench_opts.quick ? ", --quick (smoke sizes)" : "",
		   bench_reps());
}

static bool known_group(const char *name)
{
	size_t i;

	for (i = 0; i < NGROUPS; i++)
		if (!strcmp(name, groups[i].name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	bool child = false;
	int ret = 0, p;
	size_t i;

	bench_opts.self = argv[0];
	p = parse(argc, argv, &only, &child);
	if (!p && only && !known_group(only)) {
		fprintf(stderr, "uhmm-bench: no group named '%s'\n", only);
		p = 2;
	}
	if (p) {
		usage(p == 1 ? stdout : stderr);
		return p == 1 ? 0 : 2;
	}
	if (child)
		return bench_snapshot_child() ? 1 : 0;
	header();
	for (i = 0; i < NGROUPS; i++)
		if ((!only || !strcmp(only, groups[i].name)) && groups[i].run())
			ret = 1;
	return ret;
}
