/* SPDX-License-Identifier: MIT */
/*
 * vma_maps.c - the VMA reader that parses the /proc/self/maps text, for
 * kernels without PROCMAP_QUERY.  Every lookup reads the file from the
 * start into a stack buffer, so it costs more the more VMAs lie below the
 * address.  The text has no page size: hugetlb VMAs are recognised by the
 * filesystem behind them (statfs of /proc/self/map_files/<range>, which
 * needs CAP_SYS_ADMIN), else by the name the kernel gives MAP_HUGETLB
 * mappings, else by statfs of the mapped path.
 */
#include <errno.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../os.h"
#include "proc.h"
#include "vma.h"

/* ------------------------------------------------------------------ */
/* Lines of the text                                                   */

#define MAPS_BUF 4096

struct maps_reader {
	int fd;
	size_t len;		/* bytes in buf */
	size_t pos;		/* start of the next line */
	bool skip;		/* discarding the rest of an overlong line */
	char buf[MAPS_BUF];
};

/* Move the unread tail to the front and read more: bytes read, or -errno. */
static long rd_fill(struct maps_reader *r)
{
	ssize_t n;

	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->len -= r->pos;
	r->pos = 0;
	do
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r->len += (size_t)n;
	return n;
}

/* Hand out buf[pos, end) as a line; @end becomes its terminating NUL. */
static char *rd_take(struct maps_reader *r, size_t end, size_t next)
{
	char *line = r->buf + r->pos;

	r->buf[end] = '\0';
	r->pos = next;
	return line;
}

/*
 * The next line, NUL-terminated, without its newline.  read() may end
 * anywhere in a line, so a partial line waits for the rest.  A line longer
 * than the buffer comes back cut; its numeric fields are all at the front.
 * Return: 1 with *@line set, 0 at end of file, -errno.
 */
static int rd_line(struct maps_reader *r, char **line)
{
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		bool skip = r->skip;
		long n;

		if (nl) {
			r->skip = false;
			*line = rd_take(r, (size_t)(nl - r->buf),
					(size_t)(nl - r->buf) + 1);
		} else if (r->pos == 0 && r->len == sizeof(r->buf) - 1) {
			r->skip = true;
			*line = rd_take(r, r->len, r->len);
		} else {
			n = rd_fill(r);
			if (n < 0)
				return (int)n;
			if (n > 0)
				continue;
			if (r->pos == r->len)
				return 0;
			r->skip = false;
			*line = rd_take(r, r->len, r->len);
		}
		if (!skip)
			return 1;
	}
}

struct maps_line {
	unsigned long start;
	unsigned long end;
	unsigned int flags;	/* UHMM__VMA_* */
	const char *path;	/* "" if none */
};

/* "start-end rwxp offset major:minor inode   path" */
static int parse_line(char *s, struct maps_line *m)
{
	unsigned long major, minor, inode;
	char *p;

	m->start = strtoul(s, &p, 16);
	if (*p != '-')
		return -EIO;
	m->end = strtoul(p + 1, &p, 16);
	if (*p != ' ' || memchr(p, '\0', 6))
		return -EIO;
	m->flags = (p[1] == 'r' ? UHMM__VMA_READ : 0) |
		   (p[2] == 'w' ? UHMM__VMA_WRITE : 0) |
		   (p[3] == 'x' ? UHMM__VMA_EXEC : 0) |
		   (p[4] == 's' ? UHMM__VMA_SHARED : 0);
	strtoul(p + 6, &p, 16);			/* file offset */
	major = strtoul(p, &p, 16);
	if (*p != ':')
		return -EIO;
	minor = strtoul(p + 1, &p, 16);
	inode = strtoul(p, &p, 10);
	while (*p == ' ')
		p++;
	m->path = p;
	if (inode || major || minor)
		m->flags |= UHMM__VMA_FILE;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Hugetlb VMAs                                                        */

/* Huge page size of the hugetlbfs holding @path, 0 if it is not one. */
static unsigned long hugetlbfs_page_size(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) || (uint32_t)sf.f_type != HUGETLBFS_MAGIC)
		return 0;
	return (unsigned long)sf.f_bsize;
}

/* Append @v in lower-case hex, as /proc/self/map_files names ranges. */
static char *put_hex(char *p, unsigned long v)
{
	char tmp[2 * sizeof(v)];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static unsigned long default_huge;	/* atomic: bytes, 0 = not read yet */

/* "Hugepagesize:" of /proc/meminfo in bytes (cached), 0 if none. */
static unsigned long default_huge_size(void)
{
	unsigned long size = __atomic_load_n(&default_huge, __ATOMIC_RELAXED);
	char buf[4096];		/* /proc/meminfo is about 1.5 KiB */
	const char *p;

	if (size)
		return size;
	if (uhmm__read_small("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "Hugepagesize:");
	if (!p)
		return 0;
	size = strtoul(p + 13, NULL, 10) * 1024;
	__atomic_store_n(&default_huge, size, __ATOMIC_RELAXED);
	return size;
}

static unsigned long maps_huge_size(const struct maps_line *m)
{
	char path[64] = "/proc/self/map_files/";
	char *p = path + strlen(path);
	unsigned long size;

	if (!(m->flags & UHMM__VMA_FILE))
		return 0;
	p = put_hex(p, m->start);
	*p++ = '-';
	*put_hex(p, m->end) = '\0';
	size = hugetlbfs_page_size(path);
	if (size)
		return size;
	/* Without CAP_SYS_ADMIN map_files is closed: go by the name. */
	if (!strncmp(m->path, "/anon_hugepage", 14))
		return default_huge_size();
	if (m->path[0] == '/' && !strstr(m->path, " (deleted)"))
		return hugetlbfs_page_size(m->path);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

static void maps_fill(const struct maps_line *m, struct uhmm__vma *vma)
{
	unsigned long huge = maps_huge_size(m);

	vma->start = m->start;
	vma->end = m->end;
	vma->flags = m->flags;
	vma->page_size = huge ? huge : uhmm__os_page_size();
	if (huge)
		vma->flags |= UHMM__VMA_HUGETLB;
	if (uhmm__os_vma_name_is_io(m->path))
		vma->flags |= UHMM__VMA_IO;
}

/* The first line ending above @addr.  Return: 1 found, 0 none, -errno. */
static int maps_scan(struct maps_reader *r, unsigned long addr,
		     struct maps_line *m)
{
	char *line;
	int ret;

	while ((ret = rd_line(r, &line)) > 0) {
		ret = parse_line(line, m);
		if (ret)
			return ret;
		/* The kernel-half gate area ([vsyscall]) is not a VMA of the
		 * address space: PROCMAP_QUERY and the page walk skip it. */
		if (m->end > addr && m->start <= (unsigned long)INTPTR_MAX)
			return 1;
	}
	return ret;
}

int uhmm__os_vma_maps_find(unsigned long addr, struct uhmm__vma *vma)
{
	struct maps_reader r;	/* buf left uninitialised: no 4 KiB memset */
	struct maps_line m;
	int ret;

	r.len = 0;
	r.pos = 0;
	r.skip = false;
	r.fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (r.fd < 0)
		return -errno;
	ret = maps_scan(&r, addr, &m);
	close(r.fd);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	maps_fill(&m, vma);
	return 0;
}
