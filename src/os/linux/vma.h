/* SPDX-License-Identifier: MIT */
/*
 * vma.h - what the two VMA readers share with the choice between them:
 *   vma.c        the run-time choice, the entry points, shared knowledge;
 *   vma_query.c  the PROCMAP_QUERY ioctl reader (Linux 6.11+);
 *   vma_maps.c   the /proc/self/maps text parser (any kernel).
 *
 * Both readers must fill a struct uhmm__vma exactly alike (the range tests
 * compare them).  Like the rest of the OS layer they never allocate; they
 * may change errno (uhmm__os_vma_find() restores it).
 */
#ifndef UHMM_OS_LINUX_VMA_H
#define UHMM_OS_LINUX_VMA_H

#include <stdbool.h>

#include "../os.h"

/* Is the VMA named @name known to be VM_IO / VM_PFNMAP? (vma.c) */
bool uhmm__os_vma_name_is_io(const char *name);

/* Does this kernel answer PROCMAP_QUERY?  Tried once, by vma.c's choice. */
bool uhmm__os_vma_query_probe(void);

/* uhmm__os_vma_find() through PROCMAP_QUERY: 0, -ENOENT or -errno. */
int uhmm__os_vma_query_find(unsigned long addr, struct uhmm__vma *vma);

/* uhmm__os_vma_find() by parsing /proc/self/maps: 0, -ENOENT or -errno. */
int uhmm__os_vma_maps_find(unsigned long addr, struct uhmm__vma *vma);

#endif /* UHMM_OS_LINUX_VMA_H */
