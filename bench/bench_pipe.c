/* SPDX-License-Identifier: MIT */
/*
 * bench_pipe.c - see bench_pipe.h.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bench_pipe.h"

int bench_xfer(int fd, void *buf, size_t len, bool rd)
{
	char *b = buf;
	ssize_t n;

	while (len) {
		n = rd ? read(fd, b, len) : write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int bench_helper_path(char *buf, size_t len, const char *name)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash || (size_t)(slash - buf) + strlen(name) + 2 >= len)
		return -1;
	strcpy(slash + 1, name);
	return access(buf, X_OK);
}
