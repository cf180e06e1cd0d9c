// SPDX-License-Identifier: GPL-2.0
/*
 * Every error path of export, attach, map and registration, driven by
 * failing the kernel's memory allocations one at a time.
 *
 * For each operation - opening the device, allocating a buffer (GEM
 * create), exporting it (PRIME handle-to-FD), attaching the test importer
 * in each of its modes, mapping its attachment, and registering the
 * dma-buf as an MR on rxe (REG_DMABUF_MR through our uverbs client) - the
 * test fails the 1st, 2nd, 3rd... slab or page allocation the call makes
 * (/proc/thread-self/fail-nth with failslab and fail_page_alloc), until the
 * call makes fewer allocations than the one to fail. At every fault point
 * the call must fail with ENOMEM (or succeed, when the kernel falls back
 * on a failed allocation: "absorbed"), leave nothing behind (device
 * memory, buffers, exported dma-bufs, attachments, DMA mappings, vmaps,
 * module references, file descriptors, importer state, rxe MRs), and the
 * same call without a fault must then give its normal result. The kernel
 * log must stay free of splats and kmemleak must find nothing at the end
 * of the run (the harness checks both).
 *
 * fail-nth fails only allocations of the calling thread, inside the call:
 * nothing else in the system sees a fault. Each test runs twice: for the
 * whole system call (variant whole_syscall), and for the allocations made
 * with p2p_accel's code on the stack only (variant in_p2p_accel: the fault
 * injection stack trace filter, require-start/require-end set to the
 * module's text as /sys/module/p2p_accel/sections and its .ko tell).
 * Every test prints how many fault points it exercised.
 *
 * Needs root, a kernel with FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC,
 * FAULT_INJECTION_DEBUG_FS and FAULT_INJECTION_STACKTRACE_FILTER,
 * p2p_accel.ko and p2pacc_importer.ko loaded (the .ko found through
 * MODULES, or P2PACC_KO), rxe up (RXE names it) and TOPOLOGY
 * (switch|rootbus): on rootbus the exporter refuses the edu's peer-to-peer
 * attachment (EXDEV), so attach sweeps up to that refusal and the map tests
 * skip. rxe is a CPU importer (it vmaps, never DMA-maps): registration
 * succeeds in both topologies.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/p2p_accel.h>

#include "accel_test.h"
#include "p2pacc_importer.h"
#include "importer_test.h"
#include "uverbs.h"
#include "rdma_test.h"
#include "kselftest_harness.h"

#define IMPORTER	"/dev/p2pacc_importer"
#define MODULE_NAME	"p2p_accel"
#define FAILSLAB	"/sys/kernel/debug/failslab"
#define FAIL_PAGE	"/sys/kernel/debug/fail_page_alloc"
#define PAGE		4096ULL
#define BUF_SIZE	(256ULL << 10)
#define DEV_IOVA	0x7f5500000000ULL
/* A call that allocates more than this is a bug of its own. */
#define MAX_POINTS	5000

/* ---- small file helpers ------------------------------------------------- */

/* Read a small file into @buf, trailing newline stripped; 0 or -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

static long long read_ll(const char *path)
{
	char buf[64];
	int ret;

	ret = read_text(path, buf, sizeof(buf));
	return ret ? ret : strtoll(buf, NULL, 0);
}

/* ---- the fault injection knobs ------------------------------------------ */

/*
 * What the sweep changes in debugfs, saved at setup and put back at
 * teardown. Probability stays 0 and no task has make-it-fail: only
 * fail-nth, which belongs to one thread, injects anything.
 *
 *  - ignore-gfp-wait N: GFP_KERNEL allocations (they may sleep) are what
 *    the code under test makes; by default they are never failed;
 *  - min-order 0: single pages too (default: order 1 and up);
 *  - ignore-gfp-highmem stays Y: user pages are not failed, so page
 *    faults of the test itself are not the kernel's error paths;
 *  - verbose 0: no stack dump per injected fault in the kernel log;
 *  - require-start/require-end: the stack trace filter (whole address
 *    space, or the module's text).
 */
struct knob {
	const char *dir;
	const char *name;
	char saved[64];
	bool changed;
};

