/* SPDX-License-Identifier: MIT */
/*
 * range.c - uhmm_range_fault(): the kernel's hmm_range_fault() built from
 * what userspace can see and do: the OS layer's VMA lookup, page-state
 * reader and MADV_POPULATE_*.
 *
 * The kernel walks the page tables under the mmap lock, so what it reads
 * holds until it drops the lock.  Userspace has no such lock: every VMA and
 * page state read here may be stale the moment it arrives.  Two things keep
 * the result honest anyway:
 *  - after every fault the chunk is looked up and read again, as the kernel
 *    restarts its walk after each fault, so a result is always a reading
 *    taken after the last fault, never an assumption about its outcome;
 *  - a change the owner must hear about (unmap, discard, protection) runs
 *    its interval callback: the check before each pass turns that into
 *    -EBUSY early, and uhmm_interval_read_retry() under the owner lock
 *    catches what happens after, exactly as with the kernel.
 *
 * The walk goes VMA by VMA and, inside one, in chunks of CHUNK_PAGES pages
 * aligned to CHUNK_PAGES: the states of a chunk fit a stack array, and with
 * 4 KiB pages a chunk is one PMD, so a THP is read whole.  The requests of
 * pages not yet done stay in range->pfns until their chunk is written.
 */
#include "internal.h"

#define CHUNK_PAGES	512	/* 4 KiB of page states on the stack */
#define MAX_PASSES	8	/* fault rounds per chunk before -EBUSY */
#define WALK_AGAIN	1	/* read this chunk again (internal) */

#define REQ_ALL		(UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE)

struct walk {
	struct uhmm_range *range;
	unsigned long ps;		/* base page size */
	unsigned int shift;		/* log2(ps) */
	bool may_fault;			/* some page may request a fault */
	bool want_pfn;
};

enum need { NEED_NONE, NEED_READ, NEED_WRITE };

static unsigned long page_index(const struct walk *w, unsigned long addr)
{
	return (addr - w->range->start) >> w->shift;
}

/* The request of the page at @addr: REQ_WRITE implies REQ_FAULT. */
static uint64_t page_req(const struct walk *w, unsigned long addr)
{
	const struct uhmm_range *r = w->range;
	uint64_t req = (r->pfns[page_index(w, addr)] & r->pfn_flags_mask) |
		       r->default_flags;

	if (req & UHMM_PFN_REQ_WRITE)
		req |= UHMM_PFN_REQ_FAULT;
	return req & REQ_ALL;
}

/* All requests of [start, end) together. */
static uint64_t range_req(const struct walk *w, unsigned long start,
			  unsigned long end)
{
	uint64_t req = 0;

	if (!w->may_fault)
		return 0;
	for (; start < end && req != REQ_ALL; start += w->ps)
		req |= page_req(w, start);
	return req;
}

static void fill(const struct walk *w, unsigned long start, unsigned long end,
		 uint64_t value)
{
	for (; start < end; start += w->ps)
		w->range->pfns[page_index(w, start)] = value;
}

/*
 * No usable mapping (a hole, PROT_NONE, VM_IO): ERROR, or -EFAULT where a
 * fault was requested (the kernel's hmm_vma_walk_hole / _walk_test).
 */
static int walk_error(const struct walk *w, unsigned long start,
		      unsigned long end)
{
	if (range_req(w, start, end) & UHMM_PFN_REQ_FAULT)
		return -EFAULT;
	fill(w, start, end, UHMM_PFN_ERROR);
	return 0;
}

/* ------------------------------------------------------------------ */
/* What the CPU may do with a page                                     */

static uint64_t order_flags(const struct walk *w, const struct uhmm__vma *vma,
			    uint64_t pg)
{
	unsigned long size = 0;

	if (vma->flags & UHMM__VMA_HUGETLB)
		size = vma->page_size;
	else if (pg & UHMM__PG_HUGE)
		size = uhmm__os_thp_size();
	if (size <= w->ps)
		return 0;
	return ((uint64_t)(__builtin_ctzl(size) - w->shift)
		<< UHMM_PFN_ORDER_SHIFT) & UHMM_PFN_ORDER_MASK;
}

/*
 * Userspace cannot read the PTE write bit; it infers "a write needs no
 * fault" from the mapping.  Shared: the page itself is written.  Private:
 * only an anonymous page mapped nowhere else is written in place; a file
 * page, the zero page or a page shared copy-on-write (after fork, or
 * merged by KSM) is copied first.
 */
static bool page_writable(const struct uhmm__vma *vma, uint64_t pg)
{
	if (!(vma->flags & UHMM__VMA_WRITE) || (pg & UHMM__PG_ZERO))
		return false;
	if ((vma->flags & UHMM__VMA_SHARED) || (pg & UHMM__PG_WRITTEN))
		return true;
	return !(pg & UHMM__PG_FILE) && (pg & UHMM__PG_EXCL_KNOWN) &&
	       (pg & UHMM__PG_EXCLUSIVE);
}

