/* SPDX-License-Identifier: MIT */
/*
 * coverage.h - `uhmm coverage`: the capture matrix (docs/capture.md), run
 * live.  Each cell (route x memory kind) runs in its own child process:
 * map memory of the kind, write a marker, subscribe to it, take the route,
 * and report through a pipe whether the subscription was told, and whether
 * before or after the change.
 *
 * Files:
 *   coverage.c         options, one child per cell, table and JSON output
 *   coverage_cell.c    inside the child: subscription, evidence, verdict
 *   coverage_kinds.c   the memory kinds (columns)
 *   coverage_routes.c  the routes (rows): applicability and claims table
 *   coverage_malloc.c  the routes through glibc's allocator
 */
#ifndef UHMM_TOOLS_COVERAGE_H
#define UHMM_TOOLS_COVERAGE_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COV_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COV_SANITIZER 1
#endif
#endif

#define COV_MARK	0x5a

/* Memory kinds (columns), also used as bits in a route's applicability. */
enum cov_kind {
	K_ANON,		/* private anonymous */
	K_SHARED,	/* shared anonymous */
	K_MEMFD,	/* memfd (shmem) */
	K_FSHARED,	/* file on disk, MAP_SHARED */
	K_FPRIV,	/* file on disk, MAP_PRIVATE */
	K_HUGETLB,	/* MAP_HUGETLB, private */
	K_THP,		/* private anonymous, MADV_HUGEPAGE, PMD aligned */
	K_HEAP,		/* pages of the brk heap */
	K__COUNT
};

#define KB(k)		(1u << (k))
#define K_ALL		((1u << K__COUNT) - 1)
#define K_MAPS		(K_ALL & ~KB(K_HEAP))	/* every mmap()ed kind */

/* What the default configuration claims for a route (coverage_routes.c). */
enum cov_claim {
	CLAIM_BEFORE,	/* caught before the change */
	CLAIM_NONE,	/* nothing existing changes: no event expected */
	CLAIM_GAP,	/* a known gap (docs/capture.md): a miss is expected */
	CLAIM_AFTER,	/* caught, at least after the change (userfaultfd) */
	CLAIM_UFFD,	/* route table only: AFTER where the userfaultfd
			 * mechanism runs here, else GAP (cov_claim_of) */
};

/* A cell's verdict. */
enum cov_result {
	R_BEFORE,	/* B: told, the old memory still intact */
	R_AFTER,	/* A: told, the change had already happened */
	R_CAUGHT,	/* C: told; the page looks the same after the change
			 * (MADV_FREE), so before/after cannot be proved */
	R_MISSED,	/* M: a claimed change, nobody told: fails the run */
	R_GAP,		/* g: missed, a known gap */
	R_QUIET,	/* q: no event, none expected */
	R_EXTRA,	/* o: event where none was expected (harmless) */
	R_NA,		/* .: route does not apply, or kind unavailable */
	R_REFUSED,	/* r: the kernel refused the route here */
	R_ERROR,	/* E: setup failed, crash or timeout: fails the run */
	R__COUNT
};

/**
 * struct cov_cell - one cell, inside the child.
 * @kind: the column.
 * @addr: the memory the subscription watches.
 * @len: its length.
 * @unit: the kind's page (base, huge or PMD size).
 * @probe: the byte holding the marker, in the part the route changes.
 * @aux: route state (a target, a segment, a chunk).
 * @aux_len: its length.
 * @note: why, for n/a, refused and error results.
 */
struct cov_cell {
	enum cov_kind kind;
	char *addr;
	size_t len;
	size_t unit;
	char *probe;
	void *aux;
	size_t aux_len;
	char note[96];
};

/*
 * Return values of setup and act functions: 0, or one of these, with
 * cell->note saying why.
 */
#define COV_NA		1
#define COV_REFUSED	2
#define COV_FAIL	3

struct cov_route {
	const char *name;
	unsigned int kinds;		/* KB() of the kinds it applies to */
	enum cov_claim claim;
	const char *na_why;		/* why not for the other kinds */
	/* Own memory instead of the kind's (malloc, SysV segment); or NULL. */
	int (*setup)(struct cov_cell *c);
	unsigned int units;		/* units the kind maps */
	unsigned int probe_unit;	/* which unit the route changes */
	int (*act)(struct cov_cell *c);
	/* glibc-internal route: the libc function it ends in (see claims). */
	const char *patch_fn;
};

extern const struct cov_route cov_routes[];
extern const unsigned int cov_nr_routes;
extern const char *const cov_kind_names[K__COUNT];

/* Kinds (coverage_kinds.c). */
int cov_kind_map(struct cov_cell *c, unsigned int units);
const char *cov_kind_unavailable(enum cov_kind k);

/* Malloc routes (coverage_malloc.c). */
int cov_free_large_setup(struct cov_cell *c);
int cov_free_large(struct cov_cell *c);
int cov_realloc_setup(struct cov_cell *c);
int cov_realloc(struct cov_cell *c);
int cov_free_trim_setup(struct cov_cell *c);
int cov_free_trim(struct cov_cell *c);
int cov_malloc_trim_setup(struct cov_cell *c);
int cov_malloc_trim(struct cov_cell *c);

/* The single place that asks whether libc's @fn is entry-patched. */
bool cov_patched(const char *fn);
enum cov_claim cov_claim_of(const struct cov_route *r);
/* Capture's userfaultfd mechanism runs here (*@wp_async: file kinds too). */
bool cov_uffd_runs(bool *wp_async);
/* The claim for one cell: file kinds need WP_ASYNC for userfaultfd. */
enum cov_claim cov_claim_for(const struct cov_route *r, enum cov_kind k);

/**
 * struct cov_report - what a child sends back through its pipe.
 */
struct cov_report {
	int result;		/* enum cov_result */
	int calls;		/* callbacks other than RELEASE */
	int event;		/* the first one's event, -1 if none */
	int after_flag;		/* it carried UHMM_RANGE_AFTER */
	int other_thread;	/* it ran in another thread than the route */
	char note[96];
};

/* Run one cell in the calling (child) process. */
void cov_cell_run(const struct cov_route *r, enum cov_kind k,
		  struct cov_report *rep);

int cov_note(struct cov_cell *c, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Options and results of one run (coverage.c, coverage_print.c). */
#define COV_MAX_ROUTES	64

struct cov_run {
	bool json;
	bool enforce;		/* claims hold: UHMM_CAPTURE is the default */
	const char *route;	/* --route, or NULL for all */
	const char *kind;	/* --kind, or NULL for all */
	int timeout_s;
	const char *capture;	/* UHMM_CAPTURE as found */
	bool ran[COV_MAX_ROUTES];
	struct cov_report rep[COV_MAX_ROUTES][K__COUNT];
};

extern const char *const cov_result_names[R__COUNT];
extern const char cov_result_codes[R__COUNT];
extern const char *const cov_claim_names[];

void cov_print_header(const struct cov_run *run);
void cov_print_json(const struct cov_run *run, unsigned int r,
		    enum cov_kind k);
void cov_print_table(const struct cov_run *run);
bool cov_fails(const struct cov_run *run, const struct cov_report *rep);

int uhmm_cmd_coverage(int argc, char **argv);

#endif /* UHMM_TOOLS_COVERAGE_H */
