/* SPDX-License-Identifier: MIT */
/*
 * vma_query.c - the VMA reader over the PROCMAP_QUERY ioctl (Linux 6.11+):
 * one system call per lookup on a cached /proc/self/maps descriptor.  The
 * kernel reports the VMA's page size itself, which is how hugetlb VMAs are
 * known; the name is asked for only to spot the vDSO data pages.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../os.h"
#include "proc.h"
#include "vma.h"

/*
 * The PROCMAP_QUERY ABI, mirroring struct procmap_query, enum
 * procmap_query_flags and PROCMAP_QUERY in the kernel's
 * include/uapi/linux/fs.h (Linux 6.11), which Debian 12's headers predate.
 * The size field versions the struct; this is the original 104-byte one.
 */
struct uhmm_procmap_query {
	uint64_t size;
	uint64_t query_flags;		/* in */
	uint64_t query_addr;		/* in */
	uint64_t vma_start;		/* out */
	uint64_t vma_end;		/* out */
	uint64_t vma_flags;		/* out: UHMM_PMQ_VMA_* */
	uint64_t vma_page_size;		/* out */
	uint64_t vma_offset;		/* out */
	uint64_t inode;			/* out */
	uint32_t dev_major;		/* out */
	uint32_t dev_minor;		/* out */
	uint32_t vma_name_size;		/* in/out */
	uint32_t build_id_size;		/* in/out */
	uint64_t vma_name_addr;		/* in */
	uint64_t build_id_addr;		/* in */
};
_Static_assert(sizeof(struct uhmm_procmap_query) == 104, "procmap_query ABI");

#define UHMM_PMQ_VMA_READABLE		0x01
#define UHMM_PMQ_VMA_WRITABLE		0x02
#define UHMM_PMQ_VMA_EXECUTABLE		0x04
#define UHMM_PMQ_VMA_SHARED		0x08
#define UHMM_PMQ_COVERING_OR_NEXT_VMA	0x10
#define UHMM_PROCMAP_QUERY _IOWR('f', 17, struct uhmm_procmap_query)

static int maps_fd = UHMM__FD_NONE;	/* atomic; per address space */

static int pmq_call(int fd, unsigned long addr, struct uhmm_procmap_query *q,
		    char *name, uint32_t name_size)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->query_flags = UHMM_PMQ_COVERING_OR_NEXT_VMA;
	q->query_addr = addr;
	q->vma_name_addr = (uintptr_t)name;
	q->vma_name_size = name_size;
	return ioctl(fd, UHMM_PROCMAP_QUERY, q) ? -errno : 0;
}

static unsigned int pmq_flags(const struct uhmm_procmap_query *q)
{
	unsigned int f = 0;

	if (q->vma_flags & UHMM_PMQ_VMA_READABLE)
		f |= UHMM__VMA_READ;
	if (q->vma_flags & UHMM_PMQ_VMA_WRITABLE)
		f |= UHMM__VMA_WRITE;
	if (q->vma_flags & UHMM_PMQ_VMA_EXECUTABLE)
		f |= UHMM__VMA_EXEC;
	if (q->vma_flags & UHMM_PMQ_VMA_SHARED)
		f |= UHMM__VMA_SHARED;
	if (q->inode || q->dev_major || q->dev_minor)
		f |= UHMM__VMA_FILE;
	return f;
}

int uhmm__os_vma_query_find(unsigned long addr, struct uhmm__vma *vma)
{
	struct uhmm_procmap_query q;
	char name[32];
	int fd = uhmm__proc_fd(&maps_fd, "/proc/self/maps");
	int ret;

	if (fd < 0)
		return fd;
	/* The name is only wanted to spot [vvar]; a long path does not fit
	 * (-ENAMETOOLONG) and is not [vvar], so ask again without it. */
	ret = pmq_call(fd, addr, &q, name, sizeof(name));
	if (ret == -ENAMETOOLONG)
		ret = pmq_call(fd, addr, &q, NULL, 0);
	if (ret)
		return ret;
	vma->start = q.vma_start;
	vma->end = q.vma_end;
	vma->flags = pmq_flags(&q);
	vma->page_size = q.vma_page_size;
	/* Only hugetlb VMAs report a page size above the base one. */
	if (vma->page_size > uhmm__os_page_size())
		vma->flags |= UHMM__VMA_HUGETLB;
	if (q.vma_name_size && uhmm__os_vma_name_is_io(name))
		vma->flags |= UHMM__VMA_IO;
	return 0;
}

/* A lookup from address 0 always answers if the ioctl exists. */
bool uhmm__os_vma_query_probe(void)
{
	struct uhmm__vma v;
	int ret = uhmm__os_vma_query_find(0, &v);

	if (ret == 0 || ret == -ENOENT)
		return true;
	uhmm__proc_fd_reset(&maps_fd);	/* vma_maps.c opens its own */
	return false;
}

void uhmm__os_vma_fork_child(void)
{
	uhmm__proc_fd_reset(&maps_fd);
}
