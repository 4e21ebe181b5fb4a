/* SPDX-License-Identifier: MIT */
/*
 * demo_report.c - live progress (stderr) and the summary (stdout, text or
 * one JSON object).  The run fails on any wrong data, stale translation or
 * unexpected error, or if nothing was accessed at all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <uhmm/dmirror.h>

#include "demo.h"

struct totals {
	uint64_t accesses;
	uint64_t stale;
	struct uhmm_dmirror_stats dev;
};

static void totals(struct totals *t)
{
	struct uhmm_dmirror_stats st;
	unsigned int d;

	memset(t, 0, sizeof(*t));
	t->accesses = demo_read(demo.c.reads) + demo_read(demo.c.writes);
	t->stale = demo_read(demo.c.stale_kept) + demo_read(demo.c.stale_frame);
	for (d = 0; d < demo.cfg.devices; d++) {
		uhmm_dmirror_stats(demo.dev[d], &st);
		t->dev.invalidations += st.invalidations;
		t->dev.entries_dropped += st.entries_dropped;
		t->dev.faults += st.faults;
		t->dev.retries += st.retries;
		t->dev.cpages += st.cpages;
		t->dev.entries += st.entries;
	}
}

/**
 * demo_progress() - one line: the access rate since the last line and the
 * running totals.
 */
void demo_progress(double elapsed, bool final)
{
	static uint64_t last_accesses;
	static double last_elapsed;
	struct totals t;
	double dt = elapsed - last_elapsed;

	totals(&t);
	fprintf(stderr, "uhmm demo: %5.1fs %8.0f accesses/s  invalidations %llu  faults %llu  retries %llu  errors %llu  wrong %llu  stale %llu%s\n",
		elapsed, dt > 0 ? (double)(t.accesses - last_accesses) / dt : 0,
		(unsigned long long)t.dev.invalidations,
		(unsigned long long)t.dev.faults,
		(unsigned long long)t.dev.retries,
		(unsigned long long)demo_read(demo.c.unexpected),
		(unsigned long long)demo_read(demo.c.wrong_data),
		(unsigned long long)t.stale, final ? "  (done)" : "");
	last_accesses = t.accesses;
	last_elapsed = elapsed;
}

static bool failed(void)
{
	struct totals t;

	totals(&t);
	return t.stale || demo_read(demo.c.wrong_data) ||
	       demo_read(demo.c.unexpected) || !t.accesses;
}

static const char *stale_check(void)
{
	return demo.pagemap_fd >= 0 ? "on" :
	       "unavailable (needs CAP_SYS_ADMIN)";
}

static const char *stale_check_note(void)
{
	return demo.pagemap_fd >= 0 ? "" :
	       ": frames not compared; dropped entries and permissions still are";
}

static const char *err_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

#define U(x) ((unsigned long long)(x))

static void text_errors(void)
{
	int e;

	printf("device errors:   ");
	for (e = 1; e < DEMO_ERRNO_MAX; e++)
		if (demo.c.errors[e])
			printf("%s %llu%s  ", err_name(e), U(demo.c.errors[e]),
			       e == EPERM ? " (writes to read-only memory)" :
			       "");
	printf("\n");
}

static void text_summary(double elapsed, const struct totals *t)
{
	unsigned int i;

	printf("uhmm demo: %.1f s, workload threads %u, devices %u (device threads %u), seed %#llx%s\n",
	       elapsed, demo.cfg.threads, demo.cfg.devices,
	       demo.cfg.devices * DEMO_THREADS_PER_DEVICE, U(demo.cfg.seed),
	       demo.cfg.large ? "" :
	       "\n  large blocks off: a sanitizer's allocator unmaps them itself, unannounced");
	printf("accesses:        %llu (%.0f/s): %llu reads, %llu writes (%llu to read-only memory)\n",
	       U(t->accesses), elapsed > 0 ? (double)t->accesses / elapsed : 0,
	       U(demo.c.reads), U(demo.c.writes), U(demo.c.writes_ro));
	printf("device:          faults %llu, retries %llu, invalidations %llu, entries dropped %llu, pages copied %llu\n",
	       U(t->dev.faults), U(t->dev.retries), U(t->dev.invalidations),
	       U(t->dev.entries_dropped), U(t->dev.cpages));
	printf("workload:       ");
	for (i = 0; i < OP__COUNT; i++)
		printf(" %s %llu", demo_op_names[i], U(demo.c.ops[i]));
	printf("\nchecked:         %llu pages of data, %llu entries against the CPU's frames, %llu changes for dropped entries\n",
	       U(demo.c.pages_compared), U(demo.c.entries_checked),
	       U(demo.c.changes_checked));
	text_errors();
	printf("stale check:     %s%s\n", stale_check(), stale_check_note());
	printf("wrong data:      %llu\n", U(demo.c.wrong_data));
	printf("stale translations: %llu (kept after a change %llu, wrong frame or permission at access %llu)\n",
	       U(t->stale), U(demo.c.stale_kept), U(demo.c.stale_frame));
	printf("moved by the kernel (not visible to userspace): %llu (copy-on-write of the zero page %llu, other %llu)\n",
	       U(demo.c.moved_cow + demo.c.moved_kernel), U(demo.c.moved_cow),
	       U(demo.c.moved_kernel));
	printf("unexpected errors: %llu\n", U(demo.c.unexpected));
}