static struct knob knobs[] = {
	{ .dir = FAILSLAB, .name = "ignore-gfp-wait" },
	{ .dir = FAILSLAB, .name = "verbose" },
	{ .dir = FAILSLAB, .name = "stacktrace-depth" },
	{ .dir = FAILSLAB, .name = "require-start" },
	{ .dir = FAILSLAB, .name = "require-end" },
	{ .dir = FAIL_PAGE, .name = "ignore-gfp-wait" },
	{ .dir = FAIL_PAGE, .name = "ignore-gfp-highmem" },
	{ .dir = FAIL_PAGE, .name = "min-order" },
	{ .dir = FAIL_PAGE, .name = "verbose" },
	{ .dir = FAIL_PAGE, .name = "stacktrace-depth" },
	{ .dir = FAIL_PAGE, .name = "require-start" },
	{ .dir = FAIL_PAGE, .name = "require-end" },
};

static int knob_set(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX];
	struct knob *k = NULL;
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++)
		if (!strcmp(knobs[i].dir, dir) && !strcmp(knobs[i].name, name))
			k = &knobs[i];
	if (!k)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!k->changed) {
		ret = read_text(path, k->saved, sizeof(k->saved));
		if (ret)
			return ret;
	}
	ret = write_file(path, value);
	if (!ret)
		k->changed = true;
	return ret;
}

static void knobs_restore(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (!knobs[i].changed)
			continue;
		snprintf(path, sizeof(path), "%s/%s", knobs[i].dir,
			 knobs[i].name);
		write_file(path, knobs[i].saved);
		knobs[i].changed = false;
	}
}

/* Both kinds of fault, on [@start, @end) of the stack trace filter. */
static int knobs_setup(unsigned long start, unsigned long end)
{
	static const char *const dirs[] = { FAILSLAB, FAIL_PAGE };
	char s[32], e[32];
	int ret = 0;

	snprintf(s, sizeof(s), "%lu", start);
	snprintf(e, sizeof(e), "%lu", end);
	for (int i = 0; i < 2 && !ret; i++) {
		ret = knob_set(dirs[i], "ignore-gfp-wait", "N");
		if (!ret)
			ret = knob_set(dirs[i], "verbose", "0");
		if (!ret)
			ret = knob_set(dirs[i], "stacktrace-depth", "32");
		/* end first: start must never pass it, even for a moment */
		if (!ret)
			ret = knob_set(dirs[i], "require-end", e);
		if (!ret)
			ret = knob_set(dirs[i], "require-start", s);
	}
	if (!ret)
		ret = knob_set(FAIL_PAGE, "ignore-gfp-highmem", "Y");
	if (!ret)
		ret = knob_set(FAIL_PAGE, "min-order", "0");
	return ret;
}

/* ---- fail-nth ----------------------------------------------------------- */

/* Fail the @n-th allocation of this thread from now on (0: none). */
static int fail_nth_set(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

/*
 * Stop injecting. Returns how many allocations were still to come before
 * the fault (0: the fault was injected), or -errno.
 */
static int fail_nth_disarm(int fd)
{
	char buf[16];
	ssize_t n;
	int ret;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	ret = fail_nth_set(fd, 0);
	return ret ? ret : (int)strtol(buf, NULL, 10);
}

/* ---- the module's text, for the stack trace filter ---------------------- */

static int read_whole(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *p;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size <= 0) {
		close(fd);
		return -EIO;
	}
	p = malloc(st.st_size);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, p, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(p);
		return -EIO;
	}
	*data = p;
	*len = st.st_size;
	return 0;
}

/*
 * Is @elf the module loaded as @mod? Their GNU build IDs (the note
 * section, also in /sys/module/<mod>/notes/) must be the same bytes.
 */
static int module_same_build(const char *mod, const uint8_t *elf, size_t len,
			     const Elf64_Shdr *sh, const char *names, int n)
{
	static const char note[] = ".note.gnu.build-id";
	char path[PATH_MAX];
	uint8_t buf[256];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/%s/notes/%s", mod, note);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, sizeof(buf));
	close(fd);
	if (got <= 0)
		return -EIO;
	for (int i = 0; i < n; i++) {
		if (strcmp(names + sh[i].sh_name, note))
			continue;
		if (sh[i].sh_offset + sh[i].sh_size > len)
			return -EINVAL;
		return sh[i].sh_size == (uint64_t)got &&
		       !memcmp(elf + sh[i].sh_offset, buf, got) ? 0 : -ESRCH;
	}
	return -ENOENT;
}

/*
 * [@start, @end): where the loaded module's code lies. The .ko gives the
 * size of each executable section, the module's sysfs sections their
 * addresses (init sections are gone after load). The .ko must be the one
 * loaded: their build IDs must match.
 */
