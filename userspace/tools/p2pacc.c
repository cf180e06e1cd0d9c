// SPDX-License-Identifier: MIT
/*
 * p2pacc: command-line tool for the p2p_accel accelerator.
 *
 *   p2pacc [--device PATH] info|alloc|export|reset [options]
 *
 * Each verb takes --help. Exit status: 0 on success, 1 on failure, 2 on a
 * usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pacc.h"
#include "cli.h"

static const char *device_path;

static void usage_main(FILE *f)
{
	fputs("usage: p2pacc [--device PATH] VERB [options]\n"
	      "\n"
	      "Verbs:\n"
	      "  info     show device memory and capabilities\n"
	      "  alloc    allocate device memory, write and check it, free it\n"
	      "  export   allocate, export as a dma-buf FD, optionally run a\n"
	      "           command that inherits it\n"
	      "  reset    reset the device: revoke every buffer\n"
	      "\n"
	      "Options:\n"
	      "  --device PATH  accel node (default: the first p2p_accel device)\n"
	      "  -h, --help     this text; VERB --help describes a verb\n", f);
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "p2pacc: %s: %s\n", what, strerror(-err));
	return 1;
}

static int open_device(struct p2pacc **dev)
{
	int ret = p2pacc_open(device_path, dev);

	if (ret == -EBUSY)
		fprintf(stderr, "p2pacc: the device is owned by another process\n");
	return ret;
}

/* ---- info ---------------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	char node[PATH_MAX], bdf[64] = "?";
	struct p2pacc_info info;
	struct p2pacc *dev;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			puts("usage: p2pacc info\n\n"
			     "Open the device (as its owner, briefly) and print its\n"
			     "node, PCI address, device memory size, free memory,\n"
			     "alignment and capabilities.");
			return 0;
		}
		return 2;
	}

	if (!device_path && !p2pacc_find(node, sizeof(node), bdf, sizeof(bdf)))
		device_path = node;
	ret = open_device(&dev);
	if (ret)
		return fail("open", ret);
	ret = p2pacc_query(dev, &info);
	p2pacc_close(dev);
	if (ret)
		return fail("query", ret);

	printf("device:     %s (PCI %s)\n", device_path ? device_path : "?", bdf);
	printf("mem_size:   %" PRIu64 " (%" PRIu64 " MiB)\n", info.mem_size,
	       info.mem_size >> 20);
	printf("mem_free:   %" PRIu64 "\n", info.mem_free);
	printf("alignment:  %" PRIu64 "\n", info.alignment);
	printf("caps:      %s%s%s\n",
	       info.caps & P2PACC_CAP_STATIC_DMABUF ? " static-dmabuf" : "",
	       info.caps & P2PACC_CAP_P2P ? " p2p" : "",
	       info.caps & P2PACC_CAP_REVOKE ? " revoke" : "");
	return 0;
}

/* ---- alloc / export ------------------------------------------------------ */

struct buf_opts {
	uint64_t size;
	uint64_t align;
	int fill;
	int hold;
};

