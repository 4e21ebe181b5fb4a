/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c - the state of each page of a range: present, swapped, file or
 * anonymous, mapped only here, the zero page, huge, and the frame number.
 * The choice of reader, the entry points, and the /proc/self/pagemap
 * entries both readers use.
 *
 * Two readers (pagemap.h), chosen once at run time:
 *  - the PAGEMAP_SCAN ioctl (pagemap_scan.c, Linux 6.7+) reports page
 *    categories in runs, zero page and huge mappings included, but neither
 *    frame numbers nor "mapped only here", so it reads entries as well for
 *    the pages where those matter;
 *  - /proc/self/pagemap alone (pagemap_proc.c): one 8-byte entry per page,
 *    the zero page and huge mappings recognised by frame number where
 *    frame numbers are readable.
 * The ioctl is tried once; UHMM_PAGEMAP=scan|proc overrides the choice (a
 * kernel without the ioctl falls back to proc even when asked for scan).
 */
#include <errno.h>
#include <stdint.h>

#include "../os.h"
#include "pagemap.h"
#include "proc.h"

enum { PB_NONE, PB_SCAN, PB_PROC };

static int backend;				/* atomic: PB_* once chosen */
static int pagemap_fd = UHMM__FD_NONE;		/* atomic; per address space */

static off_t pme_offset(unsigned long addr)
{
	return (off_t)(addr / uhmm__os_page_size()) * (off_t)sizeof(uint64_t);
}

int uhmm__os_pagemap_read(int fd, unsigned long addr, uint64_t *e,
			  unsigned long n)
{
	long got = uhmm__pread_full(fd, e, n * sizeof(*e), pme_offset(addr));

	if (got < 0)
		return (int)got;
	return (unsigned long)got == n * sizeof(*e) ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* Choice and entry points                                             */

static int choose(int fd)
{
	int b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);

	if (__builtin_expect(b != PB_NONE, 1))
		return b;
	if (uhmm__env_choice("UHMM_PAGEMAP", "scan", "proc") != 2 &&
	    fd >= 0 && uhmm__os_pagemap_scan_probe(fd))
		b = PB_SCAN;
	else
		b = PB_PROC;
	/* Racing first callers probe alike and store the same answer. */
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
	return b;
}

int uhmm__os_page_scan(unsigned long start, unsigned long end, uint64_t *out,
		       bool want_pfn)
{
	unsigned long mask = uhmm__os_page_size() - 1;
	int saved = errno;
	int fd, ret;

	if ((start | end) & mask || start > end)
		return -EINVAL;
	fd = uhmm__proc_fd(&pagemap_fd, "/proc/self/pagemap");
	if (fd < 0)
		ret = fd;
	else if (choose(fd) == PB_SCAN)
		ret = uhmm__os_pagemap_scan_read(fd, start, end, out, want_pfn);
	else
		ret = uhmm__os_pagemap_proc_read(fd, start, end, out);
	errno = saved;
	return ret;
}

const char *uhmm__os_page_backend(void)
{
	int saved = errno;
	int b = choose(uhmm__proc_fd(&pagemap_fd, "/proc/self/pagemap"));

	errno = saved;
	return b == PB_SCAN ? "pagemap_scan" : "proc_pagemap";
}

void uhmm__os_page_fork_child(void)
{
	uhmm__proc_fd_reset(&pagemap_fd);
}