static void json_errors(void)
{
	const char *sep = "";
	int e;

	printf("\"errors\":{");
	for (e = 1; e < DEMO_ERRNO_MAX; e++) {
		if (!demo.c.errors[e])
			continue;
		printf("%s\"%s\":%llu", sep, err_name(e), U(demo.c.errors[e]));
		sep = ",";
	}
	printf("},");
}

static void json_summary(double elapsed, const struct totals *t)
{
	unsigned int i;

	printf("{\"duration_s\":%.3f,\"threads\":%u,\"devices\":%u,\"device_threads\":%u,\"seed\":\"%#llx\",\"large_blocks\":%s,",
	       elapsed, demo.cfg.threads, demo.cfg.devices,
	       demo.cfg.devices * DEMO_THREADS_PER_DEVICE, U(demo.cfg.seed),
	       demo.cfg.large ? "true" : "false");
	printf("\"accesses\":%llu,\"accesses_per_s\":%.1f,\"reads\":%llu,\"writes\":%llu,\"writes_read_only\":%llu,",
	       U(t->accesses), elapsed > 0 ? (double)t->accesses / elapsed : 0,
	       U(demo.c.reads), U(demo.c.writes), U(demo.c.writes_ro));
	printf("\"device\":{\"faults\":%llu,\"retries\":%llu,\"invalidations\":%llu,\"entries_dropped\":%llu,\"cpages\":%llu},",
	       U(t->dev.faults), U(t->dev.retries), U(t->dev.invalidations),
	       U(t->dev.entries_dropped), U(t->dev.cpages));
	printf("\"workload\":{");
	for (i = 0; i < OP__COUNT; i++)
		printf("%s\"%s\":%llu", i ? "," : "", demo_op_names[i],
		       U(demo.c.ops[i]));
	printf("},\"pages_compared\":%llu,\"entries_checked\":%llu,\"changes_checked\":%llu,",
	       U(demo.c.pages_compared), U(demo.c.entries_checked),
	       U(demo.c.changes_checked));
	json_errors();
	printf("\"stale_check\":\"%s\",\"wrong_data\":%llu,\"stale_translations\":%llu,\"stale_kept_after_change\":%llu,\"stale_at_access\":%llu,",
	       stale_check(), U(demo.c.wrong_data), U(t->stale),
	       U(demo.c.stale_kept), U(demo.c.stale_frame));
	printf("\"moved_by_kernel\":%llu,\"moved_cow_zero_page\":%llu,\"moved_other\":%llu,\"unexpected_errors\":%llu,",
	       U(demo.c.moved_cow + demo.c.moved_kernel), U(demo.c.moved_cow),
	       U(demo.c.moved_kernel), U(demo.c.unexpected));
}

/**
 * demo_summary() - the final report on stdout; call before the devices are
 * closed (their counters are read).
 *
 * Return: true if the run failed.
 */
bool demo_summary(double elapsed)
{
	struct totals t;
	bool fail = failed();

	totals(&t);
	if (demo.cfg.json) {
		json_summary(elapsed, &t);
		printf("\"result\":\"%s\"}\n", fail ? "FAIL" : "OK");
	} else {
		text_summary(elapsed, &t);
		if (!t.accesses)
			printf("no device access completed: nothing was checked\n");
		printf("RESULT: %s\n", fail ? "FAIL" : "OK");
	}
	fflush(stdout);
	return fail;
}