static int module_text_range(const char *mod, const char *ko,
			     unsigned long *start, unsigned long *end,
			     char *why, size_t wlen)
{
	unsigned long lo = ULONG_MAX, hi = 0;
	const Elf64_Shdr *sh;
	const Elf64_Ehdr *eh;
	char path[PATH_MAX];
	const char *names;
	uint8_t *elf = NULL;
	size_t len = 0;
	int ret;

	ret = read_whole(ko, &elf, &len);
	if (ret) {
		snprintf(why, wlen, "%s: %s", ko, strerror(-ret));
		return ret;
	}
	eh = (const Elf64_Ehdr *)elf;
	ret = -EINVAL;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || !eh->e_shoff ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > len ||
	    eh->e_shstrndx >= eh->e_shnum) {
		snprintf(why, wlen, "%s: not a 64-bit ELF module", ko);
		goto out;
	}
	sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
	names = (const char *)elf + sh[eh->e_shstrndx].sh_offset;

	ret = module_same_build(mod, elf, len, sh, names, eh->e_shnum);
	if (ret) {
		snprintf(why, wlen, "%s against the loaded %s's build ID: %s",
			 ko, mod, strerror(-ret));
		goto out;
	}
	for (int i = 0; i < eh->e_shnum; i++) {
		const char *name = names + sh[i].sh_name;
		unsigned long addr;
		char buf[64];

		if ((sh[i].sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
		    (SHF_ALLOC | SHF_EXECINSTR) || !sh[i].sh_size ||
		    !strncmp(name, ".init", 5))
			continue;
		snprintf(path, sizeof(path), "/sys/module/%s/sections/%s",
			 mod, name);
		ret = read_text(path, buf, sizeof(buf));
		if (ret) {
			snprintf(why, wlen, "%s: %s", path, strerror(-ret));
			goto out;
		}
		addr = strtoul(buf, NULL, 16);
		if (!addr) {
			ret = -EPERM;
			snprintf(why, wlen, "%s reads 0: addresses hidden", path);
			goto out;
		}
		if (addr < lo)
			lo = addr;
		if (addr + sh[i].sh_size > hi)
			hi = addr + sh[i].sh_size;
	}
	ret = -ESRCH;
	if (lo >= hi) {
		snprintf(why, wlen, "%s: no executable section", ko);
		goto out;
	}
	*start = lo;
	*end = hi;
	ret = 0;
out:
	free(elf);
	return ret;
}

/* P2PACC_KO, else $MODULES/exporter/p2p_accel.ko (the harness's layout). */
static int module_ko_path(char *path, size_t len)
{
	const char *ko = getenv("P2PACC_KO"), *mods = getenv("MODULES");

	if (ko && *ko)
		snprintf(path, len, "%s", ko);
	else if (mods && *mods)
		snprintf(path, len, "%s/exporter/" MODULE_NAME ".ko", mods);
	else
		return -ENOENT;
	return 0;
}

/* ---- what must not leak ------------------------------------------------- */

struct state {
	long long devmem_used;		/* sysfs devmem_used */
	long long module_refs;		/* /sys/module/p2p_accel/refcnt */
	int buffers, exported;		/* debugfs "buffers" */
	unsigned int maps, vmaps;	/* their importers' mappings */
	int dmabufs, attachments;	/* every dma-buf in the system */
	int fds;			/* this process's open files */
	int imp_attached, imp_mapped;	/* the importer, when open */
	long mrs;			/* rxe's MRs, when registering */
};

static int count_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory itself */
}

static int read_buffers(const char *bdf, struct state *s)
{
	unsigned long long off, size;
	unsigned int maps, vmaps;
	char line[256];
	FILE *f;
	int fd;

	fd = accel_debugfs_open(bdf, "buffers", O_RDONLY);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, " maps ");

		if (sscanf(line, "offset %llx size %llu", &off, &size) != 2 ||
		    !m || sscanf(m, " maps %u vmaps %u", &maps, &vmaps) != 2) {
			fclose(f);
			return -EPROTO;
		}
		s->buffers++;
		s->exported += !!strstr(line, " exported ");
		s->maps += maps;
		s->vmaps += vmaps;
	}
	fclose(f);
	return 0;
}

