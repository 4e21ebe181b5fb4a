/* SPDX-License-Identifier: MIT */
/*
 * ucm.c - uhmm's events as UCM's external UCM_EVENT_VM_UNMAPPED (see
 * include/uhmm/bridge_ucm.h).
 *
 * Delivery runs inside the change, in the changing thread, possibly inside
 * free() or munmap(): the callback allocates nothing and takes no lock of
 * ours.  ucm_vm_munmap() read-locks UCM's handler list; UCM write-locks it
 * only to add or remove a handler and changes no memory meanwhile, so the
 * wait is short and cannot wait for this change (also when the range is not
 * blockable).  UCM's handlers are written for this context already: they
 * run inside UCM's own munmap hook otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include <ucm/api/ucm.h>

#include <uhmm/bridge_ucm.h>
#include <uhmm/common.h>
#include <uhmm/mm.h>
#include <uhmm/notifier.h>

#include "events.h"

static struct {
	pthread_mutex_t lock;		/* serialises start and stop */
	struct uhmm_notifier sub;	/* registered while started */
	bool started;			/* under lock */
} bridge = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The probe: a page of ours that only UCM's own hooks could report. */
static unsigned long probe_page;	/* atomic */
static int probe_hits;			/* atomic */

static int deliver(struct uhmm_notifier *sub,
		   const struct uhmm_notifier_range *r)
{
	if (bridge_event_reuses_pages(r->event))
		ucm_vm_munmap((void *)r->start, r->end - r->start);
	return 0;
}

static const struct uhmm_notifier_ops bridge_ops = {
	.invalidate_range_start = deliver,
};

static int status_errno(ucs_status_t status)
{
	switch (status) {
	case UCS_OK:
		return 0;
	case UCS_ERR_NO_MEMORY:
		return -ENOMEM;
	case UCS_ERR_UNSUPPORTED:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

/* UCM's options with every hook of its own off, events still on. */
static void ucm_hooks_off(void)
{
	ucm_global_config_t opts = ucm_global_opts;

	opts.mmap_hook_mode = UCM_MMAP_HOOK_NONE;
	opts.enable_malloc_hooks = 0;
	opts.enable_malloc_reloc = 0;
	ucm_set_global_opts(&opts);
}

static void probe_handler(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
	unsigned long a = (unsigned long)ev->vm_unmapped.address;
	unsigned long p = __atomic_load_n(&probe_page, __ATOMIC_ACQUIRE);

	if (p >= a && p - a < ev->vm_unmapped.size)
		__atomic_add_fetch(&probe_hits, 1, __ATOMIC_RELAXED);
}

/*
 * Does a patch of UCM's own report munmap()?  Asked with a handler that
 * installs nothing, before the bridge delivers anything: a report of the
 * probe page can only come from UCM itself.
 */
static int ucm_hooks_live(void)
{
	size_t len = uhmm_page_size();
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ucs_status_t st;

	if (p == MAP_FAILED)
		return -ENOMEM;
	__atomic_store_n(&probe_hits, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&probe_page, (unsigned long)p, __ATOMIC_RELEASE);
	st = ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED |
				   UCM_EVENT_FLAG_NO_INSTALL, -1,
				   probe_handler, NULL);
	munmap(p, len);
	if (st != UCS_OK)
		return status_errno(st);
	ucm_unset_event_handler(UCM_EVENT_VM_UNMAPPED, probe_handler, NULL);
	return __atomic_load_n(&probe_hits, __ATOMIC_RELAXED) ? -EBUSY : 0;
}

static int start_locked(struct uhmm_mm *mm)
{
	int ret;

	if (bridge.started)
		return -EALREADY;
	if (!ucm_global_opts.enable_events)
		return -ENOTSUP;
	/* Probe first: once UCM's bistro patches are in, changing the hook
	 * mode sends ucm_orig_munmap() and friends back into them. */
	ret = ucm_hooks_live();
	if (ret)
		return ret;
	ucm_hooks_off();
	/* Before any handler is added: a handler for an external event
	 * installs no hook (ucm_set_event_handler()). */
	ucm_set_external_event(UCM_EVENT_VM_UNMAPPED);
	bridge.sub = (struct uhmm_notifier){ .ops = &bridge_ops };
	ret = uhmm_notifier_register(&bridge.sub, mm);
	if (!ret)
		bridge.started = true;
	return ret;
}

int uhmm_bridge_ucm_start(struct uhmm_mm *mm)
{
	int ret;

	if (!mm)
		return -EINVAL;
	pthread_mutex_lock(&bridge.lock);
	ret = start_locked(mm);
	pthread_mutex_unlock(&bridge.lock);
	return ret;
}

int uhmm_bridge_ucm_stop(void)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&bridge.lock);
	if (bridge.started) {
		ret = uhmm_notifier_unregister(&bridge.sub);
		if (!ret)
			bridge.started = false;
	}
	pthread_mutex_unlock(&bridge.lock);
	return ret;
}
