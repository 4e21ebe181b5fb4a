/* SPDX-License-Identifier: MIT */
/*
 * coverage_cell.c - one cell of the matrix, inside its child process.
 *
 * The subscription's callback decides "before" from evidence, not from
 * what the library says: the probe page must still be present in the page
 * table (/proc/self/pagemap: a shared mapping refaults its marker from the
 * page cache after a zap, so reading alone would not tell), still hold the
 * marker, and still be writable (for PROTECTION: write access not yet
 * removed).  Reads and writes go through process_vm_readv/writev on our own
 * pid, which fail with EFAULT instead of faulting when the change already
 * happened.  A callback flagged UHMM_RANGE_AFTER is "after" outright.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "coverage.h"

/*
 * What the callback records.  Static: a subscription left inserted must
 * stay in valid memory; the callback must not allocate.
 */
static struct {
	struct uhmm_interval_sub sub;
	int calls;
	int event;
	bool after_flag;
	bool before;
	pid_t tid;
	char *probe;
	int pagemap;
} rec;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static bool page_present(const char *addr)
{
	uint64_t e;
	off_t off = (off_t)((uintptr_t)addr / uhmm_page_size() * sizeof(e));

	if (rec.pagemap < 0)
		return true;	/* no pagemap: rely on the contents */
	if (pread(rec.pagemap, &e, sizeof(e), off) != (ssize_t)sizeof(e))
		return true;
	return (e >> 63) & 1;
}

static bool probe_intact(char *addr)
{
	unsigned char v = 0, m = COV_MARK;
	struct iovec l = { &v, 1 }, r = { addr, 1 };

	if (!page_present(addr))
		return false;
	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != 1 || v != COV_MARK)
		return false;
	l.iov_base = &m;
	return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == 1;
}

static bool cell_invalidate(struct uhmm_interval_sub *sub,
			    const struct uhmm_notifier_range *r,
			    unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event == UHMM_EVENT_RELEASE)
		return true;
	if (__atomic_fetch_add(&rec.calls, 1, __ATOMIC_SEQ_CST) == 0) {
		rec.event = r->event;
		rec.after_flag = r->flags & UHMM_RANGE_AFTER;
		rec.before = !rec.after_flag && probe_intact(rec.probe);
		rec.tid = gettid_();
	}
	return true;
}

static const struct uhmm_interval_sub_ops cell_ops = {
	.invalidate = cell_invalidate,
};

static enum cov_result from_ret(int ret)
{
	if (ret == COV_NA)
		return R_NA;
	return ret == COV_REFUSED ? R_REFUSED : R_ERROR;
}

static enum cov_result verdict(enum cov_claim claim)
{
	/*
	 * A change seen only afterwards is told by the userfaultfd reader,
	 * whose invalidation began before the change's call returned: wait
	 * for it to end, so its record is complete (and ordered) here.
	 */
	(void)uhmm_interval_read_begin(&rec.sub);
	if (!__atomic_load_n(&rec.calls, __ATOMIC_SEQ_CST)) {
		if (claim == CLAIM_NONE)
			return R_QUIET;
		return claim == CLAIM_GAP ? R_GAP : R_MISSED;
	}
	if (claim == CLAIM_NONE)
		return R_EXTRA;
	return rec.before ? R_BEFORE : R_AFTER;
}

/*
 * "Before" means something only if the probe no longer passes once the
 * change is done.  MADV_FREE, for one, leaves the page as it was until
 * reclaim: there the cell is only "caught".
 */
static enum cov_result proved(enum cov_result res)
{
	if (res == R_BEFORE && probe_intact(rec.probe))
		return R_CAUGHT;
	return res;
}

static int watch(struct cov_cell *c, const struct cov_route *r)
{
	int ret;

	memset(&rec, 0, sizeof(rec));
	rec.event = -1;
	rec.probe = c->addr + r->probe_unit * c->unit;
	rec.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ret = uhmm_interval_sub_insert(&rec.sub, uhmm_mm_current(),
				       (unsigned long)c->addr, c->len,
				       &cell_ops);
	if (ret)
		return cov_note(c, COV_FAIL, "interval insert: %s",
				strerror(-ret));
	return 0;
}

static void report(struct cov_report *rep, enum cov_result res,
		   const struct cov_cell *c)
{
	rep->result = res;
	rep->calls = __atomic_load_n(&rec.calls, __ATOMIC_SEQ_CST);
	rep->event = rep->calls ? rec.event : -1;
	rep->after_flag = rec.after_flag;
	rep->other_thread = rep->calls && rec.tid != gettid_();
	memcpy(rep->note, c->note, sizeof(rep->note));
}

/*
 * The first subscription of a process starts what capture needs once (the
 * userfaultfd reader thread, liburcu's registration of this thread), and
 * some of that comes from malloc.  Done here, before the route's setup, so
 * a chunk the setup puts at the top of the heap stays there: free() can
 * only trim the heap from its top.
 */
static bool warm_up_invalidate(struct uhmm_interval_sub *sub,
			       const struct uhmm_notifier_range *range,
			       unsigned long cur_seq)
{
	(void)range;
	uhmm_interval_set_seq(sub, cur_seq);
	return true;
}

static int warm_up(void)
{
	static const struct uhmm_interval_sub_ops none = {
		.invalidate = warm_up_invalidate,
	};
	struct uhmm_interval_sub sub;
	size_t pg = uhmm_page_size();
	void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (p == MAP_FAILED)
		return -errno;
	ret = uhmm_interval_sub_insert(&sub, uhmm_mm_current(),
				       (unsigned long)p, pg, &none);
	if (!ret && uhmm_interval_sub_remove(&sub))
		ret = -EBUSY;
	munmap(p, pg);
	return ret;
}

/**
 * cov_cell_run() - run route @r on memory of kind @k; fill @rep.
 *
 * Context: a child process made for this one cell; it exits right after.
 */
void cov_cell_run(const struct cov_route *r, enum cov_kind k,
		  struct cov_report *rep)
{
	struct cov_cell c = { .kind = k };
	int ret;

	/* The process handle first: its allocation must not move the break. */
	if (!uhmm_mm_current()) {
		cov_note(&c, 0, "no process handle");
		report(rep, R_ERROR, &c);
		return;
	}
	ret = warm_up();
	if (ret) {
		cov_note(&c, 0, "warm-up subscription: %s", strerror(-ret));
		report(rep, R_ERROR, &c);
		return;
	}
	ret = r->setup ? r->setup(&c) : cov_kind_map(&c, r->units);
	if (!ret)
		ret = watch(&c, r);
	if (!ret)
		ret = r->act(&c);
	report(rep, ret ? from_ret(ret) : proved(verdict(cov_claim_for(r, k))),
	       &c);
}