/* Totals of /sys/kernel/debug/dma_buf/bufinfo: objects and attachments. */
static int read_bufinfo(struct state *s)
{
	char line[512];
	FILE *f;
	int n;

	f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "re");
	if (!f)
		return -errno;
	s->dmabufs = -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Total %d", &n) != 1)
			continue;
		if (strstr(line, " devices attached"))
			s->attachments += n;
		else if (strstr(line, " objects, "))
			s->dmabufs = n;
	}
	fclose(f);
	return s->dmabufs < 0 ? -EPROTO : 0;
}

struct ctx;
static int state_read(struct ctx *c, struct state *s);

/* The first difference between @a and @b, in words; 0 if none. */
static int state_diff(const struct state *a, const struct state *b,
		      char *why, size_t len)
{
	const struct {
		const char *what;
		long long a, b;
	} f[] = {
		{ "device memory in use (bytes)", a->devmem_used, b->devmem_used },
		{ "buffers holding device memory", a->buffers, b->buffers },
		{ "exported buffers", a->exported, b->exported },
		{ "importer DMA mappings", a->maps, b->maps },
		{ "importer vmaps", a->vmaps, b->vmaps },
		{ "dma-bufs in the system", a->dmabufs, b->dmabufs },
		{ "dma-buf attachments in the system", a->attachments,
		  b->attachments },
		{ "references to " MODULE_NAME, a->module_refs, b->module_refs },
		{ "open file descriptors", a->fds, b->fds },
		{ "importer attachment", a->imp_attached, b->imp_attached },
		{ "importer mapping", a->imp_mapped, b->imp_mapped },
		{ "rxe MRs", a->mrs, b->mrs },
	};

	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		if (f[i].a == f[i].b)
			continue;
		snprintf(why, len, "%s: %lld before, %lld after", f[i].what,
			 f[i].a, f[i].b);
		return 1;
	}
	return 0;
}

/* ---- the operations ----------------------------------------------------- */

struct ctx {
	char node[64], bdf[32], rxe[64];
	int nth;			/* /proc/thread-self/fail-nth */
	int accel;			/* the owner's FD, or -1 */
	uint32_t bo;			/* the buffer attach/map/register use */
	int dmabuf;			/* its dma-buf, or -1 */
	int imp;			/* the importer, or -1 */
	uint32_t mode;			/* P2PI_ATTACH_* of attach and map */
	struct rdma_link l;
	bool rdma;			/* the link is open: count MRs */
	/* made by one call, undone after it */
	int fd;
	uint32_t handle;
	struct uv_mr mr;
};

static int state_read(struct ctx *c, struct state *s)
{
	char path[PATH_MAX];
	int ret;

	memset(s, 0, sizeof(*s));
	s->devmem_used = read_sysfs_u64(c->bdf, "devmem_used");
	if (s->devmem_used < 0)
		return s->devmem_used;
	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", MODULE_NAME);
	s->module_refs = read_ll(path);
	if (s->module_refs < 0)
		return s->module_refs;
	ret = read_buffers(c->bdf, s);
	if (!ret)
		ret = read_bufinfo(s);
	if (ret)
		return ret;
	s->fds = count_fds();
	if (s->fds < 0)
		return s->fds;
	if (c->imp >= 0) {
		struct p2pi_status st = importer_status(c->imp);

		s->imp_attached = st.attached;
		s->imp_mapped = st.mapped;
	}
	if (c->rdma) {
		s->mrs = rdma_mr_count(c->rxe);
		if (s->mrs < 0)
			return s->mrs;
	}
	return 0;
}

/*
 * One operation: @run is the one system call faults are injected into;
 * @prepare and @cleanup run without faults before and after it, @undo
 * after it succeeded.
 */
struct op {
	const char *name;
	int (*prepare)(struct ctx *c);
	int (*run)(struct ctx *c);
	void (*undo)(struct ctx *c);
	void (*cleanup)(struct ctx *c);
};

static int open_run(struct ctx *c)
{
	c->fd = open(c->node, O_RDWR | O_CLOEXEC);
	return c->fd < 0 ? -errno : 0;
}

static void close_fd(struct ctx *c)
{
	close(c->fd);
	c->fd = -1;
}

static int alloc_run(struct ctx *c)
{
	return accel_alloc(c->accel, BUF_SIZE, 0, &c->handle);
}

static void alloc_undo(struct ctx *c)
{
	gem_close(c->accel, c->handle);
}

static int export_run(struct ctx *c)
{
	return prime_export(c->accel, c->handle, &c->fd);
}

