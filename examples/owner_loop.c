/* SPDX-License-Identifier: MIT */
/*
 * owner_loop.c - the canonical uhmm owner loop as a complete program.
 *
 * A software "device" mirrors 16 pages of this process: one translation word
 * per page, built with uhmm_range_fault() under the collision-retry protocol
 * and dropped by the subscription's invalidate callback.  The program then
 * unmaps the memory, announcing the change as the capture layer will, and
 * exits 0 only if the mirror was full before and empty after.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#define NPAGES 16

struct mirror {
	pthread_mutex_t lock;		/* the owner lock */
	struct uhmm_interval_sub sub;
	unsigned long start;		/* immutable while inserted */
	unsigned long end;
	uint64_t ptes[NPAGES];		/* under lock: committed translations */
};

static struct mirror *to_mirror(struct uhmm_interval_sub *sub)
{
	return (struct mirror *)((char *)sub - offsetof(struct mirror, sub));
}

/* [r->start, r->end) is changing: forget every translation of it. */
static bool mirror_invalidate(struct uhmm_interval_sub *sub,
			      const struct uhmm_notifier_range *r,
			      unsigned long cur_seq)
{
	struct mirror *m = to_mirror(sub);
	unsigned long ps = uhmm_page_size();
	unsigned long a = r->start > m->start ? r->start : m->start;
	unsigned long b = r->end < m->end ? r->end : m->end;

	if (uhmm_range_blockable(r))
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	uhmm_interval_set_seq(sub, cur_seq);
	for (; a < b; a += ps)
		m->ptes[(a - m->start) / ps] = 0;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct uhmm_interval_sub_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

/* The owner loop: fault without the lock, commit under it unless a change
 * collided with the fault. */
static int mirror_fault(struct mirror *m)
{
	uint64_t pfns[NPAGES] = { 0 };
	struct uhmm_range range = {
		.start = m->start,
		.end = m->end,
		.pfns = pfns,
		.default_flags = UHMM_PFN_REQ_FAULT | UHMM_PFN_REQ_WRITE,
	};
	int ret;

again:
	range.notifier = &m->sub;
	range.notifier_seq = uhmm_interval_read_begin(&m->sub);
	ret = uhmm_range_fault(&range);		/* no owner lock held */
	if (ret == -EBUSY)
		goto again;
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (uhmm_interval_read_retry(&m->sub, range.notifier_seq)) {
		pthread_mutex_unlock(&m->lock);
		goto again;
	}
	memcpy(m->ptes, pfns, sizeof(pfns));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static unsigned int mirror_count(struct mirror *m)
{
	unsigned int i, n = 0;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < NPAGES; i++)
		n += (m->ptes[i] & UHMM_PFN_VALID) != 0;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* munmap, bracketed as the capture layer will do it automatically. */
static int unmap_announced(struct uhmm_mm *mm, void *addr, size_t len)
{
	struct uhmm_notifier_range r;
	int ret;

	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, UHMM_RANGE_BLOCKABLE,
				 mm, (unsigned long)addr,
				 (unsigned long)addr + len);
	ret = uhmm_invalidate_range_start(&r);
	if (ret)
		return ret;
	munmap(addr, len);
	uhmm_invalidate_range_end(&r);
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "owner_loop: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(void)
{
	static struct mirror m = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct uhmm_mm *mm = uhmm_mm_current();	/* the process's own */
	size_t len = NPAGES * uhmm_page_size();
	unsigned int before, after;
	void *buf;
	int ret;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!mm || buf == MAP_FAILED)
		return fail("setup", -ENOMEM);
	m.start = (unsigned long)buf;
	m.end = m.start + len;
	ret = uhmm_interval_sub_insert(&m.sub, mm, m.start, len, &mirror_ops);
	if (ret)
		return fail("insert", ret);
	ret = mirror_fault(&m);
	if (ret)
		return fail("fault", ret);
	before = mirror_count(&m);
	ret = unmap_announced(mm, buf, len);
	if (ret)
		return fail("unmap", ret);
	after = mirror_count(&m);
	uhmm_interval_sub_remove(&m.sub);	/* no callback after this */
	printf("mirrored %u of %d pages; after munmap %u\n",
	       before, NPAGES, after);
	return before == NPAGES && after == 0 ? 0 : 1;
}
