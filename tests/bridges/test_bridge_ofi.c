/* SPDX-License-Identifier: MIT */
/*
 * test_bridge_ofi.c - uhmm as libfabric's imported memory monitor
 * (uhmm/bridge_ofi.h), with the real libfabric and capture active.
 *
 * What libfabric shows here: it accepts the import and holds it (a second
 * monitor is refused until the bridge stops), it fills in its notify()
 * table, and that notify() (its own code, its own locks) is what the bridge
 * calls.  The MR cache that calls start/subscribe/unsubscribe/valid is
 * used for system memory only by the verbs and efa providers, which need a
 * device; where none is present, the tests call those ops as the cache
 * does, and provider_mr_cache_uses_the_monitor skips saying so.  Every
 * notify() is observed on its way into libfabric: the test puts a recorder
 * in front of libfabric's table.
 */
#include <errno.h>
#include <sys/mman.h>

#include "harness.h"
#include "util.h"
#include <uhmm/bridge_ofi.h>
#include <uhmm/uhmm.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_ext.h>

#define MARK 0x5a

/* What notify() was called with, for ranges the calling thread watches. */
struct heard {
	unsigned long lo, hi;		/* watched range; empty: none */
	volatile unsigned char *probe;	/* read inside notify, if set */
	int calls;
	unsigned long start, end;	/* last call's range */
	int seen;			/* what the probe held */
	bool resubscribe;		/* subscribe the range again, once */
};

static __thread struct heard w;
static int total;				/* atomic: every notify */
static struct fi_ops_mem_notify *lf_ops;	/* libfabric's table */

static unsigned long ps(void)
{
	return uhmm_page_size();
}

static void rec_notify(struct fid_mem_monitor *m, const void *addr,
		       size_t len)
{
	unsigned long a = (unsigned long)addr;

	inc(&total);
	if (a < w.hi && a + len > w.lo) {
		w.calls++;
		w.start = a;
		w.end = a + len;
		w.seen = w.probe ? *w.probe : -1;
	}
	if (w.resubscribe) {	/* a registration made during the change */
		w.resubscribe = false;
		(void)m->export_ops->subscribe(m, addr, len);
	}
	lf_ops->notify(m, addr, len);
}

static struct fi_ops_mem_notify rec_ops = {
	.size = sizeof(struct fi_ops_mem_notify),
	.notify = rec_notify,
};

static void watch(void *p, size_t len, void *probe)
{
	memset(&w, 0, sizeof(w));
	w.lo = (unsigned long)p;
	w.hi = w.lo + len;
	w.probe = probe;
}

/*
 * Start the bridge on @mm, put the recorder in front of libfabric's
 * notify(), and start the monitor as libfabric's MR cache does when it
 * opens (if @run).
 */
static struct fid_mem_monitor *bridge_on(struct uhmm_mm *mm, size_t cap,
					 bool run)
{
	struct fid_mem_monitor *m;

	assert_int_equal(uhmm_bridge_ofi_start(mm, cap), 0);
	m = uhmm_bridge_ofi_monitor();
	assert_non_null(m);
	lf_ops = m->import_ops;
	assert_non_null(lf_ops);
	assert_non_null(lf_ops->notify);
	m->import_ops = &rec_ops;
	if (run)
		assert_int_equal(m->export_ops->start(m), 0);
	return m;
}

static void bridge_off(struct fid_mem_monitor *m)
{
	m->export_ops->stop(m);		/* libfabric's last cache closed */
	m->import_ops = lf_ops;
	assert_int_equal(uhmm_bridge_ofi_stop(), 0);
	assert_null(uhmm_bridge_ofi_monitor());
}

static int sub(struct fid_mem_monitor *m, const void *addr, size_t len)
{
	return m->export_ops->subscribe(m, addr, len);
}

/* ------------------------------------------------------------------ */
/* The import                                                          */

static int other_start(struct fid_mem_monitor *m) { return 0; }
static void other_stop(struct fid_mem_monitor *m) { }
static int other_sub(struct fid_mem_monitor *m, const void *a, size_t l)
{
	return 0;
}
static void other_unsub(struct fid_mem_monitor *m, const void *a, size_t l)
{
}
static bool other_valid(struct fid_mem_monitor *m, const void *a, size_t l)
{
	return true;
}

static struct fi_ops_mem_monitor other_ops = {
	.size = sizeof(struct fi_ops_mem_monitor),
	.start = other_start,
	.stop = other_stop,
	.subscribe = other_sub,
	.unsubscribe = other_unsub,
	.valid = other_valid,
};

static int import_other(struct fid_mem_monitor *other)
{
	*other = (struct fid_mem_monitor){
		.fid.fclass = FI_CLASS_MEM_MONITOR,
		.export_ops = &other_ops,
	};
	return fi_import(FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION),
			 "mr_cache", NULL, 0, 0, &other->fid, NULL);
}

