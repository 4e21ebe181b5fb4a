/* SPDX-License-Identifier: MIT */
/*
 * capture_rec.h - the recorder subscription the capture tests share: one
 * interval subscription that records what it was told and, through a probe,
 * whether it was told before the change (the probe is still readable).
 */
#ifndef UHMM_TEST_CAPTURE_REC_H
#define UHMM_TEST_CAPTURE_REC_H

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZER 1
#endif

#define MARK 0x5a

/*
 * One interval subscription that records what it was told.  Tests keep
 * theirs in static storage: a failed assertion leaves it inserted, and the
 * RELEASE at exit must still find it in valid memory.
 */
struct rec {
	struct uhmm_interval_sub sub;
	int calls;			/* atomic */
	unsigned long start, end;	/* last call's range */
	int event;			/* last call's event */
	volatile unsigned char *probe;	/* read in the callback, if set */
	bool write_probe;		/* and written back */
	int seen;			/* what the probe held */
	pid_t tid;			/* the thread that ran the callback */
	void *unmap_in_cb;		/* a page the callback unmaps, once */
	int after;			/* atomic: UHMM_RANGE_AFTER calls */
};

static bool rec_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	struct rec *x = (struct rec *)sub;	/* sub is the first member */

	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event == UHMM_EVENT_RELEASE)
		return true;
	/*
	 * The userfaultfd reader's: a change it saw only afterwards (the
	 * memory may be gone: no probe), maybe another thread's.  These
	 * tests judge what was told before; counted apart.
	 */
	if (r->flags & UHMM_RANGE_AFTER) {
		__atomic_add_fetch(&x->after, 1, __ATOMIC_SEQ_CST);
		return true;
	}
	x->start = r->start;
	x->end = r->end;
	x->event = r->event;
	x->tid = (pid_t)syscall(SYS_gettid);
	if (x->probe) {
		x->seen = *x->probe;	/* still mapped: before the change */
		if (x->write_probe)
			*x->probe = (unsigned char)x->seen;
	}
	if (x->unmap_in_cb) {
		void *nested = x->unmap_in_cb;

		x->unmap_in_cb = NULL;
		munmap(nested, uhmm_page_size());	/* a nested change */
	}
	__atomic_add_fetch(&x->calls, 1, __ATOMIC_SEQ_CST);
	return true;
}

static const struct uhmm_interval_sub_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static unsigned long ps(void)
{
	return uhmm_page_size();
}

static int calls(struct rec *x)
{
	return __atomic_load_n(&x->calls, __ATOMIC_SEQ_CST);
}

/* Watch [addr, addr + len); probe its first byte, which holds MARK. */
static void watch(struct rec *x, void *addr, size_t len)
{
	memset(x, 0, sizeof(*x));
	x->probe = addr;
	assert_int_equal(uhmm_interval_sub_insert(&x->sub, uhmm_mm_current(),
						  (unsigned long)addr, len,
						  &rec_ops), 0);
}

static void unwatch(struct rec *x)
{
	assert_int_equal(uhmm_interval_sub_remove(&x->sub), 0);
}

#endif /* UHMM_TEST_CAPTURE_REC_H */
