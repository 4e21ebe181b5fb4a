/* SPDX-License-Identifier: MIT */
/*
 * range_walk.c - one piece of a uhmm_range_fault() walk (range.c drives
 * it): a hole, a VMA read as a snapshot, or one chunk of a VMA faulted
 * until its pages meet their requests; and what each page's result word
 * says the CPU may do with it.
 *
 * The requests of pages not yet done stay in range->pfns until their chunk
 * is written: the results of a chunk are written only once a reading of it
 * needed no fault.
 */
#include "range_walk.h"

enum need { NEED_NONE, NEED_READ, NEED_WRITE };

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static unsigned long page_index(const struct uhmm__range_walk *w,
				unsigned long addr)
{
	return (addr - w->range->start) >> w->shift;
}

/* The request of the page at @addr: REQ_WRITE implies REQ_FAULT. */
static uint64_t page_req(const struct uhmm__range_walk *w, unsigned long addr)
{
	const struct uhmm_range *r = w->range;
	uint64_t req = (r->pfns[page_index(w, addr)] & r->pfn_flags_mask) |
		       r->default_flags;

	if (req & UHMM_PFN_REQ_WRITE)
		req |= UHMM_PFN_REQ_FAULT;
	return req & UHMM__RANGE_REQ_ALL;
}

/* All requests of [start, end) together. */
static uint64_t range_req(const struct uhmm__range_walk *w,
			  unsigned long start, unsigned long end)
{
	uint64_t req = 0;

	if (!w->may_fault)
		return 0;
	for (; start < end && req != UHMM__RANGE_REQ_ALL; start += w->ps)
		req |= page_req(w, start);
	return req;
}

static void fill(const struct uhmm__range_walk *w, unsigned long start,
		 unsigned long end, uint64_t value)
{
	for (; start < end; start += w->ps)
		w->range->pfns[page_index(w, start)] = value;
}

int uhmm__range_hole(const struct uhmm__range_walk *w, unsigned long start,
		     unsigned long end)
{
	if (range_req(w, start, end) & UHMM_PFN_REQ_FAULT)
		return -EFAULT;
	fill(w, start, end, UHMM_PFN_ERROR);
	return 0;
}

/* ------------------------------------------------------------------ */
/* What the CPU may do with a page                                     */

static uint64_t order_flags(const struct uhmm__range_walk *w,
			    const struct uhmm__vma *vma, uint64_t pg)
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
static uint64_t cpu_flags(const struct uhmm__range_walk *w,
			  const struct uhmm__vma *vma, uint64_t pg)
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
static uint64_t page_result(const struct uhmm__range_walk *w,
			    const struct uhmm__vma *vma, uint64_t pg)
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

/*
 * @last_pass: this is the walk's last reading of the chunk.  ENOMEM
 * means "not mapped" as well as "no memory".  A page unmapped and mapped again between the VMA reading
 * and the populate (the VMA then reads the same) fails that populate, and
 * a thread that keeps doing so unseen (raw munmap system calls) can fail
 * several in a row: ENOMEM is believed only when every reading saw it,
 * otherwise the chunk is read again.
 */
static int fault_run(const struct uhmm__vma *vma, unsigned long start,
		     unsigned long end, enum need need, bool last_pass)
{
	int ret = uhmm__os_populate(start, end, need == NEED_WRITE);

	if (!ret)
		return 0;
	/* Not mapped / not allowed: maybe the mapping changed since it was
	 * read; if so, read it again rather than report a stale verdict. */
	if ((ret == -ENOMEM || ret == -EINVAL) && vma_moved(vma, start))
		return UHMM__RANGE_AGAIN;
	if (ret == -ENOMEM)
		return last_pass ? -ENOMEM : UHMM__RANGE_AGAIN;
	/* Only a fatal signal interrupts populating: the caller is dying. */
	if (ret == -EINTR)
		return -EBUSY;
	return -EFAULT;
}

/* One reading of a chunk: the page states the OS layer gave. */
struct chunk {
	const struct uhmm__vma *vma;
	unsigned long start;
	unsigned long end;
	bool first_pass;
	bool last_pass;
	uint64_t pg[UHMM__RANGE_CHUNK_PAGES];
};

static enum need need_at(const struct uhmm__range_walk *w,
			 const struct chunk *c, unsigned long addr)
{
	uint64_t pg = c->pg[(addr - c->start) >> w->shift];

	return page_need(c->vma, page_req(w, addr), cpu_flags(w, c->vma, pg),
			 c->first_pass);
}

/* Populate runs of pages needing the same fault.  RANGE_AGAIN if any. */
static int fault_chunk(const struct uhmm__range_walk *w, const struct chunk *c)
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
		ret = fault_run(c->vma, a, b, need, c->last_pass);
		if (ret)
			return ret;
		faulted = true;
		a = b;
	}
	return faulted ? UHMM__RANGE_AGAIN : 0;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */

static void emit(const struct uhmm__range_walk *w, const struct chunk *c)
{
	unsigned long i, n = (c->end - c->start) >> w->shift;
	uint64_t *out = w->range->pfns + page_index(w, c->start);

	for (i = 0; i < n; i++)
		out[i] = page_result(w, c->vma, c->pg[i]);
}

/* The states are read straight into range->pfns and turned into results
 * in place: no chunks, no stack array. */
int uhmm__range_snapshot(const struct uhmm__range_walk *w,
			 const struct uhmm__vma *vma, unsigned long start,
			 unsigned long end)
{
	unsigned long i, n = (end - start) >> w->shift;
	uint64_t *pg = w->range->pfns + page_index(w, start);
	int ret = uhmm__os_page_scan(start, end, pg, w->want_pfn);

	for (i = 0; !ret && i < n; i++)
		pg[i] = page_result(w, vma, pg[i]);
	return ret;
}

int uhmm__range_chunk(const struct uhmm__range_walk *w,
		      const struct uhmm__vma *vma, unsigned long start,
		      unsigned long end, unsigned int pass)
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
	c.last_pass = pass + 1 >= UHMM__RANGE_MAX_PASSES;
	ret = uhmm__os_page_scan(start, end, c.pg, w->want_pfn);
	if (!ret)
		ret = fault_chunk(w, &c);
	if (!ret)
		emit(w, &c);
	return ret;
}