static void import_is_held_by_libfabric(void **state)
{
	static struct fid_mem_monitor other;
	struct fid_mem_monitor *m;

	assert_int_equal(uhmm_bridge_ofi_start(uhmm_mm_current(), 0), 0);
	m = uhmm_bridge_ofi_monitor();
	assert_non_null(m);
	assert_non_null(m->import_ops);		/* filled in by libfabric */
	assert_non_null(m->import_ops->notify);
	assert_int_equal(uhmm_bridge_ofi_start(uhmm_mm_current(), 0),
			 -EALREADY);
	/* libfabric holds ours: a second monitor is refused ... */
	assert_int_equal(import_other(&other), -FI_EBUSY);
	assert_int_equal(uhmm_bridge_ofi_stop(), 0);
	assert_int_equal(uhmm_bridge_ofi_stop(), -EINVAL);
	/* ... until the bridge closed its import. */
	assert_int_equal(import_other(&other), 0);
	assert_int_equal(fi_close(&other.fid), 0);
	assert_int_equal(uhmm_bridge_ofi_start(uhmm_mm_current(), 0), 0);
	assert_int_equal(uhmm_bridge_ofi_stop(), 0);
}

/* ------------------------------------------------------------------ */
/* notify()                                                            */

static void munmap_notifies_libfabric_before(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, true);
	unsigned char *p = map_pages(4);
	unsigned char vec[4];

	memset(p, MARK, 4 * ps());
	/* A registration not page aligned: the monitor widens it. */
	assert_int_equal(sub(m, p + 100, 3 * ps() - 200), 0);
	assert_true(m->export_ops->valid(m, p + 100, 3 * ps() - 200));
	watch(p, 4 * ps(), p + 2 * ps());
	assert_int_equal(munmap(p, 4 * ps()), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.start, (unsigned long)p);
	assert_int_equal(w.end, (unsigned long)p + 4 * ps());
	assert_int_equal(w.seen, MARK);		/* still mapped: before */
	assert_int_equal(mincore(p, 4 * ps(), vec), -1);
	bridge_off(m);
}

/* Only changes that overlap a subscribed range and may reuse its pages
 * reach libfabric; a notified range counts as unsubscribed. */
static void only_subscribed_ranges_and_page_reuse(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, true);
	unsigned char *a = map_pages(4), *b = map_pages(1);

	memset(a, MARK, 4 * ps());
	assert_int_equal(sub(m, a, 4 * ps()), 0);
	watch(a, 4 * ps(), a + ps());
	assert_int_equal(munmap(b, ps()), 0);			/* elsewhere */
	assert_int_equal(mprotect(a, 4 * ps(), PROT_READ), 0);	/* same pages */
	assert_int_equal(w.calls, 0);
	assert_int_equal(mprotect(a, 4 * ps(), PROT_READ | PROT_WRITE), 0);
	assert_int_equal(madvise(a + ps(), ps(), MADV_DONTNEED), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.start, (unsigned long)a + ps());
	assert_int_equal(w.end, (unsigned long)a + 2 * ps());
	assert_int_equal(w.seen, MARK);
	assert_int_equal(madvise(a, ps(), MADV_DONTNEED), 0);
	assert_int_equal(w.calls, 1);		/* no longer subscribed */
	assert_int_equal(sub(m, a, 4 * ps()), 0);	/* registered again */
	assert_int_equal(munmap(a, 4 * ps()), 0);
	assert_int_equal(w.calls, 2);
	bridge_off(m);
}

/* Identical ranges share a slot; unsubscribe drops a reference; a full
 * table refuses (libfabric then keeps the registration uncached). */
static void subscription_table(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 2, true);
	unsigned char *a = map_pages(1), *b = map_pages(1), *c = map_pages(1);

	assert_int_equal(sub(m, a, ps()), 0);
	assert_int_equal(sub(m, a, ps()), 0);
	assert_int_equal(sub(m, b, ps()), 0);
	assert_int_equal(sub(m, c, ps()), -FI_ENOSPC);
	m->export_ops->unsubscribe(m, a, ps());
	assert_int_equal(sub(m, c, ps()), -FI_ENOSPC);	/* a: one ref left */
	m->export_ops->unsubscribe(m, a, ps());
	assert_int_equal(sub(m, c, ps()), 0);
	assert_int_equal(sub(m, NULL, 0), -FI_EINVAL);
	watch(a, ps(), NULL);
	assert_int_equal(munmap(a, ps()), 0);
	assert_int_equal(w.calls, 0);		/* unsubscribed */
	watch(b, ps(), NULL);
	assert_int_equal(munmap(b, ps()), 0);
	assert_int_equal(w.calls, 1);
	watch(c, ps(), NULL);
	assert_int_equal(munmap(c, ps()), 0);
	assert_int_equal(w.calls, 1);
	bridge_off(m);
}