/* Result flags of a page in a readable VMA (no frame number). */
static uint64_t cpu_flags(const struct walk *w, const struct uhmm__vma *vma,
			  uint64_t pg)
{
	uint64_t f;

	if (!(pg & UHMM__PG_PRESENT))
		return 0;
	f = UHMM_PFN_VALID | order_flags(w, vma, pg);
	if (pg & UHMM__PG_ZERO)
		return f | UHMM_PFN_ZERO;
	if (page_writable(vma, pg))
		f |= UHMM_PFN_WRITE;
	return f;
}

/* The word reported for a page: flags, and its frame if asked for. */
static uint64_t page_result(const struct walk *w, const struct uhmm__vma *vma,
			    uint64_t pg)
{
	uint64_t f = cpu_flags(w, vma, pg);

	if (f && w->want_pfn)
		f |= pg & UHMM_PFN_PFN_MASK;
	return f;
}

/* The kernel's hmm_pte_need_fault(), plus one pass of dirtying. */
static enum need page_need(const struct uhmm__vma *vma, uint64_t req,
			   uint64_t cpu, bool first_pass)
{
	if (!(req & UHMM_PFN_REQ_FAULT))
		return NEED_NONE;
	if (req & UHMM_PFN_REQ_WRITE) {
		if (!(cpu & UHMM_PFN_WRITE))
			return NEED_WRITE;
		/*
		 * A shared page reads as writable, but the kernel may hold it
		 * clean and write-protected to track dirtying.  Writing it
		 * once through the kernel marks it dirty, as the kernel's
		 * own write fault would; an already dirty one costs a walk.
		 */
		return first_pass && (vma->flags & UHMM__VMA_SHARED) ?
		       NEED_WRITE : NEED_NONE;
	}
	return (cpu & UHMM_PFN_VALID) ? NEED_NONE : NEED_READ;
}

/* ------------------------------------------------------------------ */
/* Faulting                                                            */

/* Has the VMA that covered @start changed or gone? */
static bool vma_moved(const struct uhmm__vma *vma, unsigned long start)
{
	struct uhmm__vma now;

	if (uhmm__os_vma_find(start, &now))
		return true;
	return now.start != vma->start || now.end != vma->end ||
	       now.flags != vma->flags;
}

static int fault_run(const struct uhmm__vma *vma, unsigned long start,
		     unsigned long end, enum need need)
{
	int ret = uhmm__os_populate(start, end, need == NEED_WRITE);

	if (!ret)
		return 0;
	/* Not mapped / not allowed: maybe the mapping changed since it was
	 * read; if so, read it again rather than report a stale verdict. */
	if ((ret == -ENOMEM || ret == -EINVAL) && vma_moved(vma, start))
		return WALK_AGAIN;
	if (ret == -ENOMEM)
		return -ENOMEM;
	/* Only a fatal signal interrupts populating: the caller is dying. */
	if (ret == -EINTR)
		return -EBUSY;
	return -EFAULT;
}

struct chunk {
	const struct uhmm__vma *vma;
	unsigned long start;
	unsigned long end;
	bool first_pass;
	uint64_t pg[CHUNK_PAGES];	/* page states from the OS layer */
};

static enum need need_at(const struct walk *w, const struct chunk *c,
			 unsigned long addr)
{
	uint64_t pg = c->pg[(addr - c->start) >> w->shift];

	return page_need(c->vma, page_req(w, addr), cpu_flags(w, c->vma, pg),
			 c->first_pass);
}