static int attach_run(struct ctx *c)
{
	struct p2pi_attach a = { .fd = c->dmabuf, .mode = c->mode };

	return xioctl(c->imp, P2PI_IOC_ATTACH, &a);
}

static void detach(struct ctx *c)
{
	xioctl(c->imp, P2PI_IOC_DETACH, NULL);
}

/* An attachment without its mapping, as after P2PI_IOC_UNMAP. */
static int map_prepare(struct ctx *c)
{
	int ret = attach_run(c);

	if (!ret) {
		ret = xioctl(c->imp, P2PI_IOC_UNMAP, NULL);
		if (ret)
			detach(c);
	}
	return ret;
}

static int map_run(struct ctx *c)
{
	return xioctl(c->imp, P2PI_IOC_MAP, NULL);
}

static void unmap(struct ctx *c)
{
	xioctl(c->imp, P2PI_IOC_UNMAP, NULL);
}

static int reg_run(struct ctx *c)
{
	return uv_reg_dmabuf_mr(&c->l.ctx, c->l.pd, 0, BUF_SIZE, DEV_IOVA,
				c->dmabuf, UV_ACCESS_ALL, &c->mr);
}

static void reg_undo(struct ctx *c)
{
	uv_dereg_mr(&c->l.ctx, &c->mr);
}

static const struct op op_open = {
	.name = "open of the device node", .run = open_run, .undo = close_fd,
};

static const struct op op_alloc = {
	.name = "GEM alloc", .run = alloc_run, .undo = alloc_undo,
};

static const struct op op_export = {
	.name = "PRIME handle-to-fd", .prepare = alloc_run, .run = export_run,
	.undo = close_fd, .cleanup = alloc_undo,
};

static const struct op op_attach = {
	.name = "importer attach", .run = attach_run, .undo = detach,
};

static const struct op op_map = {
	.name = "importer map", .prepare = map_prepare, .run = map_run,
	.undo = unmap, .cleanup = detach,
};

static const struct op op_reg = {
	.name = "REG_DMABUF_MR", .run = reg_run, .undo = reg_undo,
};

/* The operation once, without faults: its result. */
static int run_once(struct ctx *c, const struct op *op)
{
	int ret;

	if (op->prepare) {
		ret = op->prepare(c);
		if (ret)
			return ret;
	}
	ret = op->run(c);
	if (!ret)
		op->undo(c);
	if (op->cleanup)
		op->cleanup(c);
	return ret;
}

static const char *res_str(int ret)
{
	static char buf[64];

	if (!ret)
		return "success";
	snprintf(buf, sizeof(buf), "%s (%d)", strerror(-ret), ret);
	return buf;
}

/*
 * Fail the 1st, 2nd, ... allocation of @op's call until it makes fewer.
 * @expect is its result without faults (0 or -errno). Prints and returns
 * the number of fault points.
 */
static unsigned int sweep(struct __test_metadata *_metadata, struct ctx *c,
			  const struct op *op, int expect)
{
	unsigned int n, enomem = 0, absorbed = 0;
	struct state before, after;
	char why[256];
	int ret, left;

	ret = run_once(c, op);
	ASSERT_EQ(expect, ret) TH_LOG("%s without faults: %s, expected %s",
				      op->name, res_str(ret), res_str(expect));

	for (n = 1; n <= MAX_POINTS; n++) {
		ret = state_read(c, &before);
		ASSERT_EQ(0, ret) TH_LOG("state: %s", strerror(-ret));
		if (op->prepare) {
			ret = op->prepare(c);
			ASSERT_EQ(0, ret) TH_LOG("%s, fault %u: preparing: %s",
						 op->name, n, res_str(ret));
		}

		ASSERT_EQ(0, fail_nth_set(c->nth, n));
		ret = op->run(c);
		left = fail_nth_disarm(c->nth);

		ASSERT_LE(0, left) TH_LOG("fail-nth: %s", strerror(-left));
		if (!ret)
			op->undo(c);
		if (op->cleanup)
			op->cleanup(c);
		ASSERT_EQ(0, state_read(c, &after));
		EXPECT_EQ(0, state_diff(&before, &after, why, sizeof(why)))
			TH_LOG("%s, fault %u (%s): leaked %s", op->name, n,
			       left ? "not injected" : "injected", why);
		if (left) {
			/* The call made n - left allocations: all swept. */
			ASSERT_EQ(expect, ret) TH_LOG("%s with no fault injected: %s",
						      op->name, res_str(ret));
			break;
		}

		if (ret == expect) {
			absorbed++;
		} else {
			EXPECT_EQ(-ENOMEM, ret)
				TH_LOG("%s, allocation %u failed: %s, expected ENOMEM or %s",
				       op->name, n, res_str(ret), res_str(expect));
			enomem++;
		}
		/* And the device takes the same call again. */
		ret = run_once(c, op);
		ASSERT_EQ(expect, ret) TH_LOG("%s after fault %u: %s, expected %s",
					      op->name, n, res_str(ret),
					      res_str(expect));
		if (_metadata->exit_code)
			break;
	}
	ASSERT_GE(MAX_POINTS, n) TH_LOG("%s still allocating after %u faults",
					op->name, MAX_POINTS);
	TH_LOG("%s: %u fault points: %u failed with ENOMEM, %u absorbed; result without faults: %s",
	       op->name, n - 1, enomem, absorbed, res_str(expect));
	return n - 1;
}

