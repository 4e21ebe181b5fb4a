/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - SNAPSHOT (the kernel's dmirror_snapshot()): the CPU's view of
 * each page as one byte, faulting nothing and leaving the device's entries
 * alone.
 *
 * Each chunk is read with the collision-retry loop over the device's own
 * subscription, so the bytes of a chunk come from one reading that no
 * announced change overlapped; the kernel uses a temporary subscription of
 * the chunk for that, ours covers everything already.
 *
 * Chunks are PMD-sized and PMD-aligned (the kernel's are 64 pages): a page
 * reader that can only recognise a huge mapping when it reads all of it
 * (/proc/self/pagemap without PAGEMAP_SCAN) then sees every THP whole.
 */
#include <errno.h>

#include "device.h"

/* Pages per snapshot chunk: one PMD (512 with 4 KiB pages). */
#define DM_SNAP_PAGES	512

/* The UHMM_DMIRROR_PROT_* byte of one result word. */
static unsigned char prot_code(const struct uhmm_dmirror *dev, uint64_t word)
{
	/* Page-table levels: each resolves log2(page size / 8) bits. */
	unsigned int level_bits = dev->shift - 3;
	unsigned int order = uhmm_pfn_to_map_order(word);
	unsigned char c;

	if (word & UHMM_PFN_ERROR)
		return UHMM_DMIRROR_PROT_ERROR;
	if (!(word & UHMM_PFN_VALID))
		return UHMM_DMIRROR_PROT_NONE;
	c = (word & UHMM_PFN_ZERO) ? UHMM_DMIRROR_PROT_ZERO : 0;
	c |= (word & UHMM_PFN_WRITE) ? UHMM_DMIRROR_PROT_WRITE :
				       UHMM_DMIRROR_PROT_READ;
	if (order == level_bits)
		c |= UHMM_DMIRROR_PROT_PMD;
	else if (order == 2 * level_bits)
		c |= UHMM_DMIRROR_PROT_PUD;
	return c;
}

/* Report one chunk at cmd->ptr + cmd->cpages. */
static int snapshot_chunk(struct uhmm_dmirror *dev,
			  struct uhmm_dmirror_cmd *cmd,
			  struct uhmm_range *range)
{
	unsigned char codes[DM_SNAP_PAGES];
	unsigned long i, n = (range->end - range->start) >> dev->shift;
	size_t done;
	int ret = dm_range_stable(dev, range);

	if (ret)
		return ret;
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < n; i++)
		codes[i] = prot_code(dev, range->pfns[i]);
	ret = dm_copy_to(cmd->ptr + cmd->cpages, codes, n, &done);
	if (ret)
		return ret;
	cmd->cpages += n;
	return 0;
}

int uhmm_dmirror_snapshot(struct uhmm_dmirror *dev,
			  struct uhmm_dmirror_cmd *cmd)
{
	uint64_t pfns[DM_SNAP_PAGES];
	struct uhmm_range range = { .pfns = pfns };	/* no request: snapshot */
	unsigned long end, chunk, next;
	int ret = dm_cmd_begin(dev, cmd, &end);

	if (ret)
		return ret;
	chunk = (dev->ps / 8 < DM_SNAP_PAGES ? dev->ps / 8 : DM_SNAP_PAGES) *
		dev->ps;
	for (range.start = cmd->addr; range.start < end && !ret;
	     range.start = range.end) {
		next = (range.start | (chunk - 1)) + 1;	/* 0 at the top */
		range.end = next && next < end ? next : end;
		ret = snapshot_chunk(dev, cmd, &range);
	}
	dm_cmd_end(dev);
	return ret;
}
