/* SPDX-License-Identifier: MIT */
/*
 * bench_range.c - figure 4, and the helpers the uhmm_range_fault() figure
 * groups share (bench_range.h).
 *
 * Write fault (UHMM_PFN_REQ_WRITE in default_flags) over a fresh, untouched
 * range vs MADV_POPULATE_WRITE alone over an identical fresh range; mapping
 * and unmapping are not timed.  Goal: >= 90% of the raw rate.
 *
 * Ranges are MADV_NOHUGEPAGE so both sides walk base pages whatever the
 * machine's THP policy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "bench_range.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define FAULT_GOAL	0.9

static unsigned long range_bytes(void)
{
	return (bench_opts.quick ? 8ul : 64ul) << 20;
}

int rbench_init(struct rbench *rb)
{
	memset(rb, 0, sizeof(*rb));
	rb->page = uhmm_page_size();
	rb->len = range_bytes();
	rb->npages = rb->len / rb->page;
	rb->pagemap_fd = -1;
	rb->mm = uhmm_mm_current();
	rb->pfns = calloc(rb->npages, sizeof(*rb->pfns));
	rb->vec = calloc(rb->npages, sizeof(*rb->vec));
	rb->words = calloc(rb->npages, sizeof(*rb->words));
	if (rb->mm && rb->pfns && rb->vec && rb->words)
		return 0;
	fprintf(stderr, "range: out of memory\n");
	return -1;
}

void rbench_fini(struct rbench *rb)
{
	if (rb->mem)
		munmap(rb->mem, rb->len);
	if (rb->pagemap_fd >= 0)
		close(rb->pagemap_fd);
	free(rb->pfns);
	free(rb->vec);
	free(rb->words);
}

/* A fresh anonymous range of base pages; NULL on failure. */
char *rbench_map_fresh(unsigned long len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

int rbench_range_fault(struct rbench *rb, char *mem, uint64_t req)
{
	struct uhmm_range r = {
		.mm = rb->mm,
		.start = (unsigned long)mem,
		.end = (unsigned long)mem + rb->len,
		.pfns = rb->pfns,
		.default_flags = req,
	};

	return uhmm_range_fault(&r);
}

/* Every result word has all of @want set; else print why and fail. */
int rbench_check_words(const struct rbench *rb, uint64_t want,
		       const char *what)
{
	unsigned long i;

	for (i = 0; i < rb->npages; i++) {
		if ((rb->pfns[i] & want) != want) {
			fprintf(stderr, "%s: page %lu reads %#llx\n", what, i,
				(unsigned long long)rb->pfns[i]);
			return -1;
		}
	}
	return 0;
}

void rbench_report(const char *name, const struct bench_side *s,
			 const char *goal, double goal_ratio)
{
	double ratio = bench_rate(&s[0]) / bench_rate(&s[1]);
	struct bench_fig f = {
		.name = name,
		.value = bench_rate(&s[0]),
		.unit = "pages/s",
		.noise = s[0].noise,
		.baseline = s[1].name,
		.baseline_value = bench_rate(&s[1]),
		.ratio = ratio,
		.goal = goal,
		.goal_met = ratio >= goal_ratio,
	};

	bench_report(&f);
}

/* ------------------------------------------------------------------ */
/* Write fault                                                         */

static uint64_t uhmm_fault_body(void *arg, unsigned long iters)
{
	struct rbench *rb = arg;
	uint64_t t = 0, fails = 0, t0;
	unsigned long i;
	char *p;

	for (i = 0; i < iters; i++) {
		p = rbench_map_fresh(rb->len);
		if (!p)
			abort();
		t0 = bench_now_ns();
		fails += rbench_range_fault(rb, p, UHMM_PFN_REQ_WRITE) != 0;
		t += bench_now_ns() - t0;
		munmap(p, rb->len);
	}
	bench_sink += fails;
	return t;
}

static uint64_t populate_body(void *arg, unsigned long iters)
{
	struct rbench *rb = arg;
	uint64_t t = 0, fails = 0, t0;
	unsigned long i;
	char *p;

	for (i = 0; i < iters; i++) {
		p = rbench_map_fresh(rb->len);
		if (!p)
			abort();
		t0 = bench_now_ns();
		fails += madvise(p, rb->len, MADV_POPULATE_WRITE) != 0;
		t += bench_now_ns() - t0;
		munmap(p, rb->len);
	}
	bench_sink += fails;
	return t;
}

/* One checked call of each side, so a broken side is not timed. */
static const char *fault_check(struct rbench *rb)
{
	static char why[96];
	char *p = rbench_map_fresh(rb->len);
	int ret;

	if (!p)
		return "mmap failed";
	ret = madvise(p, rb->len, MADV_POPULATE_WRITE) ? -errno : 0;
	munmap(p, rb->len);
	if (ret)
		return "MADV_POPULATE_WRITE unavailable";
	p = rbench_map_fresh(rb->len);
	if (!p)
		return "mmap failed";
	ret = rbench_range_fault(rb, p, UHMM_PFN_REQ_WRITE);
	munmap(p, rb->len);
	if (ret) {
		snprintf(why, sizeof(why), "uhmm_range_fault: %s",
			 strerror(-ret));
		return why;
	}
	if (rbench_check_words(rb, UHMM_PFN_VALID | UHMM_PFN_WRITE, "fault"))
		return "fault left a page not present and writable";
	return NULL;
}

int bench_fault(void)
{
	struct rbench rb;
	struct bench_side s[2] = {
		{ "fault_write", uhmm_fault_body, &rb, 0, 0, 0, 0 },
		{ "raw_madv_populate_write", populate_body, &rb, 0, 0, 0, 0 },
	};
	const char *why;
	int ret = rbench_init(&rb);

	if (ret)
		return ret;
	s[0].ops_per_iter = s[1].ops_per_iter = rb.npages;
	why = fault_check(&rb);
	if (why) {
		bench_skip("fault_write", "pages/s", why);
	} else {
		bench_run(s, 2, 60);
		rbench_report("fault_write", s, ">= 0.9 of raw", FAULT_GOAL);
	}
	rbench_fini(&rb);
	return 0;
}
