/* SPDX-License-Identifier: MIT */
/*
 * vma.c - which VMA covers an address, and what it allows: the choice of
 * reader and the entry points.
 *
 * Two readers (vma.h), chosen once at run time:
 *  - the PROCMAP_QUERY ioctl on /proc/self/maps (vma_query.c, Linux 6.11+):
 *    one system call per lookup, and the kernel reports the VMA's page size
 *    itself;
 *  - parsing the /proc/self/maps text (vma_maps.c): every lookup reads the
 *    file from the start, so it costs more the more VMAs lie below the
 *    address, and hugetlb VMAs must be recognised by other means.
 * The ioctl is tried once; UHMM_VMA=query|maps overrides the choice (a
 * kernel without the ioctl falls back to maps even when asked for query;
 * uhmm__os_vma_backend() tells which one runs).
 *
 * VM_IO / VM_PFNMAP are not reported by either interface.  The only such
 * mappings every process has are the vDSO data pages ("[vvar]",
 * "[vvar_vclock]"), recognised by name; device mappings (a driver's mmap)
 * are not recognised.
 */
#include <errno.h>
#include <string.h>

#include "../os.h"
#include "proc.h"
#include "vma.h"

enum { VB_NONE, VB_QUERY, VB_MAPS };

static int backend;			/* atomic: VB_* once chosen */

/* The vDSO data pages are VM_PFNMAP: no struct page behind them. */
bool uhmm__os_vma_name_is_io(const char *name)
{
	return !strncmp(name, "[vvar", 5);
}

static int choose(void)
{
	int b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);

	if (__builtin_expect(b != VB_NONE, 1))
		return b;
	if (uhmm__env_choice("UHMM_VMA", "query", "maps") != 2 &&
	    uhmm__os_vma_query_probe())
		b = VB_QUERY;
	else
		b = VB_MAPS;
	/* Racing first callers probe alike and store the same answer. */
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
	return b;
}

int uhmm__os_vma_find(unsigned long addr, struct uhmm__vma *vma)
{
	int saved = errno;
	int ret;

	if (choose() == VB_QUERY)
		ret = uhmm__os_vma_query_find(addr, vma);
	else
		ret = uhmm__os_vma_maps_find(addr, vma);
	errno = saved;
	return ret;
}

const char *uhmm__os_vma_backend(void)
{
	int saved = errno;
	int b = choose();

	errno = saved;
	return b == VB_QUERY ? "procmap_query" : "proc_maps";
}
