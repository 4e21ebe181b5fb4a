/* SPDX-License-Identifier: MIT */
/*
 * coverage_malloc.c - routes through glibc's allocator, whose munmap,
 * mremap, sbrk and madvise are internal calls (no PLT): free() of a chunk
 * above the mmap threshold, realloc() of one (mremap), the heap trim in
 * free(), and malloc_trim().  Each watches two whole pages inside the
 * chunk, marked, and checks afterwards that the change really happened,
 * so a "missed" is a real miss.  Not built into sanitizer matrices: their
 * allocators replace glibc's (the routes are n/a there).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coverage.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define CHUNK		(1u << 20)	/* 1 MiB: above the default threshold */

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Watch two whole pages starting @skip pages into @p, marked. */
static int watch_inside(struct cov_cell *c, void *p, unsigned int skip)
{
	uintptr_t a = ((uintptr_t)p + page() - 1) & ~(page() - 1);

	if (!p)
		return cov_note(c, COV_FAIL, "malloc failed");
	c->aux = p;
	c->unit = page();
	c->addr = (char *)a + skip * page();
	c->len = 2 * page();
	c->addr[0] = COV_MARK;
	c->addr[page()] = COV_MARK;
	return 0;
}

/* The change happened: the watched pages are no longer mapped. */
static int gone(struct cov_cell *c, const char *what)
{
	unsigned char vec[2];

	if (mincore(c->addr, c->len, vec) == -1 && errno == ENOMEM)
		return 0;
	return cov_note(c, COV_REFUSED, "%s left the pages mapped", what);
}

int cov_free_large_setup(struct cov_cell *c)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	return watch_inside(c, malloc(CHUNK), 0);
}

int cov_free_large(struct cov_cell *c)
{
	free(c->aux);
	return gone(c, "free()");
}

/*
 * A page right after the chunk's mapping stops mremap from growing it in
 * place, so realloc() has to move it.
 */
int cov_realloc_setup(struct cov_cell *c)
{
	char *p, *end;

	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	p = malloc(CHUNK);
	if (!p)
		return cov_note(c, COV_FAIL, "malloc failed");
	/* An mmapped chunk's mapping ends where its usable size does. */
	end = p + malloc_usable_size(p);
	mmap(end, page(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	     MAP_FIXED_NOREPLACE, -1, 0);
	return watch_inside(c, p, 0);
}

int cov_realloc(struct cov_cell *c)
{
	void *q = realloc(c->aux, 4 * CHUNK);

	if (!q)
		return cov_note(c, COV_REFUSED, "realloc failed");
	if (q == c->aux)
		return cov_note(c, COV_REFUSED, "realloc grew in place");
	return gone(c, "realloc()");
}

/* A chunk at the top of the brk heap; trimming gives its tail back. */
static int heap_chunk(struct cov_cell *c, size_t trim_threshold)
{
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 0);
	mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
	return watch_inside(c, malloc(CHUNK), 1);
}

static int heap_gone(struct cov_cell *c, char *old_brk, const char *what)
{
	if ((char *)sbrk(0) >= old_brk)
		return cov_note(c, COV_REFUSED, "%s did not shrink the heap",
				what);
	return gone(c, what);
}

int cov_free_trim_setup(struct cov_cell *c)
{
	return heap_chunk(c, 128 * 1024);
}

int cov_free_trim(struct cov_cell *c)
{
	char *old = sbrk(0);

	free(c->aux);
	return heap_gone(c, old, "free()");
}

int cov_malloc_trim_setup(struct cov_cell *c)
{
	int ret = heap_chunk(c, 256 << 20);

	if (!ret)
		free(c->aux);	/* stays in the heap: above no threshold */
	return ret;
}

int cov_malloc_trim(struct cov_cell *c)
{
	char *old = sbrk(0);

	malloc_trim(0);
	return heap_gone(c, old, "malloc_trim()");
}
