/* SPDX-License-Identifier: MIT */
/*
 * bench_capture.h - the pipe protocol between uhmm-bench's capture group
 * (bench_capture.c, the parent) and its helper uhmm-bench-capture
 * (bench_capture_child.c), one helper process per measured side.
 *
 * Capture patches libc process-wide and cannot be undone cleanly, so each
 * side lives in its own process for the whole group.  The parent writes a
 * struct capcmd to the helper's stdin; the helper runs the loop and writes
 * one struct capreply to its stdout.  Right after it starts, the helper
 * writes one unsolicited reply: err 0 when its side is set up, else
 * -errno (or -1) and @why.
 */
#ifndef UHMM_BENCH_CAPTURE_H
#define UHMM_BENCH_CAPTURE_H

#include <stdint.h>

/* The loops a helper can run; each iteration is one operation. */
enum caploop {
	CAPLOOP_MAP,		/* mmap(hint, page) + munmap */
	CAPLOOP_TOUCH,		/* mmap(hint, page) + write a byte + munmap */
	CAPLOOP_FIXED,		/* mmap(fixed page, NOREPLACE) + munmap */
	CAPLOOP_RAW_DISCARD,	/* write a byte + madvise(DONTNEED) through an
				 * inline syscall instruction (not libc) */
	CAPLOOP_COUNT
};

struct capcmd {
	uint32_t loop;		/* enum caploop */
	uint32_t pad;
	uint64_t iters;
};

struct capreply {
	int64_t err;		/* 0, or -errno (-1: see @why) */
	uint64_t ns;		/* time spent in the loop */
	uint64_t calls;		/* callbacks run (uhmm or UCM) during it */
	char why[104];		/* NUL-terminated reason when err != 0 */
};

/* Intervals of the 1-of-100k side, and of every helper's reservation. */
#define CAP_NINTERVALS	100000ul
/* The page churned by CAPLOOP_FIXED: in the middle interval. */
#define CAP_FIXED_INDEX	(CAP_NINTERVALS / 2)

#endif /* UHMM_BENCH_CAPTURE_H */