/* A range subscribed while the change runs may have pinned the old pages:
 * it is notified again when the change ends. */
static void registration_during_the_change_is_notified_at_end(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, true);
	unsigned char *p = map_pages(2);

	assert_int_equal(sub(m, p, 2 * ps()), 0);
	watch(p, 2 * ps(), NULL);
	w.resubscribe = true;
	assert_int_equal(munmap(p, 2 * ps()), 0);
	assert_int_equal(w.calls, 2);
	assert_int_equal(w.start, (unsigned long)p);
	assert_int_equal(w.end, (unsigned long)p + 2 * ps());
	bridge_off(m);
}

/* notify() sleeps on libfabric's locks: a change that may not block is
 * refused where it would need one, and goes through where it would not. */
static void unblockable_change_over_a_range_is_refused(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, true);
	unsigned char *p = map_pages(2);
	struct uhmm_notifier_range r;

	assert_int_equal(sub(m, p, ps()), 0);
	watch(p, 2 * ps(), NULL);
	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, 0, uhmm_mm_current(),
				 (unsigned long)p, (unsigned long)p + ps());
	assert_int_equal(uhmm_invalidate(&r), -EAGAIN);
	r.start += ps();
	r.end += ps();
	assert_int_equal(uhmm_invalidate(&r), 0);	/* nothing there */
	assert_int_equal(w.calls, 0);
	assert_int_equal(munmap(p, 2 * ps()), 0);	/* still subscribed */
	assert_int_equal(w.calls, 1);
	bridge_off(m);
}

/* valid() is false whenever changes may go unseen: the monitor not
 * running, or the address space torn down. */
static void valid_only_while_events_can_arrive(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, false);
	struct uhmm_mm *mm;
	unsigned char *p = map_pages(1);

	assert_false(m->export_ops->valid(m, p, ps()));
	assert_int_equal(m->export_ops->start(m), 0);
	assert_true(m->export_ops->valid(m, p, ps()));
	m->export_ops->stop(m);
	assert_false(m->export_ops->valid(m, p, ps()));
	assert_int_equal(m->export_ops->start(m), 0);
	assert_int_equal(uhmm_bridge_ofi_stop(), -EBUSY);	/* running */
	bridge_off(m);

	mm = mm_new();
	m = bridge_on(mm, 0, true);
	assert_true(m->export_ops->valid(m, p, ps()));
	uhmm_mm_put(mm);			/* teardown */
	assert_false(m->export_ops->valid(m, p, ps()));
	m->export_ops->stop(m);
	assert_true(m->export_ops->start(m) < 0);
	bridge_off(m);
	assert_int_equal(munmap(p, ps()), 0);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */

struct worker {
	struct fid_mem_monitor *m;
	unsigned long rounds;
	int done;		/* rounds with the expected outcome */
	bool stop;		/* atomic */
};

/*
 * Map a page, subscribe it, replace it (MAP_FIXED over it, an unmap):
 * exactly one notify each round.  The page stays reserved to this thread
 * (PROT_NONE in between), so no other thread's round can reuse the
 * address while this one's change is still ending.
 */
static void *unmapper(void *arg)
{
	struct worker *x = arg;
	const int fixed = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS;
	unsigned long i;
	void *p = mmap(NULL, ps(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < x->rounds; i++) {
		if (mmap(p, ps(), PROT_READ | PROT_WRITE, fixed, -1, 0) != p ||
		    x->m->export_ops->subscribe(x->m, p, ps()))
			break;
		watch(p, ps(), NULL);
		if (mmap(p, ps(), PROT_NONE, fixed, -1, 0) != p)
			break;
		x->done += w.calls == 1;
	}
	memset(&w, 0, sizeof(w));
	munmap(p, ps());	/* not subscribed any more */
	return NULL;
}

/* Subscribe and unsubscribe pages that never change: slots are refilled
 * under the scans of the other threads. */
static void *churner(void *arg)
{
	struct worker *x = arg;
	unsigned char *p = mmap(NULL, 4 * ps(), PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long i = 0;

	if (p == MAP_FAILED)
		return NULL;
	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		void *q = p + (i++ % 4) * ps();

		if (x->m->export_ops->subscribe(x->m, q, ps()) == 0)
			x->m->export_ops->unsubscribe(x->m, q, ps());
	}
	munmap(p, 4 * ps());	/* unsubscribed: never notified */
	return NULL;
}

static void subscribers_race_unmappers(void **state)
{
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 8, true);
	struct worker a = { .m = m, .rounds = harness_rounds(3000) };
	struct worker b = a, c = { .m = m };
	struct harness_watchdog wd;
	pthread_t t[3];

	__atomic_store_n(&total, 0, __ATOMIC_SEQ_CST);
	harness_watchdog_start(&wd, 60, "subscribers_race_unmappers");
	assert_int_equal(pthread_create(&t[0], NULL, unmapper, &a), 0);
	assert_int_equal(pthread_create(&t[1], NULL, unmapper, &b), 0);
	assert_int_equal(pthread_create(&t[2], NULL, churner, &c), 0);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	pthread_join(t[2], NULL);
	harness_watchdog_stop(&wd);
	assert_int_equal(a.done, (int)a.rounds);
	assert_int_equal(b.done, (int)b.rounds);
	assert_int_equal(ld(&total), (int)(a.rounds + b.rounds));
	bridge_off(m);
}