/* ---- fixture ------------------------------------------------------------ */

FIXTURE(faults) {
	struct ctx c;
	struct state baseline;
};

FIXTURE_VARIANT(faults) {
	bool in_module;		/* stack trace filter on p2p_accel's text */
};

FIXTURE_VARIANT_ADD(faults, whole_syscall) {
	.in_module = false,
};

FIXTURE_VARIANT_ADD(faults, in_p2p_accel) {
	.in_module = true,
};

/* Touch @len bytes of stack, so that mlockall() keeps them. */
static void __attribute__((noinline)) touch_stack(size_t len)
{
	char buf[len];

	memset(buf, 0, len);
	/* keep the stores */
	__asm__ __volatile__("" : : "r"(buf) : "memory");
}

FIXTURE_SETUP(faults)
{
	unsigned long start = 0, end = ULONG_MAX;
	struct ctx *c = &self->c;
	char ko[PATH_MAX], why[2 * PATH_MAX];
	int ret;

	memset(c, 0, sizeof(*c));
	c->nth = -1;
	c->accel = -1;
	c->dmabuf = -1;
	c->imp = -1;
	c->fd = -1;
	rdma_link_init(&c->l);

	ASSERT_EQ(0, access("/proc/thread-self/fail-nth", W_OK))
		TH_LOG("no fail-nth: the kernel needs CONFIG_FAULT_INJECTION");
	ASSERT_EQ(0, access(FAILSLAB "/require-start", W_OK))
		TH_LOG("no failslab stack trace filter in debugfs: the kernel needs FAILSLAB, FAULT_INJECTION_DEBUG_FS and FAULT_INJECTION_STACKTRACE_FILTER");
	ASSERT_EQ(0, access(FAIL_PAGE "/require-start", W_OK))
		TH_LOG("no fail_page_alloc in debugfs: the kernel needs FAIL_PAGE_ALLOC");
	/* Nothing but fail-nth may inject: no fault for anyone else. */
	ASSERT_EQ(0, read_ll(FAILSLAB "/probability"));
	ASSERT_EQ(0, read_ll(FAIL_PAGE "/probability"));

	ret = find_accel(c->node, sizeof(c->node), c->bdf, sizeof(c->bdf));
	ASSERT_EQ(0, ret) TH_LOG("no device bound to " MODULE_NAME);
	if (variant->in_module) {
		ASSERT_EQ(0, module_ko_path(ko, sizeof(ko)))
			TH_LOG("set MODULES or P2PACC_KO to find " MODULE_NAME ".ko");
		ret = module_text_range(MODULE_NAME, ko, &start, &end, why,
					sizeof(why));
		ASSERT_EQ(0, ret) TH_LOG("module text: %s", why);
		TH_LOG(MODULE_NAME " text: %#lx-%#lx (%lu bytes)", start, end,
		       end - start);
	}
	ret = knobs_setup(start, end);
	ASSERT_EQ(0, ret) TH_LOG("fault injection debugfs: %s", strerror(-ret));

	/*
	 * Page faults of this process must not consume or take an injected
	 * fault (a page table is a GFP_KERNEL page): everything it maps
	 * stays mapped.
	 */
	touch_stack(256 << 10);
	ASSERT_EQ(0, mlockall(MCL_CURRENT | MCL_FUTURE))
		TH_LOG("mlockall: %s", strerror(errno));

	c->nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->nth) TH_LOG("fail-nth: %s", strerror(errno));
	ASSERT_EQ(0, state_read(c, &self->baseline));
	ASSERT_EQ(0, self->baseline.devmem_used)
		TH_LOG("device memory in use before the test");
}

