/* SPDX-License-Identifier: MIT */
/*
 * uhmm/bridge_ucm.h - uhmm as UCX's source of memory events.
 *
 * UCX keeps registration caches (UCP's, and the IB and KNEM transports')
 * that must forget a registration before its pages can be reused.  They
 * learn it from UCM's aggregate event UCM_EVENT_VM_UNMAPPED, which UCM
 * normally produces by patching munmap, mremap, madvise, shmdt, brk, sbrk
 * and malloc itself.  A process where uhmm already captures those (linked
 * with, or preloading, libuhmm-interpose) then has two patchers over the
 * same entries.  The bridge leaves one: UCM is told that VM_UNMAPPED is an
 * external event (ucm_set_external_event()), so adding a handler for it
 * installs nothing, and a whole-space uhmm subscription delivers it with
 * ucm_vm_munmap() from inside the change, before the change.
 *
 * Which uhmm events become VM_UNMAPPED: those after which the old pages of
 * the range may be reused, which is what a cache of pinned registrations
 * must hear.
 *   UHMM_EVENT_UNMAP    yes (munmap, mremap away, MAP_FIXED over, heap
 *                       shrink, shmdt), as UCM reports them itself
 *   UHMM_EVENT_CLEAR    yes (madvise DONTNEED/FREE/REMOVE, mremap
 *                       DONTUNMAP): the next touch gets new pages; UCM
 *                       reports madvise DONTNEED/FREE/REMOVE itself
 *   UHMM_EVENT_MIGRATE  yes: the pages are replaced
 *   UHMM_EVENT_PROTECTION, _EXCLUSIVE  no: the same pages stay (UCM does
 *                       not report mprotect either)
 *   UHMM_EVENT_RELEASE  no: teardown of the handle reuses nothing; after it
 *                       no event of that handle arrives any more
 * Events uhmm learns only afterwards (UHMM_RANGE_AFTER, userfaultfd) are
 * delivered too, late, when uhmm learns them.  A range arrives page
 * aligned.  Nothing else UCM offers (VM_MAPPED, the native events,
 * MEM_TYPE_*) goes through the bridge; UCX's caches use VM_UNMAPPED only.
 *
 * What the process must set.  libucm relies on libucs (the bridge links
 * both), whose constructor configures UCM from the UCX_MEM_* environment;
 * with hook mode "bistro", UCX's default on x86-64, UCM patches libc right
 * then, before main().  So a process using the bridge runs with
 *
 *     UCX_MEM_MMAP_HOOK_MODE=none
 *
 * and UCX_MEM_EVENTS left at "yes" (with it off UCM refuses every handler).
 * uhmm_bridge_ucm_start() itself turns UCM's malloc hooks and malloc
 * relocations off (as UCX_MEM_MALLOC_HOOKS=no UCX_MEM_MALLOC_RELOC=no
 * would), which UCM would otherwise install when a handler is added for an
 * event that is not external, sets the hook mode to none, and checks that
 * no UCM hook reports munmap: if one does, it refuses with -EBUSY rather
 * than have every event delivered twice.  Start the bridge before UCX adds
 * its handlers (before ucp_init()).
 */
#ifndef UHMM_BRIDGE_UCM_H
#define UHMM_BRIDGE_UCM_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;

/**
 * uhmm_bridge_ucm_start() - make uhmm the source of UCM's VM_UNMAPPED.
 * @mm: the address space whose changes to deliver: in practice the
 *	process's, uhmm_mm_current(); the caller holds a users reference.
 *
 * Checks with a probe munmap() of a page of its own that no UCM patch
 * reports it (before touching UCM's options: changing the hook mode under
 * live bistro patches would break them), sets UCM's global options to "no
 * hooks" (see above), declares UCM_EVENT_VM_UNMAPPED external, and
 * registers a whole-space subscription on @mm.  One bridge per process
 * (UCM is process wide).
 *
 * Context: any thread, not inside a uhmm callback, not inside a UCM event
 * handler.  Blocks; allocates (UCM allocates its probe handler).
 * Return: 0, and from then on every change of @mm listed above calls the
 * VM_UNMAPPED handlers once, in the changing thread, before the change
 * where uhmm sees it before.  (A handler added before the start either
 * made UCM install its hooks, and the start fails with -EBUSY, or, with
 * the hook mode none, was refused by UCM itself: start the bridge first.)
 * -EALREADY (already started); -ENOTSUP (UCM events are disabled:
 * UCX_MEM_EVENTS=no); -EBUSY (UCM's own hooks already report munmap: UCM
 * was initialised with hooks before; set the environment above); -ENOMEM;
 * the errors of uhmm_notifier_register() (-ESRCH, -EDEADLK, -EINVAL).
 * On error nothing is registered; after -EBUSY UCM's options are as found.
 */
UHMM_API UHMM_MUST_CHECK int uhmm_bridge_ucm_start(struct uhmm_mm *mm);

/**
 * uhmm_bridge_ucm_stop() - stop delivering events to UCM.
 *
 * Unregisters the subscription and waits until no delivery runs.
 * VM_UNMAPPED stays external and UCM's hooks stay off: UCM's handlers hear
 * nothing until the bridge is started again (so a cache that outlives the
 * bridge must be emptied by its owner).
 *
 * Context: any thread, not inside a uhmm callback or a UCM handler.  Blocks.
 * Return: 0, and no ucm_vm_munmap() from the bridge runs or will run;
 * -EINVAL if not started; -EDEADLK from a callback (nothing done).
 */
UHMM_API int uhmm_bridge_ucm_stop(void);

UHMM_END_DECLS

#endif /* UHMM_BRIDGE_UCM_H */
