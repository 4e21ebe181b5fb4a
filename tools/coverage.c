/* SPDX-License-Identifier: MIT */
/*
 * coverage.c - `uhmm coverage`: options, and one child process per cell,
 * bounded by a timeout, so a cell that crashes or hangs is a reported
 * failure and never takes the tool down.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coverage.h"

static void cov_usage(FILE *f)
{
	fprintf(f,
		"usage: uhmm coverage [--json] [--route R] [--kind K] [--timeout S]\n"
		"  Runs the capture matrix (route x memory kind) live, each cell\n"
		"  in its own process.  Exit 1 if a cell the default configuration\n"
		"  claims is missed, or a cell crashed or hung; 2 on bad usage.\n"
		"  --list prints the route and kind names.\n");
}

static void cov_list(void)
{
	unsigned int i;

	printf("routes:");
	for (i = 0; i < cov_nr_routes; i++)
		printf(" %s", cov_routes[i].name);
	printf("\nkinds:");
	for (i = 0; i < K__COUNT; i++)
		printf(" %s", cov_kind_names[i]);
	printf("\n");
}

static bool known(const char *name, bool route)
{
	unsigned int i, n = route ? cov_nr_routes : K__COUNT;

	for (i = 0; i < n; i++)
		if (!strcmp(name, route ? cov_routes[i].name :
					  cov_kind_names[i]))
			return true;
	return false;
}

static int bad(const char *what, const char *v)
{
	fprintf(stderr, "uhmm coverage: %s '%s'\n", what, v ? v : "");
	cov_usage(stderr);
	return 2;
}

/* An option with a value: check it, store it.  Return: 0 or 2. */
static int value(struct cov_run *run, const char *a, const char *v)
{
	if (!v)
		return bad("missing value for", a);
	if (!strcmp(a, "--route"))
		return known(v, true) ? (run->route = v, 0) :
					bad("unknown route", v);
	if (!strcmp(a, "--kind"))
		return known(v, false) ? (run->kind = v, 0) :
					 bad("unknown kind", v);
	if (atoi(v) <= 0)
		return bad("bad timeout", v);
	run->timeout_s = atoi(v);
	return 0;
}

/* Return: -1 to go on, else the exit status. */
static int parse(struct cov_run *run, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			run->json = true;
		} else if (!strcmp(a, "--list")) {
			cov_list();
			return 0;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cov_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--route") || !strcmp(a, "--kind") ||
			   !strcmp(a, "--timeout")) {
			if (value(run, a, i + 1 < argc ? argv[i + 1] : NULL))
				return 2;
			i++;
		} else {
			return bad("unknown argument", a);
		}
	}
	return -1;
}

/*
 * UHMM_COVERAGE_FAULT=crash|hang makes every cell's child crash or hang:
 * the tool's own test that such a cell is a reported failure, in bounded
 * time.
 */
static void injected_fault(void)
{
	const char *f = getenv("UHMM_COVERAGE_FAULT");

	if (f && !strcmp(f, "crash"))
		raise(SIGKILL);	/* no core file */
	if (f && !strcmp(f, "hang"))
		for (;;)
			pause();
}

static void child(const struct cov_route *r, enum cov_kind k, int fd)
{
	struct cov_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.event = -1;
	injected_fault();
	cov_cell_run(r, k, &rep);
	if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(3);
	_exit(0);
}

static void __attribute__((format(printf, 2, 3)))
fail(struct cov_report *rep, const char *fmt, ...)
{
	va_list ap;

	rep->result = R_ERROR;
	va_start(ap, fmt);
	vsnprintf(rep->note, sizeof(rep->note), fmt, ap);
	va_end(ap);
}

/* Collect the child's report, or say how it died. */
static void collect(int fd, pid_t pid, int timeout_s, struct cov_report *rep)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int st = 0, n;

	n = poll(&p, 1, timeout_s * 1000);
	if (n == 0) {
		kill(pid, SIGKILL);
		fail(rep, "timed out after %d s", timeout_s);
	} else if (read(fd, rep, sizeof(*rep)) != (ssize_t)sizeof(*rep)) {
		fail(rep, "no report");
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rep->result == R_ERROR && !strncmp(rep->note, "no report", 9)) {
		if (WIFSIGNALED(st))
			fail(rep, "killed by signal %d", WTERMSIG(st));
		else
			fail(rep, "exited %d without a report",
			     WEXITSTATUS(st));
	}
}

static void run_cell(const struct cov_run *run, const struct cov_route *r,
		     enum cov_kind k, struct cov_report *rep)
{
	int fds[2];
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	rep->event = -1;
	if (pipe(fds)) {
		fail(rep, "pipe: errno %d", errno);
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child(r, k, fds[1]);
	}
	close(fds[1]);
	if (pid < 0)
		fail(rep, "fork: errno %d", errno);
	else
		collect(fds[0], pid, run->timeout_s, rep);
	close(fds[0]);
}

static void na(struct cov_report *rep, const char *why)
{
	memset(rep, 0, sizeof(*rep));
	rep->result = R_NA;
	rep->event = -1;
	snprintf(rep->note, sizeof(rep->note), "%s", why);
}

static void one(struct cov_run *run, unsigned int i, enum cov_kind k)
{
	const struct cov_route *r = &cov_routes[i];
	struct cov_report *rep = &run->rep[i][k];
	const char *why = cov_kind_unavailable(k);

	if (!(r->kinds & KB(k)))
		na(rep, r->na_why[0] ? r->na_why : "does not apply");
	else if (why)
		na(rep, why);
	else
		run_cell(run, r, k, rep);
	if (run->json)
		cov_print_json(run, i, k);
}

static bool selected(const char *want, const char *name)
{
	return !want || !strcmp(want, name);
}

/* The environment the capture layer reads (docs/capture.md). */
static void environment(struct cov_run *run)
{
	const char *e = getenv("UHMM_CAPTURE");

	run->capture = e ? e : "";
	run->enforce = !e || !(!strcmp(e, "off") || !strcmp(e, "0") ||
			       !strcmp(e, "no"));
}

int uhmm_cmd_coverage(int argc, char **argv)
{
	static struct cov_run run = { .timeout_s = 20 };
	unsigned int i, k;
	int ret = parse(&run, argc, argv), failed = 0;

	if (ret >= 0)
		return ret;
	environment(&run);
	if (!run.json)
		cov_print_header(&run);
	for (i = 0; i < cov_nr_routes && i < COV_MAX_ROUTES; i++) {
		if (!selected(run.route, cov_routes[i].name))
			continue;
		run.ran[i] = true;
		for (k = 0; k < K__COUNT; k++) {
			if (!selected(run.kind, cov_kind_names[k]))
				continue;
			one(&run, i, k);
			failed += cov_fails(&run, &run.rep[i][k]);
		}
	}
	if (!run.json)
		cov_print_table(&run);
	return failed ? 1 : 0;
}
