/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the command-line tools in this folder.
 */
#ifndef P2PMEM_TOOLS_CLI_H
#define P2PMEM_TOOLS_CLI_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* A size in bytes with an optional K, M or G suffix (powers of 1024). */
static inline int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

#endif /* P2PMEM_TOOLS_CLI_H */