static void ctx_close(struct ctx *c)
{
	if (c->nth >= 0)
		fail_nth_set(c->nth, 0);
	rdma_link_close(&c->l);
	c->rdma = false;
	if (c->imp >= 0)
		close(c->imp);
	if (c->dmabuf >= 0)
		close(c->dmabuf);
	if (c->accel >= 0)
		close(c->accel);
	c->imp = -1;
	c->dmabuf = -1;
	c->accel = -1;
}

FIXTURE_TEARDOWN(faults)
{
	ctx_close(&self->c);
	if (self->c.nth >= 0)
		close(self->c.nth);
	knobs_restore();
}

/* Everything closed: the device and the system are as before the test. */
static void check_nothing_left(struct __test_metadata *_metadata,
			       FIXTURE_DATA(faults) *self)
{
	struct state now;
	char why[256];

	ctx_close(&self->c);
	ASSERT_EQ(0, state_read(&self->c, &now));
	EXPECT_EQ(0, state_diff(&self->baseline, &now, why, sizeof(why)))
		TH_LOG("after the test: %s", why);
}

static void open_owner(struct __test_metadata *_metadata, struct ctx *c)
{
	c->accel = open(c->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->accel) TH_LOG("open %s: %s", c->node, strerror(errno));
}

/* The owner, one buffer, exported. */
static void export_buffer(struct __test_metadata *_metadata, struct ctx *c)
{
	open_owner(_metadata, c);
	ASSERT_EQ(0, accel_alloc(c->accel, BUF_SIZE, 0, &c->bo));
	ASSERT_EQ(0, prime_export(c->accel, c->bo, &c->dmabuf));
}

static void open_importer(struct __test_metadata *_metadata, struct ctx *c)
{
	c->imp = open(IMPORTER, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->imp) TH_LOG("%s: %s (p2pacc_importer loaded?)",
				    IMPORTER, strerror(errno));
}

/* What the importer's attach gives without faults, here. */
static int attach_result(uint32_t mode)
{
	if (mode == P2PI_ATTACH_PLAIN || mode == P2PI_ATTACH_UNREVOCABLE)
		return -EOPNOTSUPP;
	return p2p_allowed() ? 0 : -EXDEV;
}

#define NEED_TOPOLOGY() do {						\
	if (!p2p_allowed() && !p2p_refused())				\
		SKIP(return, "TOPOLOGY is not switch or rootbus: expected p2p verdict unknown"); \
} while (0)

/* ---- export ------------------------------------------------------------- */

TEST_F_TIMEOUT(faults, owner_open_fails_cleanly_at_every_fault_point, 300)
{
	sweep(_metadata, &self->c, &op_open, 0);
	check_nothing_left(_metadata, self);
}

TEST_F_TIMEOUT(faults, gem_alloc_fails_cleanly_at_every_fault_point, 300)
{
	open_owner(_metadata, &self->c);
	sweep(_metadata, &self->c, &op_alloc, 0);
	check_nothing_left(_metadata, self);
}

TEST_F_TIMEOUT(faults, prime_export_fails_cleanly_at_every_fault_point, 300)
{
	open_owner(_metadata, &self->c);
	sweep(_metadata, &self->c, &op_export, 0);
	check_nothing_left(_metadata, self);
}

/* ---- attach, in each mode of the test importer -------------------------- */

static void attach_test(struct __test_metadata *_metadata,
			FIXTURE_DATA(faults) *self, uint32_t mode)
{
	export_buffer(_metadata, &self->c);
	open_importer(_metadata, &self->c);
	self->c.mode = mode;
	sweep(_metadata, &self->c, &op_attach, attach_result(mode));
	check_nothing_left(_metadata, self);
}

TEST_F_TIMEOUT(faults, attach_revocable_fails_cleanly_at_every_fault_point, 300)
{
	NEED_TOPOLOGY();
	attach_test(_metadata, self, P2PI_ATTACH_REVOCABLE);
}

TEST_F_TIMEOUT(faults, attach_dynamic_fails_cleanly_at_every_fault_point, 300)
{
	NEED_TOPOLOGY();
	attach_test(_metadata, self, P2PI_ATTACH_DYNAMIC);
}