static int parse_buf_opts(int argc, char **argv, struct buf_opts *o,
			  const char *help)
{
	static const struct option opts[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "fill", required_argument, NULL, 'f' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int c;

	o->align = 0;
	o->fill = 0xa5;
	o->hold = 0;
	/*
	 * Options may come before or after SIZE; "--" ends them, and GNU
	 * getopt then leaves SIZE first among the remaining arguments.
	 */
	while ((c = getopt_long(argc, argv, "a:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (parse_size(optarg, &o->align))
				return -1;
			break;
		case 'f':
			o->fill = (int)strtol(optarg, NULL, 0) & 0xff;
			break;
		case 'H':
			o->hold = 1;
			break;
		case 'h':
			fputs(help, stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind >= argc || parse_size(argv[optind], &o->size)) {
		fprintf(stderr, "p2pacc: a SIZE is needed (e.g. 4M)\n");
		return -1;
	}
	optind++;
	return 0;
}

static int check_bytes(const volatile uint8_t *p, uint64_t n, int want)
{
	for (uint64_t i = 0; i < n; i++) {
		if (p[i] != want) {
			fprintf(stderr, "p2pacc: byte %" PRIu64 " is 0x%02x, expected 0x%02x\n",
				i, p[i], want);
			return -EIO;
		}
	}
	return 0;
}

/* Allocate, map, fill and check one buffer. */
static int make_buffer(struct p2pacc *dev, const struct buf_opts *o,
		       uint32_t *handle, uint64_t *size)
{
	void *map;
	int ret;

	ret = p2pacc_alloc(dev, o->size, o->align, handle, size);
	if (ret)
		return fail("alloc", ret);
	ret = p2pacc_mmap(dev, *handle, *size, &map);
	if (ret)
		return fail("mmap", ret);
	memset(map, o->fill, *size);
	ret = check_bytes(map, *size, o->fill);
	p2pacc_munmap(map, *size);
	if (ret)
		return fail("read back through the device mapping", ret);
	return 0;
}

static const char alloc_help[] =
	"usage: p2pacc alloc [--align N] [--fill BYTE] [--hold] SIZE\n\n"
	"Allocate SIZE bytes of device memory (K/M/G suffixes), map it, fill it\n"
	"with BYTE (default 0xa5) and read it back, then free it. --hold waits\n"
	"for Enter before freeing (the device stays owned meanwhile).\n";

static int cmd_alloc(int argc, char **argv)
{
	struct p2pacc *dev;
	struct buf_opts o;
	uint32_t handle;
	uint64_t size;
	int ret;

	ret = parse_buf_opts(argc, argv, &o, alloc_help);
	if (ret)
		return ret > 0 ? 0 : 2;
	ret = open_device(&dev);
	if (ret)
		return fail("open", ret);
	ret = make_buffer(dev, &o, &handle, &size);
	if (!ret) {
		printf("allocated handle %u, %" PRIu64 " bytes, filled with 0x%02x and checked\n",
		       handle, size, o.fill);
		if (o.hold) {
			puts("press Enter to free");
			getchar();
		}
		ret = p2pacc_free(dev, handle) ? 1 : 0;
	}
	p2pacc_close(dev);
	return ret;
}

static const char export_help[] =
	"usage: p2pacc export [--align N] [--fill BYTE] [--hold] SIZE [-- CMD [ARGS]]\n\n"
	"Allocate SIZE bytes, fill them with BYTE (default 0xa5), export them as\n"
	"a dma-buf FD (drmPrimeHandleToFD) and check the bytes through a mapping\n"
	"of the dma-buf. With CMD, run it with the FD inherited and its number\n"
	"in $P2PACC_DMABUF_FD, and wait for it. --hold waits for Enter before\n"
	"exiting. Exiting closes the device: the buffer is revoked.\n";

static int cmd_export(int argc, char **argv)
{
	struct p2pacc *dev;
	struct buf_opts o;
	uint32_t handle;
	uint64_t size;
	int ret, fd;
	void *map;

	ret = parse_buf_opts(argc, argv, &o, export_help);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;

	ret = open_device(&dev);
	if (ret)
		return fail("open", ret);
	if (make_buffer(dev, &o, &handle, &size))
		goto err;
	/* No O_CLOEXEC: a command we run inherits the FD. */
	ret = p2pacc_export(dev, handle, O_RDWR, &fd);
	if (ret) {
		fail("export", ret);
		goto err;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fail("mmap of the dma-buf", -errno);
		goto err;
	}
	ret = check_bytes(map, size, o.fill);
	munmap(map, size);
	if (ret) {
		fail("read back through the dma-buf", ret);
		goto err;
	}
	printf("exported handle %u as dma-buf fd %d (/proc/%d/fd/%d), %" PRIu64 " bytes of 0x%02x\n",
	       handle, fd, (int)getpid(), fd, size, o.fill);
	fflush(stdout);

	if (optind < argc) {
		char num[16];
		pid_t pid;
		int status;

		snprintf(num, sizeof(num), "%d", fd);
		setenv("P2PACC_DMABUF_FD", num, 1);
		pid = fork();
		if (pid == 0) {
			execvp(argv[optind], &argv[optind]);
			fprintf(stderr, "p2pacc: %s: %s\n", argv[optind],
				strerror(errno));
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0) {
			fail("run", -errno);
			goto err;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "p2pacc: %s failed\n", argv[optind]);
			goto err;
		}
	}
	if (o.hold) {
		puts("press Enter to close the device (revokes the buffer)");
		getchar();
	}
	p2pacc_close(dev);
	return 0;
err:
	p2pacc_close(dev);
	return 1;
}

/* ---- reset --------------------------------------------------------------- */

static int cmd_reset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sysfs", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	struct p2pacc *dev;
	int c, sysfs = 0, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sysfs = 1;
			break;
		case 'h':
			puts("usage: p2pacc reset [--sysfs]\n\n"
			     "Reset the device, as after a catastrophic error: every\n"
			     "buffer is revoked (importers told, mappings zapped) and\n"
			     "its memory reclaimed. Needs root. By default this opens\n"
			     "the device and uses the reset ioctl, which fails while\n"
			     "another process owns it; --sysfs writes the device's\n"
			     "sysfs 'accel_reset' attribute instead, which works anyway.");
			return 0;
		default:
			return 2;
		}
	}

	if (sysfs) {
		ret = p2pacc_reset_sysfs(NULL);
		if (ret)
			return fail("reset through sysfs", ret);
	} else {
		ret = open_device(&dev);
		if (ret)
			return fail("open", ret);
		ret = p2pacc_reset(dev);
		p2pacc_close(dev);
		if (ret)
			return fail("reset", ret);
	}
	puts("reset done");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} verbs[] = {
		{ "info", cmd_info },
		{ "alloc", cmd_alloc },
		{ "export", cmd_export },
		{ "reset", cmd_reset },
	};
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--device") && i + 1 < argc) {
			device_path = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage_main(stdout);
			return 0;
		} else {
			usage_main(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage_main(stderr);
		return 2;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (!strcmp(argv[i], verbs[v].name)) {
			/* getopt sees the verb as argv[0]. */
			optind = 1;
			return verbs[v].fn(argc - i, argv + i);
		}
	}
	fprintf(stderr, "p2pacc: unknown verb '%s'\n", argv[i]);
	usage_main(stderr);
	return 2;
}
