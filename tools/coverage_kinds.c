/* SPDX-License-Identifier: MIT */
/*
 * coverage_kinds.c - the memory kinds of the coverage matrix (columns):
 * map @units units of a kind, read-write, and write the marker at the
 * start of every base page.  Runs in the cell's child process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "coverage.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB	0x40000
#endif

const char *const cov_kind_names[K__COUNT] = {
	[K_ANON] = "anon",	[K_SHARED] = "shared",
	[K_MEMFD] = "memfd",	[K_FSHARED] = "f-shared",
	[K_FPRIV] = "f-priv",	[K_HUGETLB] = "hugetlb",
	[K_THP] = "thp",	[K_HEAP] = "heap",
};

int cov_note(struct cov_cell *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->note, sizeof(c->note), fmt, ap);
	va_end(ap);
	return ret;
}

/* A number from a sysfs or procfs file, 0 if unreadable. */
static unsigned long read_ulong(const char *path, const char *key)
{
	char line[256];
	unsigned long v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = strtoul(line, NULL, 10);
			break;
		}
		if (!strncmp(line, key, strlen(key))) {
			v = strtoul(line + strlen(key), NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static size_t pmd_size(void)
{
	unsigned long v = read_ulong(
		"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", NULL);

	return v ? v : 2u << 20;
}

static bool thp_never(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return true;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strstr(buf, "[never]") != NULL || !buf[0];
}

/**
 * cov_kind_unavailable() - why a whole column cannot run here, or NULL.
 * @k: the kind.
 */
const char *cov_kind_unavailable(enum cov_kind k)
{
	if (k == K_HUGETLB &&
	    read_ulong("/proc/meminfo", "HugePages_Free:") < 6)
		return "fewer than 6 free huge pages (vm.nr_hugepages)";
	if (k == K_THP && thp_never())
		return "transparent huge pages disabled ([never])";
	return NULL;
}

/* A file of @len bytes on a disk filesystem (not tmpfs: that is shmem). */
static int disk_file(size_t len)
{
	const char *dirs[] = { getenv("UHMM_COVERAGE_DIR"), "/var/tmp", "." };
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!dirs[i])
			continue;
		fd = open(dirs[i], O_TMPFILE | O_RDWR, 0600);
		if (fd < 0)
			continue;
		if (ftruncate(fd, (off_t)len) == 0)
			return fd;
		close(fd);
	}
	return -1;
}

/* @len bytes aligned to @align (a power of two), from an over-sized map. */
static char *map_aligned(size_t len, size_t align, int prot, int flags,
			 int fd)
{
	char *r = mmap(NULL, len + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (r == MAP_FAILED)
		return MAP_FAILED;
	a = (char *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
	return mmap(a, len, prot, flags | MAP_FIXED, fd, 0);
}

static int map_fd_kind(struct cov_cell *c, size_t len, int flags, int fd)
{
	if (fd < 0)
		return cov_note(c, COV_FAIL, "file: %s", strerror(errno));
	c->addr = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	close(fd);
	return c->addr == MAP_FAILED ? COV_FAIL : 0;
}

static int memfd_of(size_t len)
{
	int fd = memfd_create("uhmm-coverage", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The break, grown by @len bytes of our own, page aligned. */
static int map_heap(struct cov_cell *c, size_t len)
{
	char *cur = sbrk(0);
	size_t pad = (size_t)(-(uintptr_t)cur & (c->unit - 1));

	if (cur == (void *)-1 || sbrk((intptr_t)(pad + len)) == (void *)-1)
		return cov_note(c, COV_REFUSED, "sbrk: %s", strerror(errno));
	c->addr = cur + pad;
	return 0;
}

static int map_kind(struct cov_cell *c, size_t len)
{
	int rw = PROT_READ | PROT_WRITE;

	switch (c->kind) {
	case K_ANON:
	case K_SHARED:
		c->addr = mmap(NULL, len, rw, MAP_ANONYMOUS | (c->kind == K_ANON
			       ? MAP_PRIVATE : MAP_SHARED), -1, 0);
		return c->addr == MAP_FAILED ? COV_FAIL : 0;
	case K_MEMFD:
		return map_fd_kind(c, len, MAP_SHARED, memfd_of(len));
	case K_FSHARED:
		return map_fd_kind(c, len, MAP_SHARED, disk_file(len));
	case K_FPRIV:
		return map_fd_kind(c, len, MAP_PRIVATE, disk_file(len));
	case K_HUGETLB:
		c->addr = mmap(NULL, len, rw, MAP_PRIVATE | MAP_ANONYMOUS |
			       MAP_HUGETLB, -1, 0);
		return c->addr == MAP_FAILED ? COV_NA : 0;
	case K_THP:
		c->addr = map_aligned(len, c->unit, rw,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1);
		if (c->addr != MAP_FAILED)
			madvise(c->addr, len, MADV_HUGEPAGE);
		return c->addr == MAP_FAILED ? COV_FAIL : 0;
	default:
		return map_heap(c, len);
	}
}

/**
 * cov_kind_map() - map @units units of @c->kind into @c, marked.
 * @c: the cell; kind set, the rest filled here.
 * @units: how many units (a kind's page: base, huge or PMD).
 *
 * Return: 0, or COV_NA / COV_REFUSED / COV_FAIL with @c->note set.
 */
int cov_kind_map(struct cov_cell *c, unsigned int units)
{
	unsigned long ps = uhmm_page_size();
	size_t i;
	int ret;

	c->unit = ps;
	if (c->kind == K_HUGETLB || c->kind == K_THP)
		c->unit = pmd_size();
	c->len = units * c->unit;
	ret = map_kind(c, c->len);
	if (ret)
		return c->note[0] ? ret : cov_note(c, ret, "mmap: %s",
						   strerror(errno));
	for (i = 0; i < c->len; i += ps)
		c->addr[i] = COV_MARK;
	return 0;
}