/* ------------------------------------------------------------------ */
/* A provider whose MR cache uses the monitor (verbs, efa: a device)    */

static int calls_start, calls_subscribe;	/* atomic */
static struct fi_ops_mem_monitor *bridge_export;

static int count_start(struct fid_mem_monitor *m)
{
	inc(&calls_start);
	return bridge_export->start(m);
}

static int count_subscribe(struct fid_mem_monitor *m, const void *a,
			   size_t l)
{
	inc(&calls_subscribe);
	return bridge_export->subscribe(m, a, l);
}

static struct fi_info *cache_provider(void)
{
	static const char *const names[] = { "verbs", "efa" };
	struct fi_info *hints, *info = NULL;
	size_t i;

	for (i = 0; i < 2 && !info; i++) {
		hints = fi_allocinfo();
		assert_non_null(hints);
		hints->fabric_attr->prov_name = strdup(names[i]);
		hints->caps = FI_MSG;
		hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
			FI_MR_ALLOCATED | FI_MR_PROV_KEY;
		if (fi_getinfo(FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION),
			       NULL, NULL, 0, hints, &info))
			info = NULL;
		fi_freeinfo(hints);
	}
	return info;
}

static void register_twice_then_unmap(struct fid_domain *domain)
{
	unsigned char *p = map_pages(4);
	struct fid_mr *mr;
	int i;

	for (i = 0; i < 2; i++) {	/* the second is a cache hit */
		assert_int_equal(fi_mr_reg(domain, p, 4 * ps(), FI_SEND |
					   FI_RECV, 0, 0, 0, &mr, NULL), 0);
		assert_int_equal(fi_close(&mr->fid), 0);
	}
	assert_int_equal(ld(&calls_subscribe), 1);
	watch(p, 4 * ps(), NULL);
	assert_int_equal(munmap(p, 4 * ps()), 0);
	assert_int_equal(w.calls, 1);
}

static void provider_mr_cache_uses_the_monitor(void **state)
{
	static struct fi_ops_mem_monitor counting;
	struct fid_mem_monitor *m = bridge_on(uhmm_mm_current(), 0, false);
	struct fi_info *info = cache_provider();
	struct fid_fabric *fabric;
	struct fid_domain *domain;

	if (!info) {
		bridge_off(m);
		SKIP("no provider whose MR cache watches system memory "
		     "(verbs, efa) has a device here");
	}
	bridge_export = m->export_ops;
	counting = *bridge_export;
	counting.start = count_start;
	counting.subscribe = count_subscribe;
	m->export_ops = &counting;
	assert_int_equal(fi_fabric(info->fabric_attr, &fabric, NULL), 0);
	assert_int_equal(fi_domain(fabric, info, &domain, NULL), 0);
	assert_int_equal(ld(&calls_start), 1);	/* its cache opened */
	register_twice_then_unmap(domain);
	assert_int_equal(fi_close(&domain->fid), 0);	/* stops it */
	assert_int_equal(fi_close(&fabric->fid), 0);
	fi_freeinfo(info);
	m->export_ops = bridge_export;
	m->import_ops = lf_ops;
	assert_int_equal(uhmm_bridge_ofi_stop(), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(import_is_held_by_libfabric),
		cmocka_unit_test(munmap_notifies_libfabric_before),
		cmocka_unit_test(only_subscribed_ranges_and_page_reuse),
		cmocka_unit_test(subscription_table),
		cmocka_unit_test(registration_during_the_change_is_notified_at_end),
		cmocka_unit_test(unblockable_change_over_a_range_is_refused),
		cmocka_unit_test(valid_only_while_events_can_arrive),
		cmocka_unit_test(subscribers_race_unmappers),
		cmocka_unit_test(provider_mr_cache_uses_the_monitor),
	};
	return HARNESS_MAIN(tests);
}