TEST_F_TIMEOUT(faults, attach_lazy_fails_cleanly_at_every_fault_point, 300)
{
	NEED_TOPOLOGY();
	attach_test(_metadata, self, P2PI_ATTACH_LAZY);
}

TEST_F_TIMEOUT(faults, attach_unrevocable_fails_cleanly_at_every_fault_point, 300)
{
	attach_test(_metadata, self, P2PI_ATTACH_UNREVOCABLE);
}

TEST_F_TIMEOUT(faults, attach_plain_fails_cleanly_at_every_fault_point, 300)
{
	attach_test(_metadata, self, P2PI_ATTACH_PLAIN);
}

/* ---- map ---------------------------------------------------------------- */

static void map_test(struct __test_metadata *_metadata,
		     FIXTURE_DATA(faults) *self, uint32_t mode)
{
	if (p2p_refused())
		SKIP(return, "rootbus: no attachment to map, the exporter refuses every peer (EXDEV)");
	if (!p2p_allowed())
		SKIP(return, "TOPOLOGY is not switch or rootbus: expected p2p verdict unknown");
	export_buffer(_metadata, &self->c);
	open_importer(_metadata, &self->c);
	self->c.mode = mode;
	sweep(_metadata, &self->c, &op_map, 0);
	check_nothing_left(_metadata, self);
}

TEST_F_TIMEOUT(faults, map_pinned_fails_cleanly_at_every_fault_point, 300)
{
	map_test(_metadata, self, P2PI_ATTACH_REVOCABLE);
}

TEST_F_TIMEOUT(faults, map_dynamic_fails_cleanly_at_every_fault_point, 300)
{
	map_test(_metadata, self, P2PI_ATTACH_DYNAMIC);
}

/* ---- registration ------------------------------------------------------- */

/*
 * After the sweep: an MR of the buffer carries an RDMA WRITE from host
 * memory into device memory, byte-exact (seen through the owner's
 * mapping).
 */
static void check_mr_carries_data(struct __test_metadata *_metadata,
				  struct ctx *c)
{
	uint8_t *host, *dev;
	struct uv_mr hmr;
	struct uv_send_wr wr = {
		.wr_id = 0xfa17,
		.opcode = IB_UVERBS_WR_RDMA_WRITE,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = 1,
	};
	int ret;

	host = aligned_alloc(PAGE, PAGE);
	ASSERT_NE(NULL, host);
	fill(host, PAGE, 77);
	ASSERT_EQ(0, uv_reg_mr(&c->l.ctx, c->l.pd, host, PAGE,
			       (uintptr_t)host, UV_ACCESS_ALL, &hmr));
	ASSERT_EQ(0, reg_run(c));
	dev = map_gem(c->accel, c->bo, BUF_SIZE);
	ASSERT_NE(NULL, dev) TH_LOG("mmap: %s", strerror(errno));
	memset(dev, 0, 2 * PAGE);

	wr.sge[0] = (struct uv_sge){ (uintptr_t)host, PAGE, hmr.lkey };
	wr.remote_addr = DEV_IOVA + PAGE;
	wr.rkey = c->mr.rkey;
	ret = rdma_run_wr(&c->l, &wr);
	EXPECT_EQ(0, ret) TH_LOG("RDMA WRITE into the MR: %s",
				 rdma_result_str(ret));
	EXPECT_EQ(-1, check_fill(dev + PAGE, PAGE, 77));
	EXPECT_EQ(-1, check_byte(dev, PAGE, 0));

	munmap(dev, BUF_SIZE);
	EXPECT_EQ(0, uv_dereg_mr(&c->l.ctx, &c->mr));
	EXPECT_EQ(0, uv_dereg_mr(&c->l.ctx, &hmr));
	free(host);
}

TEST_F_TIMEOUT(faults, reg_dmabuf_mr_fails_cleanly_at_every_fault_point, 600)
{
	struct ctx *c = &self->c;
	int ret;

	ret = rdma_find_rxe(c->rxe, sizeof(c->rxe));
	ASSERT_EQ(0, ret) TH_LOG("no rxe device (is Soft-RoCE up?)");
	ret = rdma_link_open(&c->l, c->rxe);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s (no RoCE v2 GID of an IPv4 address yet?)",
				 c->rxe, strerror(-ret));
	c->rdma = true;
	export_buffer(_metadata, c);
	sweep(_metadata, c, &op_reg, 0);
	check_mr_carries_data(_metadata, c);
	check_nothing_left(_metadata, self);
}

TEST_HARNESS_MAIN
