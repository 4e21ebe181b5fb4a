/* SPDX-License-Identifier: MIT */
/*
 * uhmm/dmirror.h - a software device that mirrors the calling process's
 * address space (the userspace counterpart of the kernel's lib/test_hmm.c
 * "dmirror"), written on uhmm's public API only.
 *
 * The device keeps its own page table: one entry per page, "may read" or
 * "may read and write".  Entries are made only by the canonical loop
 *
 *	seq = uhmm_interval_read_begin(sub);
 *	uhmm_range_fault(range);		(-EBUSY: start again)
 *	lock(device);
 *	if (uhmm_interval_read_retry(sub, seq)) { unlock; start again; }
 *	fill entries;
 *	unlock(device);
 *
 * and removed only by the device's interval callback, which takes the same
 * lock.  A device access is therefore never made through a translation of
 * memory that changed after the translation was built (MODEL.md 3, 5).
 *
 * Commands follow the kernel's HMM_DMIRROR_* ioctls: the same command block,
 * the same counters, the same snapshot byte codes, the same errors.
 *
 * Device accesses copy between the application's memory and the caller's
 * buffer with a fault-safe copy: memory unmapped under a running command
 * (even by a route uhmm reports only after the fact) gives -EFAULT or correct
 * data, never a crash.
 *
 * What differs from the kernel: a kernel device reaches the physical page; a
 * userspace device can only reach it through its virtual address.  The page
 * table therefore records permissions per virtual page, and the copy goes
 * through the address the entry was made for.
 */
#ifndef UHMM_DMIRROR_H
#define UHMM_DMIRROR_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct uhmm_dmirror;

/**
 * struct uhmm_dmirror_cmd - one device command (the kernel's
 * struct hmm_dmirror_cmd, field for field).
 * @addr: first byte of application memory, page aligned.
 * @ptr: the caller's buffer: npages pages for READ / WRITE, npages bytes
 *	for SNAPSHOT.
 * @npages: pages, > 0.
 * @cpages: out: pages copied (READ, WRITE) or reported (SNAPSHOT).
 * @faults: out: range-fault rounds the command needed (a whole untouched
 *	buffer read at once is 1).
 */
struct uhmm_dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

/* SNAPSHOT byte codes, one per page (the kernel's HMM_DMIRROR_PROT_*). */
enum {
	UHMM_DMIRROR_PROT_ERROR			= 0xFF,
	UHMM_DMIRROR_PROT_NONE			= 0x00,
	UHMM_DMIRROR_PROT_READ			= 0x01,
	UHMM_DMIRROR_PROT_WRITE			= 0x02,
	UHMM_DMIRROR_PROT_PMD			= 0x04,
	UHMM_DMIRROR_PROT_PUD			= 0x08,
	UHMM_DMIRROR_PROT_ZERO			= 0x10,
	UHMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	UHMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
};

/**
 * struct uhmm_dmirror_stats - what the device has done since it was opened.
 * @invalidations: interval callbacks that hit the device.
 * @entries_dropped: page-table entries those callbacks removed.
 * @faults: range-fault rounds (the sum of every command's @faults).
 * @retries: rounds thrown away because read_retry or the fault said -EBUSY.
 * @cpages: pages copied by READ and WRITE.
 * @entries: page-table entries present now.
 */
struct uhmm_dmirror_stats {
	uint64_t invalidations;
	uint64_t entries_dropped;
	uint64_t faults;
	uint64_t retries;
	uint64_t cpages;
	uint64_t entries;
};

/**
 * uhmm_dmirror_open() - open a device mirroring an address space.
 * @mm: the address space (a handle the caller holds a users reference on),
 *	or NULL for the calling process's (uhmm_mm_current()).
 * @out: the new device.
 *
 * Subscribes one interval covering the whole user address space.
 *
 * Context: any thread, not inside a uhmm callback.  May block, allocates.
 * Return: 0; -ENOMEM; -ESRCH (the address space is torn down or inert after
 * fork); -EDEADLK (inside a callback); -EINVAL (@out NULL).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_dmirror_open(struct uhmm_mm *mm,
					       struct uhmm_dmirror **out);

/**
 * uhmm_dmirror_close() - unsubscribe and free the device.
 * @dev: a device; no command may be running on it or start after.
 *
 * Context: any thread, not inside a uhmm callback.  May block (waits for a
 * running invalidation of the device to end).  @dev is freed on return.
 */
