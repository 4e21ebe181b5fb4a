/* SPDX-License-Identifier: MIT */
/*
 * coverage_print.c - the matrix as a table with a legend, or as JSON (one
 * object per cell, one per line).  The header says what the capture layer
 * runs with: UHMM_CAPTURE, and which object munmap binds to (a fact found
 * with dladdr, not a guess about mechanisms).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <uhmm/uhmm.h>

#include "coverage.h"

const char *const cov_result_names[R__COUNT] = {
	[R_BEFORE] = "before",	[R_AFTER] = "after",
	[R_CAUGHT] = "caught-unprovable",
	[R_MISSED] = "missed",	[R_GAP] = "missed-known-gap",
	[R_QUIET] = "no-event",	[R_EXTRA] = "event-unexpected",
	[R_NA] = "n/a",		[R_REFUSED] = "refused",
	[R_ERROR] = "error",
};
const char cov_result_codes[R__COUNT] = {
	[R_BEFORE] = 'B', [R_AFTER] = 'A', [R_CAUGHT] = 'C', [R_MISSED] = 'M', [R_GAP] = 'g',
	[R_QUIET] = 'q', [R_EXTRA] = 'o', [R_NA] = '.', [R_REFUSED] = 'r',
	[R_ERROR] = 'E',
};
const char *const cov_claim_names[] = {
	[CLAIM_BEFORE] = "before", [CLAIM_NONE] = "no-event",
	[CLAIM_GAP] = "known-gap",	[CLAIM_AFTER] = "after",
	[CLAIM_UFFD] = "after",
};

#if defined(__SANITIZE_ADDRESS__)
#define COV_BUILD "ASan"
#elif defined(__SANITIZE_THREAD__)
#define COV_BUILD "TSan"
#else
#define COV_BUILD "no sanitizer"
#endif

/**
 * cov_fails() - does @rep fail the run?  A claimed miss (when the claims
 * hold: UHMM_CAPTURE is the default), or a cell that could not run.
 */
bool cov_fails(const struct cov_run *run, const struct cov_report *rep)
{
	if (rep->result == R_ERROR)
		return true;
	return rep->result == R_MISSED && run->enforce;
}

/* The object that provides munmap to this program. */
static const char *munmap_binding(void)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "munmap");

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "unknown";
	return info.dli_fname;
}

void cov_print_header(const struct cov_run *run)
{
	static const char *const fns[] = { "munmap", "mremap", "madvise",
					   "mprotect", "brk" };
	struct utsname u;
	unsigned int i;
	bool async;

	if (uname(&u))
		strcpy(u.release, "?");
	printf("uhmm coverage: uhmm %s, Linux %s, %s build\n", uhmm_version(),
	       u.release, COV_BUILD);
	printf("UHMM_CAPTURE=%s%s\n", run->capture[0] ? run->capture :
	       "(unset: default)", run->enforce ? "" :
	       "  [capture off: claims not enforced]");
	printf("munmap binds to: %s\n", munmap_binding());
	printf("libc entry patched (as the library reports):");
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		printf(" %s=%s", fns[i], cov_patched(fns[i]) ? "yes" : "no");
	async = false;
	printf("\nuserfaultfd events (changes bypassing libc, after): %s\n\n",
	       !cov_uffd_runs(&async) ? "off" :
	       async ? "on, every kind (WP_ASYNC)" :
		       "on, anonymous/shmem/hugetlb (no WP_ASYNC)");
}

static void json_str(const char *key, const char *s)
{
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

void cov_print_json(const struct cov_run *run, unsigned int r,
		    enum cov_kind k)
{
	const struct cov_report *rep = &run->rep[r][k];

	printf("{\"route\":\"%s\"", cov_routes[r].name);
	json_str("kind", cov_kind_names[k]);
	json_str("claim", cov_claim_names[cov_claim_of(&cov_routes[r])]);
	json_str("result", cov_result_names[rep->result]);
	printf(",\"code\":\"%c\"", cov_result_codes[rep->result]);
	if (rep->event >= 0)
		json_str("event", uhmm_event_name(rep->event));
	else
		printf(",\"event\":null");
	printf(",\"calls\":%d,\"after_flag\":%s,\"other_thread\":%s",
	       rep->calls, rep->after_flag ? "true" : "false",
	       rep->other_thread ? "true" : "false");
	json_str("capture_env", run->capture[0] ? run->capture : "default");
	json_str("note", rep->note);
	printf(",\"fails\":%s}\n", cov_fails(run, rep) ? "true" : "false");
	fflush(stdout);
}

static bool kind_shown(const struct cov_run *run, unsigned int k)
{
	return !run->kind || !strcmp(run->kind, cov_kind_names[k]);
}

static void print_row(const struct cov_run *run, unsigned int r)
{
	unsigned int k;

	printf("%-17s", cov_routes[r].name);
	for (k = 0; k < K__COUNT; k++)
		if (kind_shown(run, k))
			printf(" %-8c", cov_result_codes[run->rep[r][k].result]);
	printf(" %s\n", cov_claim_names[cov_claim_of(&cov_routes[r])]);
}

/* Cells whose reason is printed under the table. */
static bool noteworthy(enum cov_result res)
{
	return res == R_MISSED || res == R_EXTRA || res == R_REFUSED ||
	       res == R_ERROR;
}

/* Why cells were refused, failed, missed or over-announced. */
static void print_notes(const struct cov_run *run)
{
	unsigned int r, k;

	for (r = 0; r < cov_nr_routes; r++) {
		for (k = 0; run->ran[r] && k < K__COUNT; k++) {
			const struct cov_report *rep = &run->rep[r][k];

			if (!kind_shown(run, k) || !noteworthy(rep->result))
				continue;
			printf("  %s x %s: %s%s%s\n", cov_routes[r].name,
			       cov_kind_names[k], cov_result_names[rep->result],
			       rep->note[0] ? ": " : "", rep->note);
		}
	}
	for (r = 0; r < cov_nr_routes; r++)
		if (run->ran[r] && !cov_routes[r].kinds)
			printf("  %s: n/a: %s\n", cov_routes[r].name,
			       cov_routes[r].na_why);
	for (k = 0; k < K__COUNT; k++)
		if (kind_shown(run, k) && cov_kind_unavailable(k))
			printf("  %s: n/a: %s\n", cov_kind_names[k],
			       cov_kind_unavailable(k));
}

void cov_print_table(const struct cov_run *run)
{
	unsigned int r, k;

	printf("%-17s", "route \\ kind");
	for (k = 0; k < K__COUNT; k++)
		if (kind_shown(run, k))
			printf(" %-8s", cov_kind_names[k]);
	printf(" claim\n");
	for (r = 0; r < cov_nr_routes; r++)
		if (run->ran[r])
			print_row(run, r);
	printf("\nB caught before the change   A caught after it   "
	       "M MISSED (claimed: fails)\n"
	       "C caught; before/after not provable (the page looks the same "
	       "after the change)\n"
	       "g missed, a known gap        q no event, none expected   "
	       "o event where none expected\n"
	       ". n/a (route or kind does not apply here)   "
	       "r the kernel refused the route here   E error/crash/timeout\n\n");
	print_notes(run);
}
