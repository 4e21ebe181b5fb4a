/* SPDX-License-Identifier: MIT */
/*
 * soft_dma.c - the software device's DMA: a copy through a registration,
 * checked as a NIC checks an lkey, and fault-safe: process_vm_readv/writev
 * on our own pid, so memory unmapped under the copy gives -EFAULT, never a
 * signal.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "soft.h"

static int check(const struct soft_reg *e, unsigned long a, size_t len,
		 int dir)
{
	unsigned int need = dir == UHMM_RCACHE_SOFT_DMA_READ ?
			    UHMM_RCACHE_READ : UHMM_RCACHE_WRITE;

	if (!e)
		return -ENOENT;
	if (!(e->access & need))
		return -EACCES;
	if (a < e->start || a > e->end || len > e->end - a)
		return -ERANGE;
	return 0;
}

static int copy(const void *addr, void *buf, size_t len, int dir)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr,
				.iov_len = len };
	ssize_t n;

	if (dir == UHMM_RCACHE_SOFT_DMA_READ)
		n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	else
		n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

int uhmm_rcache_soft_dma(struct uhmm_rcache_soft *s, uint64_t key,
			 const void *addr, void *buf, size_t len, int dir)
{
	int err;

	if (!s || !addr || !buf || !len ||
	    (dir != UHMM_RCACHE_SOFT_DMA_READ &&
	     dir != UHMM_RCACHE_SOFT_DMA_WRITE))
		return -EINVAL;
	pthread_rwlock_rdlock(&s->lock);
	err = check(uhmm__soft_find(s, key), (unsigned long)addr, len, dir);
	if (!err)
		err = copy(addr, buf, len, dir);
	pthread_rwlock_unlock(&s->lock);
	return err;
}