UHMM_API void uhmm_dmirror_close(struct uhmm_dmirror *dev);

/**
 * uhmm_dmirror_read() - the device reads application memory into @cmd->ptr.
 * @dev: the device.
 * @cmd: addr, ptr, npages in; cpages, faults out.
 *
 * Pages without a device entry are faulted in (readable) and mirrored first.
 *
 * Context: any thread (commands on one device serialise on its lock), not
 * inside a uhmm callback.  Blocks.
 * Return: 0; -EFAULT (a page has no mapping or no read access, or the memory
 * vanished under the copy); -EINVAL (bad command: NULL, unaligned, npages 0,
 * overflow); -ESRCH (the address space has been torn down); -ENOMEM.
 * Also -EFAULT when @cmd->ptr is not a writable buffer of npages pages, or
 * the range lies above what the device maps (2^48 with 4 KiB pages); and
 * -EBUSY when changes kept hitting a chunk for over a second (the kernel's
 * HMM_RANGE_DEFAULT_TIMEOUT).  @cmd->cpages counts the pages copied before
 * an error.
 */
UHMM_API UHMM_MUST_CHECK int uhmm_dmirror_read(struct uhmm_dmirror *dev,
					       struct uhmm_dmirror_cmd *cmd);

/**
 * uhmm_dmirror_write() - the device writes @cmd->ptr into application memory.
 * @dev: the device.
 * @cmd: as for uhmm_dmirror_read().
 *
 * Pages without a writable device entry are faulted in for write (copy-on-
 * write is broken, as a device write requires) and mirrored first.
 *
 * Return: as uhmm_dmirror_read(), plus -EPERM (a mapping without write
 * access).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_dmirror_write(struct uhmm_dmirror *dev,
						struct uhmm_dmirror_cmd *cmd);

/**
 * uhmm_dmirror_snapshot() - report the CPU page state of @cmd->npages pages
 * without faulting anything, one UHMM_DMIRROR_PROT_* byte per page.
 * @dev: the device.
 * @cmd: addr, ptr (npages bytes), npages in; cpages out.
 *
 * Return: 0; -EINVAL; -ESRCH; -ENOMEM.  Also -EFAULT (@cmd->ptr is not a
 * writable buffer of npages bytes) and -EBUSY (as uhmm_dmirror_read()).
 */
UHMM_API UHMM_MUST_CHECK int uhmm_dmirror_snapshot(struct uhmm_dmirror *dev,
						   struct uhmm_dmirror_cmd *cmd);

/**
 * uhmm_dmirror_lookup() - the device's own entry for one page.
 * @dev: the device.
 * @addr: an address in the page.
 * @pfn: out, may be NULL: the frame number the CPU mapped at @addr when the
 *	entry was made (0 when the process cannot read frame numbers: it needs
 *	CAP_SYS_ADMIN).
 *
 * For checkers: an entry whose frame number differs from the one the CPU
 * maps now is a stale translation, unless the kernel moved the page on its
 * own (reclaim, compaction, khugepaged: invisible to userspace, see
 * MODEL.md 6).
 *
 * Context: any thread, not inside a uhmm callback.  Takes the device lock.
 * Return: UHMM_DMIRROR_PROT_NONE (no entry), _READ or _WRITE.  A device
 * whose address space is torn down or inert (inherited over fork) has no
 * entries: NONE, without taking the lock.
 */
UHMM_API int uhmm_dmirror_lookup(struct uhmm_dmirror *dev, unsigned long addr,
				 uint64_t *pfn);

/**
 * uhmm_dmirror_stats() - the device's counters.
 * @dev: the device.
 * @out: filled in.
 *
 * Context: any thread; never blocks for long (takes the device lock).
 */
UHMM_API void uhmm_dmirror_stats(struct uhmm_dmirror *dev,
				 struct uhmm_dmirror_stats *out);

UHMM_END_DECLS

#endif /* UHMM_DMIRROR_H */
