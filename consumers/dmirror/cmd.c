/* SPDX-License-Identifier: MIT */
/*
 * cmd.c - READ and WRITE (the kernel's dmirror_read() / dmirror_write()).
 *
 * A command copies through the device's entries, under the device lock,
 * from the first page not yet copied (cmd->cpages) on.  At the first page
 * whose entry is missing or does not allow the access it drops the lock,
 * faults the rest of the range in (one fault round: cmd->faults++), and
 * copies again.  An untouched buffer therefore costs one round, a buffer
 * already mirrored none, and a range an invalidation hit between the fault
 * and the copy one more round from where the copy stopped.
 */
#include <errno.h>
#include <limits.h>

#include "device.h"

/* Most pages one copy system call moves (and one page-table scan looks
 * ahead): a run is copied as soon as it is known. */
#define DM_RUN_PAGES	1024

int dm_cmd_begin(struct uhmm_dmirror *dev, struct uhmm_dmirror_cmd *cmd,
		 unsigned long *end)
{
	if (!dev || !cmd)
		return -EINVAL;
	cmd->cpages = 0;
	cmd->faults = 0;
	if ((cmd->addr & (dev->ps - 1)) || cmd->npages == 0 ||
	    cmd->npages > (ULONG_MAX >> dev->shift))
		return -EINVAL;
	*end = (unsigned long)cmd->addr +
	       ((unsigned long)cmd->npages << dev->shift);
	if (*end <= cmd->addr)
		return -EINVAL;		/* wrapped around */
	/* Pairs with dm_cmd_end(); fails once teardown has begun, and on a
	 * device inherited over fork (its mm is inert in the child). */
	if (!uhmm_mm_get_not_zero(uhmm_interval_sub_mm(&dev->sub)))
		return -ESRCH;
	return 0;
}

void dm_cmd_end(struct uhmm_dmirror *dev)
{
	uhmm_mm_put(uhmm_interval_sub_mm(&dev->sub));
}

/* Pages from @addr on, at most @max, whose entries allow the access. */
static unsigned long run_len(struct uhmm_dmirror *dev, unsigned long addr,
			     unsigned long max, bool write)
{
	uint64_t need = write ? DM_E_READ | DM_E_WRITE : DM_E_READ;
	unsigned long n;

	if (max > DM_RUN_PAGES)
		max = DM_RUN_PAGES;
	for (n = 0; n < max; n++, addr += dev->ps)
		if ((dm_pt_get(&dev->pt, addr) & need) != need)
			break;
	return n;
}

/*
 * Under dev->lock.  Return: 0 (all copied), -ENOENT (an entry is missing
 * at page cmd->cpages), -EFAULT (the copy failed: memory gone, or a bad
 * caller buffer).
 */
static int copy_entries(struct uhmm_dmirror *dev,
			struct uhmm_dmirror_cmd *cmd, bool write)
{
	unsigned long addr, buf, n;
	size_t done;
	int ret;

	while (cmd->cpages < cmd->npages) {
		addr = cmd->addr + (cmd->cpages << dev->shift);
		buf = cmd->ptr + (cmd->cpages << dev->shift);
		n = run_len(dev, addr, cmd->npages - cmd->cpages, write);
		if (!n)
			return -ENOENT;
		if (write)
			ret = dm_copy_to(addr, (const void *)buf,
					 n << dev->shift, &done);
		else
			ret = dm_copy_from((void *)buf, addr, n << dev->shift,
					   &done);
		cmd->cpages += done >> dev->shift;
		if (ret)
			return ret;
	}
	return 0;
}

static int access_pages(struct uhmm_dmirror *dev,
			struct uhmm_dmirror_cmd *cmd, bool write)
{
	unsigned long end, from;
	int ret = dm_cmd_begin(dev, cmd, &end);

	if (ret)
		return ret;
	if (end > dev->pt.limit) {
		dm_cmd_end(dev);
		return -EFAULT;		/* no entry can exist up there */
	}
	for (;;) {
		pthread_mutex_lock(&dev->lock);
		ret = copy_entries(dev, cmd, write);
		pthread_mutex_unlock(&dev->lock);
		if (ret != -ENOENT)
			break;
		from = cmd->addr + (cmd->cpages << dev->shift);
		ret = dm_fault(dev, from, end, write);
		if (ret)
			break;
		cmd->faults++;
		dm_count(&dev->st.faults, 1);
	}
	dm_count(&dev->st.cpages, cmd->cpages);
	dm_cmd_end(dev);
	return ret;
}

int uhmm_dmirror_read(struct uhmm_dmirror *dev, struct uhmm_dmirror_cmd *cmd)
{
	return access_pages(dev, cmd, false);
}

int uhmm_dmirror_write(struct uhmm_dmirror *dev, struct uhmm_dmirror_cmd *cmd)
{
	return access_pages(dev, cmd, true);
}
