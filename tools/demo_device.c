/* SPDX-License-Identifier: MIT */
/*
 * demo_device.c - the device threads: pin a live slot, READ or WRITE all of
 * it through a device, check the bytes against the slot's record, check the
 * device's translations (demo_check.c), unpin.
 *
 *   READ   the buffer must hold the record's content (zero after DONTNEED).
 *   WRITE  a new content; the CPU must then read it from the memory, and
 *          the record takes it.  On a read-only slot the device must refuse
 *          with -EPERM and the memory must be unchanged.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/dmirror.h>

#include "demo.h"

struct access {
	struct demo_device_thread *t;
	struct demo_slot *s;
	struct demo_record rec;
	struct uhmm_dmirror_cmd cmd;
	void *buf;
	size_t npages;
};

static const char *kind_name(enum demo_kind k)
{
	return k == KIND_SMALL ? "small" : k == KIND_LARGE ? "large" : "mmap";
}

static void count_error(int ret)
{
	if (-ret > 0 && -ret < DEMO_ERRNO_MAX)
		demo_inc(demo.c.errors[-ret]);
}

static void unexpected(const struct access *a, const char *what, int ret)
{
	demo_inc(demo.c.unexpected);
	demo_report_problem("device %u: %s of %zu pages at %p (%s slot %u, gen %llu%s) returned %d, cpages %llu",
			    a->t->dev, what, a->npages, (void *)a->rec.addr,
			    kind_name(a->rec.kind), a->s->index,
			    (unsigned long long)a->rec.gen,
			    a->rec.ro ? ", read-only" : "", ret,
			    (unsigned long long)a->cmd.cpages);
}

static void wrong(const struct access *a, const char *what, long off,
		  uint64_t seed)
{
	demo_inc(demo.c.wrong_data);
	demo_report_problem("device %u: %s of %p (%s slot %u, gen %llu%s): wrong byte at offset %ld (page %ld), expected content seed %#llx",
			    a->t->dev, what, (void *)a->rec.addr,
			    kind_name(a->rec.kind), a->s->index,
			    (unsigned long long)a->rec.gen,
			    a->rec.ro ? ", read-only" : "", off,
			    off / (long)demo_page(), (unsigned long long)seed);
}

/* UHMM_DEMO_FAULT=corrupt: one READ is checked against a wrong content, so
 * the run must fail with wrong data (the checker's own test). */
static uint64_t expected_seed(const struct access *a)
{
	static int injected;

	if (demo.cfg.corrupt &&
	    !__atomic_exchange_n(&injected, 1, __ATOMIC_RELAXED))
		return a->rec.seed ^ 1;
	return a->rec.seed;
}

static void do_read(struct access *a)
{
	struct uhmm_dmirror *dev = demo.dev[a->t->dev];
	uint64_t seed;
	long off;
	int ret;

	ret = uhmm_dmirror_read(dev, &a->cmd);
	demo_inc(demo.c.reads);
	count_error(ret);
	if (ret || a->cmd.cpages != a->npages) {
		unexpected(a, "READ", ret);
		return;
	}
	if (a->rec.unknown)
		return;
	seed = expected_seed(a);
	off = demo_compare(a->buf, a->rec.len, seed);
	demo_add(demo.c.pages_compared, a->npages);
	if (off >= 0)
		wrong(a, "READ", off, seed);
}

/* After a WRITE that failed: what does the memory hold now? */
static void settle(struct access *a, uint64_t seed)
{
	if (demo_compare(a->rec.addr, a->rec.len, seed) < 0)
		a->rec.seed = seed;
	else if (a->rec.unknown ||
		 demo_compare(a->rec.addr, a->rec.len, a->rec.seed) >= 0)
		a->rec.unknown = true;
}

static void written(struct access *a, uint64_t seed)
{
	long off = demo_compare(a->rec.addr, a->rec.len, seed);

	demo_add(demo.c.pages_compared, a->npages);
	if (off >= 0) {
		wrong(a, "CPU read after WRITE", off, seed);
		a->rec.unknown = true;
		return;
	}
	/* Writing zeroed memory replaces the zero page: other devices'
	 * entries for it now name a frame the CPU no longer maps. */
	if (!a->rec.seed && !a->rec.unknown)
		a->rec.cows++;
	a->rec.seed = seed;
	a->rec.unknown = false;
}

static void refused(struct access *a, int ret)
{
	long off;

	demo_inc(demo.c.writes_ro);
	if (ret != -EPERM) {
		unexpected(a, "WRITE to read-only memory", ret);
		return;
	}
	if (a->rec.unknown)
		return;
	off = demo_compare(a->rec.addr, a->rec.len, a->rec.seed);
	demo_add(demo.c.pages_compared, a->npages);
	if (off >= 0) {
		wrong(a, "refused WRITE (memory changed)", off, a->rec.seed);
		a->rec.unknown = true;
	}
}

/* Return: true if the device wrote (its entries must be fresh). */
static bool do_write(struct access *a, uint64_t *rng)
{
	struct uhmm_dmirror *dev = demo.dev[a->t->dev];
	uint64_t seed = demo_mix(demo_rand(rng)) | 1;
	int ret;

	demo_fill(a->buf, a->rec.len, seed);
	ret = uhmm_dmirror_write(dev, &a->cmd);
	demo_inc(demo.c.writes);
	count_error(ret);
	if (a->rec.ro) {
		refused(a, ret);
		return false;
	}
	if (ret || a->cmd.cpages != a->npages) {
		unexpected(a, "WRITE", ret);
		settle(a, seed);
		return false;
	}
	written(a, seed);
	return true;
}

static void access_slot(struct access *a, bool write, uint64_t *rng)
{
	bool own_write = false;

	a->npages = a->rec.len / demo_page();
	memset(&a->cmd, 0, sizeof(a->cmd));
	a->cmd.addr = (uintptr_t)a->rec.addr;
	a->cmd.ptr = (uintptr_t)a->buf;
	a->cmd.npages = a->npages;
	if (write)
		own_write = do_write(a, rng);
	else
		do_read(a);
	demo_check_access(a->t->dev, a->s, &a->rec, own_write);
	demo_unpin(a->s, write, &a->rec);
}

static bool pick(struct access *a, bool write, uint64_t *rng)
{
	unsigned int tries;

	for (tries = 0; tries < 8; tries++) {
		a->s = &demo.slots[demo_rand(rng) % demo.nr_slots];
		if (demo_pin(a->s, write, &a->rec))
			return true;
	}
	return false;
}

/**
 * demo_device_thread() - access slots through device @arg->dev until the
 * run stops.
 */
void *demo_device_thread(void *arg)
{
	struct access a = { .t = arg };
	uint64_t rng = demo_mix(demo.cfg.seed + 0x2000 + a.t->nr) | 1;
	bool write;

	a.buf = aligned_alloc(demo_page(), DEMO_MAX_PAGES * demo_page());
	if (!a.buf) {
		demo_inc(demo.c.unexpected);
		demo_report_problem("device thread: no buffer");
		return NULL;
	}
	while (!demo_stopping()) {
		write = demo_rand(&rng) & 1;
		if (pick(&a, write, &rng))
			access_slot(&a, write, &rng);
		else
			sched_yield();
	}
	free(a.buf);
	return NULL;
}
