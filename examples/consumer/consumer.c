/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - the smallest program using an installed uhmm: the headers and
 * the library it was linked with must agree on the version, and the process
 * handle must be usable.  Prints "uhmm <version> ok" on success.
 *
 * With pkg-config:  cc consumer.c $(pkg-config --cflags --libs uhmm)
 */
#include <stdio.h>
#include <string.h>

#include <uhmm/uhmm.h>

int main(void)
{
	struct uhmm_mm *mm = uhmm_mm_current();
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", UHMM_VERSION_MAJOR,
		 UHMM_VERSION_MINOR, UHMM_VERSION_PATCH);
	if (strcmp(uhmm_version(), want) != 0) {
		fprintf(stderr, "header %s, library %s\n", want, uhmm_version());
		return 1;
	}
	if (!mm || uhmm_mm_users(mm) < 1 || uhmm_page_size() == 0) {
		fprintf(stderr, "process handle unusable\n");
		return 1;
	}
	printf("uhmm %s ok\n", uhmm_version());
	return 0;
}