/* Populate runs of pages needing the same fault.  WALK_AGAIN if any. */
static int fault_chunk(const struct walk *w, const struct chunk *c)
{
	unsigned long a = c->start, b;
	bool faulted = false;
	enum need need;
	int ret;

	while (a < c->end) {
		need = need_at(w, c, a);
		if (need == NEED_NONE) {
			a += w->ps;
			continue;
		}
		for (b = a + w->ps; b < c->end && need_at(w, c, b) == need;
		     b += w->ps)
			;
		ret = fault_run(c->vma, a, b, need);
		if (ret)
			return ret;
		faulted = true;
		a = b;
	}
	return faulted ? WALK_AGAIN : 0;
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */

static void emit(const struct walk *w, const struct chunk *c)
{
	unsigned long i, n = (c->end - c->start) >> w->shift;
	uint64_t *out = w->range->pfns + page_index(w, c->start);

	for (i = 0; i < n; i++)
		out[i] = page_result(w, c->vma, c->pg[i]);
}

/*
 * A snapshot (no page can request a fault): the states are read straight
 * into range->pfns and turned into results in place, one VMA at a time.
 */
static int snapshot_vma(const struct walk *w, const struct uhmm__vma *vma,
			unsigned long start, unsigned long end)
{
	unsigned long i, n = (end - start) >> w->shift;
	uint64_t *pg = w->range->pfns + page_index(w, start);
	int ret = uhmm__os_page_scan(start, end, pg, w->want_pfn);

	for (i = 0; !ret && i < n; i++)
		pg[i] = page_result(w, vma, pg[i]);
	return ret;
}

/* One chunk of a VMA where pages may request faults. */
static int fault_vma(const struct walk *w, const struct uhmm__vma *vma,
		     unsigned long start, unsigned long end, unsigned int pass)
{
	struct chunk c;		/* pg[] is filled by the scan, not zeroed */
	int ret;

	if ((range_req(w, start, end) & UHMM_PFN_REQ_WRITE) &&
	    !(vma->flags & UHMM__VMA_WRITE))
		return -EPERM;
	c.vma = vma;
	c.start = start;
	c.end = end;
	c.first_pass = pass == 0;
	ret = uhmm__os_page_scan(start, end, c.pg, w->want_pfn);
	if (!ret)
		ret = fault_chunk(w, &c);
	if (!ret)
		emit(w, &c);
	return ret;
}

/* The end of the chunk starting at @addr, at most @limit. */
static unsigned long chunk_end(const struct walk *w, unsigned long addr,
			       unsigned long limit)
{
	unsigned long size = CHUNK_PAGES * w->ps;
	unsigned long end = (addr & ~(size - 1)) + size;

	return end > addr && end < limit ? end : limit;
}

/* One step from @addr: a hole, a VMA, or one chunk of it.  Sets *@next. */
static int walk_step(const struct walk *w, unsigned long addr,
		     unsigned long *next, unsigned int pass)
{
	unsigned long end = w->range->end;
	struct uhmm__vma vma;
	int ret = uhmm__os_vma_find(addr, &vma);

	if (ret == -ENOENT)
		vma.start = end;	/* nothing mapped above: all hole */
	else if (ret)
		return ret;
	if (vma.start > addr) {
		*next = vma.start < end ? vma.start : end;
		return walk_error(w, addr, *next);
	}
	*next = vma.end < end ? vma.end : end;
	if (!(vma.flags & UHMM__VMA_READ) || (vma.flags & UHMM__VMA_IO))
		return walk_error(w, addr, *next);
	if (!w->may_fault)
		return snapshot_vma(w, &vma, addr, *next);
	*next = chunk_end(w, addr, *next);
	return fault_vma(w, &vma, addr, *next, pass);
}

static bool must_retry(const struct uhmm_range *r)
{
	return r->notifier &&
	       uhmm_interval_check_retry(r->notifier, r->notifier_seq);
}

static int walk_range(const struct walk *w)
{
	unsigned long addr = w->range->start, next;
	unsigned int pass = 0;
	int ret;

	while (addr < w->range->end) {
		if (must_retry(w->range))
			return -EBUSY;
		ret = walk_step(w, addr, &next, pass);
		if (ret == WALK_AGAIN) {
			/* Pages that never settle: someone keeps taking them
			 * away.  Let the caller start over. */
			if (++pass == MAX_PASSES)
				return -EBUSY;
			continue;
		}
		if (ret)
			return ret;
		addr = next;
		pass = 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

static int range_check(const struct uhmm_range *r)
{
	unsigned long mask = uhmm__os_page_size() - 1;

	if (!r || !r->pfns || r->start >= r->end || ((r->start | r->end) & mask))
		return -EINVAL;
	return 0;
}

static void walk_init(struct walk *w, struct uhmm_range *range)
{
	w->range = range;
	w->ps = uhmm__os_page_size();
	w->shift = (unsigned int)__builtin_ctzl(w->ps);
	w->may_fault = ((range->default_flags | range->pfn_flags_mask) &
			REQ_ALL) != 0;
	w->want_pfn = (range->flags & UHMM_RANGE_WANT_PFN) != 0;
}

int uhmm_range_fault(struct uhmm_range *range)
{
	struct uhmm_mm *mm;
	struct walk w;
	int ret;

	if (uhmm__in_callback())
		return -EDEADLK;
	ret = range_check(range);
	if (ret)
		return ret;
	mm = range->notifier ? uhmm_interval_sub_mm(range->notifier) : range->mm;
	if (!mm)
		return -EINVAL;
	if (!uhmm_mm_get_not_zero(mm))
		return -ESRCH;
	walk_init(&w, range);
	ret = walk_range(&w);
	uhmm_mm_put(mm);	/* pairs with uhmm_mm_get_not_zero() above */
	return ret;
}

const char *uhmm_range_backend(void)
{
	return uhmm__os_page_backend();
}
