/* SPDX-License-Identifier: MIT */
/*
 * vma.c - which VMA covers an address, and what it allows.
 *
 * Two readers, chosen once at run time:
 *  - the PROCMAP_QUERY ioctl on /proc/self/maps (Linux 6.11+): one system
 *    call per lookup, and the kernel reports the VMA's page size itself;
 *  - parsing the /proc/self/maps text: every lookup reads the file from
 *    the start into a stack buffer, so it costs more the more VMAs lie
 *    below the address.  Hugetlb VMAs are recognised by the filesystem
 *    behind them (statfs of /proc/self/map_files/<range>, which needs
 *    CAP_SYS_ADMIN), else by the name the kernel gives MAP_HUGETLB
 *    mappings, else by statfs of the mapped path.
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
#include <linux/magic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../os.h"
#include "proc.h"

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

enum { VB_NONE, VB_QUERY, VB_MAPS };

static int backend;			/* atomic: VB_* once chosen */
static int maps_fd = UHMM__FD_NONE;	/* atomic: for the ioctl only */
static unsigned long default_huge;	/* atomic: bytes, 0 = not read yet */

/* The vDSO data pages are VM_PFNMAP: no struct page behind them. */
static bool name_is_io(const char *name)
{
	return !strncmp(name, "[vvar", 5);
}

/* ------------------------------------------------------------------ */
/* PROCMAP_QUERY                                                       */

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

static int query_find(unsigned long addr, struct uhmm__vma *vma)
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
	if (q.vma_name_size && name_is_io(name))
		vma->flags |= UHMM__VMA_IO;
	return 0;
}

/* ------------------------------------------------------------------ */
/* /proc/self/maps text                                                */

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

static void maps_fill(const struct maps_line *m, struct uhmm__vma *vma)
{
	unsigned long huge = maps_huge_size(m);

	vma->start = m->start;
	vma->end = m->end;
	vma->flags = m->flags;
	vma->page_size = huge ? huge : uhmm__os_page_size();
	if (huge)
		vma->flags |= UHMM__VMA_HUGETLB;
	if (name_is_io(m->path))
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

static int maps_find(unsigned long addr, struct uhmm__vma *vma)
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

/* ------------------------------------------------------------------ */
/* Choice and entry points                                             */

static bool query_works(void)
{
	struct uhmm__vma v;
	int ret = query_find(0, &v);

	if (ret == 0 || ret == -ENOENT)
		return true;
	uhmm__proc_fd_reset(&maps_fd);
	return false;
}

static int choose(void)
{
	int b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);

	if (__builtin_expect(b != VB_NONE, 1))
		return b;
	if (uhmm__env_choice("UHMM_VMA", "query", "maps") != 2 &&
	    query_works())
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
		ret = query_find(addr, vma);
	else
		ret = maps_find(addr, vma);
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

void uhmm__os_vma_fork_child(void)
{
	uhmm__proc_fd_reset(&maps_fd);
}
