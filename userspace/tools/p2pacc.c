// SPDX-License-Identifier: MIT
/*
 * p2pacc: command-line tool for the p2p_accel accelerator.
 *
 *   p2pacc [--device PATH] info|alloc|export|reset [options]
 *
 * info works while another process owns the device (from sysfs), and so
 * does reset (debugfs or the PCI reset, never the device node).
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
	      "  reset    revoke every buffer: simulated error or PCI reset (root)\n"
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
	else if (ret == -ENODEV && device_path)
		fprintf(stderr, "p2pacc: %s is not a p2p_accel device\n", device_path);
	return ret;
}

/*
 * The node (--device, or the first p2p_accel device) and its PCI address.
 * Returns 0, or the exit status after printing why.
 */
static int find_device(char *node, size_t len, char *bdf, size_t bdf_len)
{
	int ret;

	if (!device_path) {
		ret = p2pacc_find(node, len, bdf, bdf_len);
		if (ret == -ENODEV) {
			fprintf(stderr, "p2pacc: no p2p_accel device\n");
			return 1;
		}
		return ret ? fail("find the device", ret) : 0;
	}
	if (strlen(device_path) >= len)
		return fail(device_path, -ENAMETOOLONG);
	strcpy(node, device_path);
	ret = p2pacc_pci_address(node, bdf, bdf_len);
	if (ret == -ENODEV) {
		fprintf(stderr, "p2pacc: %s is not a p2p_accel device\n", node);
		return 1;
	}
	return ret ? fail(node, ret) : 0;
}

/* ---- info ---------------------------------------------------------------- */

static const char info_help[] =
	"usage: p2pacc info\n\n"
	"Print the device's node, PCI address, device memory size, free and used\n"
	"memory, alignment and capabilities, asking the device itself (it is\n"
	"opened as its owner, briefly). While another process owns it (EBUSY),\n"
	"read sysfs instead (devmem_size, devmem_used: anyone may), which knows\n"
	"no alignment or capabilities, and show the owner and its memory use\n"
	"from its fdinfo (drm-total-memory, drm-shared-memory) when it can see\n"
	"the owner's file descriptors (root can).\n";

/* The process name of @pid, or "?". */
static void read_comm(pid_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(comm, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

static void print_owner(const char *node)
{
	struct p2pacc_owner owner;
	char comm[32];

	if (p2pacc_owner(node, &owner)) {
		puts("owner:      not visible (another user's process? root sees all)");
		return;
	}
	read_comm(owner.pid, comm, sizeof(comm));
	printf("owner:      pid %d (%s) fd %d, drm-client-id %" PRIu64 ": %" PRIu64
	       " bytes in its buffers, %" PRIu64 " of them exported\n",
	       (int)owner.pid, comm, owner.fd, owner.client_id,
	       owner.total_memory, owner.shared_memory);
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	char node[PATH_MAX], bdf[64];
	struct p2pacc_info info;
	struct p2pacc *dev;
	int c, ret, busy;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(info_help, stdout);
			return 0;
		}
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "p2pacc: info takes no argument\n");
		return 2;
	}

	ret = find_device(node, sizeof(node), bdf, sizeof(bdf));
	if (ret)
		return ret;
	ret = p2pacc_open(node, &dev);
	busy = ret == -EBUSY;
	if (busy) {
		ret = p2pacc_info_sysfs(node, &info);
		if (ret)
			return fail("read devmem_size and devmem_used in sysfs", ret);
	} else if (ret) {
		return fail("open", ret);
	} else {
		ret = p2pacc_query(dev, &info);
		p2pacc_close(dev);
		if (ret)
			return fail("query", ret);
	}

	printf("device:     %s (PCI %s)\n", node, bdf);
	printf("source:     %s\n", busy ?
	       "sysfs (the device is owned by another process)" :
	       "the device (query ioctl)");
	printf("mem_size:   %" PRIu64 " (%" PRIu64 " MiB)\n", info.mem_size,
	       info.mem_size >> 20);
	printf("mem_free:   %" PRIu64 "\n", info.mem_free);
	printf("mem_used:   %" PRIu64 "\n", info.mem_size - info.mem_free);
	if (busy) {
		puts("alignment:  unknown (only the owner can query it)");
		puts("caps:       unknown (only the owner can query them)");
		print_owner(node);
		return 0;
	}
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

static const char reset_help[] =
	"usage: p2pacc reset [--pci]\n\n"
	"Revoke every buffer, as after a catastrophic device error: importers are\n"
	"told, CPU mappings zapped, the memory scrubbed and reclaimed. Needs root.\n"
	"By default this writes 1 to the debugfs file\n"
	"/sys/kernel/debug/accel/<PCI address>/reset, a simulated error (debugfs\n"
	"must be mounted there); --pci resets the PCI function instead\n"
	"(/sys/bus/pci/devices/<PCI address>/reset, if the device has a reset\n"
	"method), which the driver treats as any real reset. Neither opens the\n"
	"device, so both work while another process owns it; that owner keeps\n"
	"its file and handles, which now name dead buffers.\n";

static int cmd_reset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pci", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	char node[PATH_MAX], bdf[64];
	int c, pci = 0, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pci = 1;
			break;
		case 'h':
			fputs(reset_help, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "p2pacc: reset takes no argument\n");
		return 2;
	}

	ret = find_device(node, sizeof(node), bdf, sizeof(bdf));
	if (ret)
		return ret;
	if (pci) {
		ret = p2pacc_pci_reset(node);
		if (ret == -ENOENT)
			fprintf(stderr, "p2pacc: PCI device %s has no reset method\n",
				bdf);
		if (ret)
			return fail("PCI function reset", ret);
	} else {
		ret = p2pacc_debug_reset(node);
		if (ret == -ENOENT)
			fprintf(stderr, "p2pacc: no reset file for %s: is debugfs mounted on /sys/kernel/debug?\n",
				bdf);
		if (ret)
			return fail("reset through debugfs", ret);
	}
	printf("reset done (%s)\n", pci ? "PCI function reset" : "debugfs");
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
