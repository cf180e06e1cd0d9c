// SPDX-License-Identifier: MIT
/*
 * p2pacc_bench: zero-copy RDMA from accelerator memory against staging it
 * through host memory, on one RDMA device looped back to itself.
 *
 * Two RC QPs of one context are connected to each other. For each mode,
 * RDMA op and message size it measures bandwidth (average and best batch),
 * message rate, latency (p50, p99) and the CPU time the whole machine spent
 * per byte moved, and checks every byte delivered:
 *
 *   host         both ends in host memory, ibv_reg_mr()
 *   dmabuf       both ends in device memory, exported as dma-bufs and
 *                registered with ibv_reg_dmabuf_mr(): zero-copy
 *   staged-mmap  the data lives in device memory, but the RDMA goes between
 *                host buffers: device -> host copy before, host -> device
 *                after, both by the CPU through the buffer's mapping
 *   staged-edu   the same with the copies done by the edu DMA engine (QEMU's
 *                edu, driven by the p2pacc_importer test module), when
 *                /dev/p2pacc_importer exists
 *
 * Then the cost of ibv_reg_dmabuf_mr() against ibv_reg_mr() for the same
 * sizes, the revoke cost (a device reset with N dma-buf MRs registered:
 * the time until every MR is unusable, then a check that each one is), and
 * the guest's memcpy bandwidth, the physical limit of any copy here.
 *
 * The clock: every figure comes from CLOCK_MONOTONIC. Its clocksource and
 * resolution are printed, and a figure measured over an interval shorter
 * than MIN_TICKS clock ticks is refused (printed "-", null in JSON).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/udmabuf.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pacc.h"
#include "p2pacc_importer.h"

#define PROG		"p2pacc_bench"
#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
/* A timed interval must span this many clock ticks to be reported. */
#define MIN_TICKS	10
#define MAX_SIZES	32
#define MAX_COUNTS	8
#define IMPORTER_DEV	"/dev/p2pacc_importer"
#define MIB		1048576.0

enum mode { M_HOST, M_DMABUF, M_STAGED_MMAP, M_STAGED_EDU, M_NR };
enum op { OP_WRITE, OP_READ, OP_SEND, OP_NR };

static const char *const mode_name[M_NR] = {
	"host", "dmabuf", "staged-mmap", "staged-edu"
};
static const char *const op_name[OP_NR] = { "write", "read", "send" };

struct opts {
	const char *ib_dev;
	int ib_port;
	int gid_idx;
	const char *accel;
	unsigned int modes;		/* bit per enum mode */
	unsigned int ops;		/* bit per enum op */
	uint64_t sizes[MAX_SIZES];
	int nsizes;
	uint64_t reg_sizes[MAX_SIZES];
	int nreg_sizes;
	unsigned int revoke_counts[MAX_COUNTS];
	int nrevoke_counts;
	uint64_t bytes;			/* data per point */
	uint64_t lat_bytes;		/* data per latency run */
	unsigned int batches;
	unsigned int depth;
	uint64_t edu_max;		/* largest message staged by the edu */
	uint64_t memcpy_size;
	const char *json;
	int timeout;
	bool quiet;
};

/* A registered buffer: host memory or a dma-buf of device memory. */
struct buf {
	bool dev;
	uint8_t *cpu;			/* CPU mapping; also the MR's iova */
	uint64_t size;
	uint32_t handle;
	int dmabuf_fd;
	int memfd;			/* host buffers the edu reaches */
	struct ibv_mr *mr;
};

/* One open file of the importer = one attachment, for the edu's DMA. */
struct edu_att {
	int fd;
};

struct stats {
	bool valid;
	uint64_t iters;
	double bw_avg, bw_peak;		/* MiB/s, as perftest */
	double msg_rate;		/* messages/s */
	double lat_p50, lat_p99;	/* us; NAN: below the clock's resolution */
	unsigned int lat_n;
	double cpu_ns_per_byte;		/* all CPUs, from /proc/stat; NAN: too coarse */
	double proc_cpu_ns_per_byte;	/* this process (rusage) */
	double stage_us_per_msg;	/* staged modes: the copies' own time */
	double stage_share;		/* of the transfer time */
	double copied_per_byte;
	double *batch_bw;		/* MiB/s of each batch, in time order */
	unsigned int nbatch;
	bool verified;
};

struct ctx {
	struct opts o;
	struct ibv_context *ibctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	struct ibv_port_attr port;
	union ibv_gid gid;
	int max_rd_atomic;

	struct p2pacc *accel;
	char accel_path[PATH_MAX];
	char accel_bdf[64];
	bool edu;

	char clocksource[64];
	double res_ns;			/* clock resolution: its smallest step */
	double getres_ns;		/* what clock_getres() says */
	long clk_tck;

	uint64_t max_size;
	uint64_t stage_size;		/* each staging buffer */
	struct buf src_host, dst_host, src_dev, dst_dev, dst_stg, stage_tx, stage_rx;
	struct edu_att edu_src, edu_dst, edu_tx, edu_rx;
	uint8_t *pattern;		/* expected contents of a source */

	struct stats res[OP_NR][MAX_SIZES][M_NR];
	double memcpy_mbs[3];		/* MiB/s host->host, device->host, host->device */
	double reg_us[MAX_SIZES][2];	/* [size][0 host, 1 dma-buf] */
	double dereg_us[MAX_SIZES][2];
	double revoke_us[MAX_COUNTS];
	bool revoke_ok[MAX_COUNTS];
	bool failed;
};

/* ---- small helpers ------------------------------------------------------ */

static void verr(const char *what, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, PROG ": %s: %s (%s)\n", what, strerror(err),
		name ? name : "?");
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* An interval the clock can time, or NAN. */
static double timed(struct ctx *c, double ns)
{
	return ns >= MIN_TICKS * c->res_ns ? ns : NAN;
}

static int parse_size(const char *s, uint64_t *out)
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
	if (*end || !v)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "4K,64K,1M" or a range of powers of two "4K-4M" (every factor 4 by "4K-4M/4"). */
static int parse_sizes(const char *arg, uint64_t *sizes, int *n)
{
	char *s = strdup(arg), *tok, *save, *dash, *slash;
	uint64_t lo, hi, step = 2;
	int ret = 0;

	*n = 0;
	for (tok = strtok_r(s, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save)) {
		slash = strchr(tok, '/');
		if (slash) {
			*slash = '\0';
			if (parse_size(slash + 1, &step) || step < 2)
				ret = -EINVAL;
		}
		dash = strchr(tok, '-');
		if (dash) {
			*dash = '\0';
			if (parse_size(tok, &lo) || parse_size(dash + 1, &hi) || lo > hi)
				ret = -EINVAL;
			for (uint64_t v = lo; !ret && v <= hi; v *= step) {
				if (*n == MAX_SIZES)
					ret = -E2BIG;
				else
					sizes[(*n)++] = v;
			}
		} else if (parse_size(tok, &lo)) {
			ret = -EINVAL;
		} else if (*n == MAX_SIZES) {
			ret = -E2BIG;
		} else {
			sizes[(*n)++] = lo;
		}
	}
	free(s);
	return ret ? ret : (*n ? 0 : -EINVAL);
}

static int parse_names(const char *arg, const char *const *names, int nr,
		       unsigned int *mask)
{
	char *s = strdup(arg), *tok, *save;
	int ret = 0;

	*mask = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < nr && strcmp(tok, names[i]); i++)
			;
		if (i == nr) {
			fprintf(stderr, PROG ": unknown name '%s'\n", tok);
			ret = -EINVAL;
		}
		*mask |= 1u << i;
	}
	free(s);
	return ret ? ret : (*mask ? 0 : -EINVAL);
}

static int parse_counts(const char *arg, unsigned int *counts, int *n)
{
	char *s = strdup(arg), *tok, *save, *end;
	int ret = 0;

	*n = 0;
	for (tok = strtok_r(s, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || !v || v > 100000 || *n == MAX_COUNTS)
			ret = -EINVAL;
		else
			counts[(*n)++] = v;
	}
	free(s);
	return ret;
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: " PROG " [options]\n"
	      "\n"
	      "Zero-copy RDMA from accelerator device memory (a dma-buf MR) against\n"
	      "host memory and against staging the data through host memory, on one\n"
	      "RDMA device looped back to itself (two RC QPs of one process).\n"
	      "\n"
	      "Modes (--modes):\n"
	      "  host         both ends in host memory (ibv_reg_mr)\n"
	      "  dmabuf       both ends in device memory (ibv_reg_dmabuf_mr): zero-copy\n"
	      "  staged-mmap  device memory, copied to host memory by the CPU through\n"
	      "               the buffer's mapping, RDMA between host buffers, copied\n"
	      "               back into device memory on the receiving side\n"
	      "  staged-edu   the same, copies done by the edu DMA engine (needs the\n"
	      "               p2pacc_importer module: " IMPORTER_DEV "); QEMU's edu\n"
	      "               runs one DMA of at most 4095 bytes per ~100 ms, so only\n"
	      "               sizes up to --edu-max are run\n"
	      "\n"
	      "For each mode, op (write, read, send) and size: average and best-batch\n"
	      "bandwidth, message rate, p50/p99 latency, CPU time per byte (all CPUs),\n"
	      "for staged modes the copies' own time and bytes copied per byte\n"
	      "delivered; every byte delivered is checked. Then ibv_reg_mr() against\n"
	      "ibv_reg_dmabuf_mr() for --reg-sizes, the revoke cost (device reset with\n"
	      "N dma-buf MRs: time until all are unusable, then each one is checked;\n"
	      "needs root and debugfs), and the guest's memcpy bandwidth.\n"
	      "\n"
	      "Options:\n"
	      "  -d, --ib-dev NAME       RDMA device (default: the first)\n"
	      "  -i, --ib-port N         its port (default 1)\n"
	      "  -g, --gid-idx N         GID index (default: the first RoCE v2 IPv4 GID)\n"
	      "  -a, --accel PATH        accelerator node (default: the first p2p_accel)\n"
	      "  -m, --modes LIST        default host,dmabuf,staged-mmap,staged-edu\n"
	      "                          (staged-edu only when the importer is there)\n"
	      "  -o, --ops LIST          default write,read,send\n"
	      "  -s, --sizes LIST        message sizes: 4K,64K or ranges 4K-4M (powers\n"
	      "                          of two) or 4K-4M/4 (factor 4); default 4K-4M/4\n"
	      "  -b, --bytes SIZE        data moved per mode and point (default 32M)\n"
	      "  -l, --lat-bytes SIZE    data per latency run, 10..200 messages (default 4M)\n"
	      "  -B, --batches N         bandwidth batches per point, the modes' batches\n"
	      "                          interleaved; peak = the best one (default 8)\n"
	      "  -t, --tx-depth N        messages in flight (default 32)\n"
	      "  -r, --reg-sizes LIST    registration sizes (default 4K-64M/4, 0 to skip)\n"
	      "  -R, --revoke LIST       MR counts for the revoke cost (default\n"
	      "                          1,10,100,1000; 0 to skip)\n"
	      "  -e, --edu-max SIZE      largest staged-edu message (default 4K)\n"
	      "  -M, --memcpy SIZE       memcpy bandwidth buffer (default 16M, 0 to skip)\n"
	      "  -j, --json FILE         write every figure as JSON\n"
	      "  -T, --timeout SEC       wait at most SEC for a completion (default 60)\n"
	      "  -q, --quiet             no progress lines\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Figures timed over less than 10 ticks of the clock are refused (\"-\",\n"
	      "null in JSON); the clocksource and its resolution are printed first.\n"
	      "Exit status: 0 every transfer completed and every byte checked, 1 a\n"
	      "failure, 2 usage error.\n",
	      f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "ib-port", required_argument, NULL, 'i' },
		{ "gid-idx", required_argument, NULL, 'g' },
		{ "accel", required_argument, NULL, 'a' },
		{ "modes", required_argument, NULL, 'm' },
		{ "ops", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "lat-bytes", required_argument, NULL, 'l' },
		{ "batches", required_argument, NULL, 'B' },
		{ "tx-depth", required_argument, NULL, 't' },
		{ "reg-sizes", required_argument, NULL, 'r' },
		{ "revoke", required_argument, NULL, 'R' },
		{ "edu-max", required_argument, NULL, 'e' },
		{ "memcpy", required_argument, NULL, 'M' },
		{ "json", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	unsigned int v;
	int c;

	*o = (struct opts){
		.ib_port = 1, .gid_idx = -1, .modes = (1u << M_NR) - 1,
		.ops = (1u << OP_NR) - 1, .bytes = 32 << 20, .lat_bytes = 4 << 20,
		.batches = 8, .depth = 32, .edu_max = 4096, .memcpy_size = 16 << 20,
		.timeout = 60,
	};
	parse_sizes("4K-4M/4", o->sizes, &o->nsizes);
	parse_sizes("4K-64M/4", o->reg_sizes, &o->nreg_sizes);
	parse_counts("1,10,100,1000", o->revoke_counts, &o->nrevoke_counts);

	while ((c = getopt_long(argc, argv, "d:i:g:a:m:o:s:b:l:B:t:r:R:e:M:j:T:qh",
				lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->ib_dev = optarg; break;
		case 'a': o->accel = optarg; break;
		case 'j': o->json = optarg; break;
		case 'q': o->quiet = true; break;
		case 'i':
			if (parse_uint(optarg, 1, 255, &v))
				goto bad;
			o->ib_port = v;
			break;
		case 'g':
			if (parse_uint(optarg, 0, 255, &v))
				goto bad;
			o->gid_idx = v;
			break;
		case 'm':
			if (parse_names(optarg, mode_name, M_NR, &o->modes))
				goto bad;
			break;
		case 'o':
			if (parse_names(optarg, op_name, OP_NR, &o->ops))
				goto bad;
			break;
		case 's':
			if (parse_sizes(optarg, o->sizes, &o->nsizes))
				goto bad;
			break;
		case 'r':
			if (!strcmp(optarg, "0"))
				o->nreg_sizes = 0;
			else if (parse_sizes(optarg, o->reg_sizes, &o->nreg_sizes))
				goto bad;
			break;
		case 'R':
			if (!strcmp(optarg, "0"))
				o->nrevoke_counts = 0;
			else if (parse_counts(optarg, o->revoke_counts, &o->nrevoke_counts))
				goto bad;
			break;
		case 'b':
			if (parse_size(optarg, &o->bytes))
				goto bad;
			break;
		case 'l':
			if (parse_size(optarg, &o->lat_bytes))
				goto bad;
			break;
		case 'e':
			if (parse_size(optarg, &o->edu_max))
				goto bad;
			break;
		case 'M':
			if (!strcmp(optarg, "0"))
				o->memcpy_size = 0;
			else if (parse_size(optarg, &o->memcpy_size))
				goto bad;
			break;
		case 'B':
			if (parse_uint(optarg, 1, 1000, &o->batches))
				goto bad;
			break;
		case 't':
			if (parse_uint(optarg, 1, 1024, &o->depth))
				goto bad;
			break;
		case 'T':
			if (parse_uint(optarg, 1, 86400, &v))
				goto bad;
			o->timeout = v;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	for (int i = 0; i < o->nsizes; i++) {
		if (o->sizes[i] > (1ULL << 30)) {
			fprintf(stderr, PROG ": message size %" PRIu64 " over 1 GiB\n", o->sizes[i]);
			return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, PROG ": bad value '%s' for -%c (see --help)\n", optarg, c);
	return -1;
}

static void progress(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void progress(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->o.quiet)
		return;
	va_start(ap, fmt);
	fputs("  ... ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

/* ---- the clock ------------------------------------------------------------ */

/*
 * The resolution is what the clock really steps by: the smallest nonzero
 * difference between back-to-back reads. A jiffies clocksource steps by a
 * tick; TSC and HPET by the cost of a read. clock_getres() is no help:
 * without CONFIG_HIGH_RES_TIMERS it returns the tick for any clocksource.
 */
static void probe_clock(struct ctx *c)
{
	struct timespec res;
	double step = INFINITY, t0, t1;
	FILE *f;

	snprintf(c->clocksource, sizeof(c->clocksource), "unknown");
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	if (f) {
		if (fgets(c->clocksource, sizeof(c->clocksource), f))
			c->clocksource[strcspn(c->clocksource, "\n")] = '\0';
		fclose(f);
	}
	for (int i = 0; i < 20; i++) {
		double start = now_ns();

		t0 = now_ns();
		do {
			t1 = now_ns();
		} while (t1 == t0 && t1 - start < 50e6);
		if (t1 > t0 && t1 - t0 < step)
			step = t1 - t0;
	}
	clock_getres(CLOCK_MONOTONIC, &res);
	c->getres_ns = res.tv_sec * 1e9 + res.tv_nsec;
	c->res_ns = step;
	c->clk_tck = sysconf(_SC_CLK_TCK);
}

/* Non-idle time of all CPUs so far, in ns (/proc/stat, USER_HZ ticks). */
static double cpu_busy_ns(struct ctx *c)
{
	unsigned long long v[10] = { 0 };
	double busy = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return NAN;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		   &v[8], &v[9]) < 8) {
		fclose(f);
		return NAN;
	}
	fclose(f);
	/* user nice system idle iowait irq softirq steal: all but idle, iowait */
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return busy * 1e9 / c->clk_tck;
}

static double proc_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

/* ---- RDMA ------------------------------------------------------------------ */

static struct ibv_context *open_ib_dev(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int n;

	list = ibv_get_device_list(&n);
	if (!list) {
		verr("ibv_get_device_list", errno);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (name && strcmp(ibv_get_device_name(list[i]), name))
			continue;
		ctx = ibv_open_device(list[i]);
		if (!ctx)
			verr("ibv_open_device", errno);
		break;
	}
	if (!ctx && !n)
		fprintf(stderr, PROG ": no RDMA device\n");
	else if (!ctx && name)
		fprintf(stderr, PROG ": no RDMA device named %s\n", name);
	ibv_free_device_list(list);
	return ctx;
}

static int pick_gid(struct ctx *c)
{
	struct ibv_gid_entry e;

	for (int i = 0; i < c->port.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(c->ibctx, c->o.ib_port, i, &e, 0))
			continue;
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)e.gid.raw))
			return i;
	}
	return 0;
}

static int create_qps(struct ctx *c)
{
	for (int i = 0; i < 2; i++) {
		struct ibv_qp_init_attr qpia = {
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = c->o.depth, .max_recv_wr = c->o.depth,
				 .max_send_sge = 1, .max_recv_sge = 1 },
			.sq_sig_all = 1,
		};

		c->cq[i] = ibv_create_cq(c->ibctx, 2 * c->o.depth + 2, NULL, NULL, 0);
		if (!c->cq[i]) {
			verr("ibv_create_cq", errno);
			return -1;
		}
		qpia.send_cq = qpia.recv_cq = c->cq[i];
		c->qp[i] = ibv_create_qp(c->pd, &qpia);
		if (!c->qp[i]) {
			verr("ibv_create_qp", errno);
			return -1;
		}
	}
	return 0;
}

static int setup_ib(struct ctx *c)
{
	struct ibv_device_attr attr;
	int ret;

	c->ibctx = open_ib_dev(c->o.ib_dev);
	if (!c->ibctx)
		return -1;
	ret = ibv_query_port(c->ibctx, c->o.ib_port, &c->port);
	if (ret) {
		verr("ibv_query_port", ret);
		return -1;
	}
	if (c->port.state != IBV_PORT_ACTIVE) {
		fprintf(stderr, PROG ": %s port %d is not active\n",
			ibv_get_device_name(c->ibctx->device), c->o.ib_port);
		return -1;
	}
	if (c->port.link_layer == IBV_LINK_LAYER_ETHERNET && c->o.gid_idx < 0)
		c->o.gid_idx = pick_gid(c);
	if (c->o.gid_idx >= 0) {
		ret = ibv_query_gid(c->ibctx, c->o.ib_port, c->o.gid_idx, &c->gid);
		if (ret) {
			verr("ibv_query_gid", ret);
			return -1;
		}
	}
	ret = ibv_query_device(c->ibctx, &attr);
	if (ret) {
		verr("ibv_query_device", ret);
		return -1;
	}
	c->max_rd_atomic = attr.max_qp_rd_atom < 16 ? attr.max_qp_rd_atom : 16;
	if (c->max_rd_atomic < 1)
		c->max_rd_atomic = 1;
	if ((int)c->o.depth > attr.max_qp_wr)
		c->o.depth = attr.max_qp_wr;
	c->pd = ibv_alloc_pd(c->ibctx);
	if (!c->pd) {
		verr("ibv_alloc_pd", errno);
		return -1;
	}
	return create_qps(c);
}

/* RESET -> INIT -> RTR -> RTS, with @peer as the remote QP. */
static int connect_qp(struct ctx *c, struct ibv_qp *qp, struct ibv_qp *peer)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = c->o.ib_port,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	};
	int ret;

	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			    IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (ret)
		goto err;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTR,
		.path_mtu = c->port.active_mtu,
		.dest_qp_num = peer->qp_num,
		.max_dest_rd_atomic = c->max_rd_atomic,
		.min_rnr_timer = 1,
		.ah_attr = { .dlid = c->port.lid, .port_num = c->o.ib_port },
	};
	if (c->o.gid_idx >= 0) {
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = c->gid;
		a.ah_attr.grh.sgid_index = c->o.gid_idx;
		a.ah_attr.grh.hop_limit = 1;
	}
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ret)
		goto err;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,
		.retry_cnt = 7,
		.rnr_retry = 7,
		.max_rd_atomic = c->max_rd_atomic,
	};
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			    IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			    IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret)
		goto err;
	return 0;
err:
	verr("ibv_modify_qp", ret);
	return -1;
}

/* Both QPs back to RTS after an error, their CQs drained. */
static int reconnect(struct ctx *c)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc[16];

	for (int i = 0; i < 2; i++) {
		int ret = ibv_modify_qp(c->qp[i], &a, IBV_QP_STATE);

		if (ret) {
			verr("ibv_modify_qp(RESET)", ret);
			return -1;
		}
		while (ibv_poll_cq(c->cq[i], 16, wc) > 0)
			;
	}
	return connect_qp(c, c->qp[0], c->qp[1]) || connect_qp(c, c->qp[1], c->qp[0]);
}

static int post_op(struct ctx *c, enum op op, uint64_t id, void *laddr,
		   uint32_t lkey, void *raddr, uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = &sge, .num_sge = 1,
		.opcode = op == OP_WRITE ? IBV_WR_RDMA_WRITE :
			  op == OP_READ ? IBV_WR_RDMA_READ : IBV_WR_SEND,
	}, *bad;
	int ret;

	if (op != OP_SEND) {
		wr.wr.rdma.remote_addr = (uintptr_t)raddr;
		wr.wr.rdma.rkey = rkey;
	}
	ret = ibv_post_send(c->qp[0], &wr, &bad);
	if (ret)
		verr("ibv_post_send", ret);
	return ret ? -1 : 0;
}

static int post_recv(struct ctx *c, uint64_t id, void *addr, uint32_t lkey,
		     uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 }, *bad;
	int ret;

	ret = ibv_post_recv(c->qp[1], &wr, &bad);
	if (ret)
		verr("ibv_post_recv", ret);
	return ret ? -1 : 0;
}

/*
 * Poll @cq for up to @max completions, all of which must succeed; waits
 * (busy polling, as perftest does) until at least one arrives.
 */
static int poll_some(struct ctx *c, int cqi, struct ibv_wc *wc, int max,
		     const char *what)
{
	double deadline = now_ns() + c->o.timeout * 1e9;
	unsigned int spins = 0;
	int n;

	/* The clock only now and then: a read may be an emulated MMIO access. */
	while ((n = ibv_poll_cq(c->cq[cqi], max, wc)) == 0) {
		if (++spins % 1024 == 0 && now_ns() > deadline) {
			fprintf(stderr, PROG ": %s: no completion after %d s\n",
				what, c->o.timeout);
			return -1;
		}
	}
	if (n < 0) {
		fprintf(stderr, PROG ": %s: ibv_poll_cq failed\n", what);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			fprintf(stderr, PROG ": %s: completion status %s\n", what,
				ibv_wc_status_str(wc[i].status));
			return -1;
		}
	}
	return n;
}

/* ---- memory ---------------------------------------------------------------- */

static const int mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			     IBV_ACCESS_REMOTE_READ;

/* Host memory in a memfd (so the edu can reach it through udmabuf). */
static int host_alloc(struct buf *b, uint64_t size, bool reg, struct ibv_pd *pd)
{
	long page = sysconf(_SC_PAGESIZE);

	*b = (struct buf){ .size = (size + page - 1) & ~(page - 1), .dmabuf_fd = -1 };
	b->memfd = memfd_create("p2pacc_bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->memfd < 0 || ftruncate(b->memfd, b->size) ||
	    fcntl(b->memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		verr("memfd", errno);
		return -1;
	}
	b->cpu = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	if (b->cpu == MAP_FAILED) {
		b->cpu = NULL;
		verr("mmap", errno);
		return -1;
	}
	memset(b->cpu, 0, b->size);
	if (reg) {
		b->mr = ibv_reg_mr(pd, b->cpu, b->size, mr_access);
		if (!b->mr) {
			verr("ibv_reg_mr", errno);
			return -1;
		}
	}
	return 0;
}

/* Device memory, exported, mapped; its MR's iova is the mapping's address. */
static int dev_alloc(struct ctx *c, struct buf *b, uint64_t size, bool reg)
{
	int ret;

	*b = (struct buf){ .dev = true, .dmabuf_fd = -1, .memfd = -1 };
	ret = p2pacc_alloc(c->accel, size, 0, &b->handle, &b->size);
	if (ret) {
		verr("p2pacc_alloc", -ret);
		return -1;
	}
	ret = p2pacc_export(c->accel, b->handle, O_RDWR | O_CLOEXEC, &b->dmabuf_fd);
	if (ret) {
		verr("p2pacc_export", -ret);
		return -1;
	}
	ret = p2pacc_mmap(c->accel, b->handle, b->size, (void **)&b->cpu);
	if (ret) {
		b->cpu = NULL;
		verr("p2pacc_mmap", -ret);
		return -1;
	}
	if (reg) {
		b->mr = ibv_reg_dmabuf_mr(c->pd, 0, b->size, (uintptr_t)b->cpu,
					  b->dmabuf_fd, mr_access);
		if (!b->mr) {
			verr("ibv_reg_dmabuf_mr", errno);
			if (errno == EXDEV)
				fprintf(stderr, PROG ": the PCI topology does not allow peer-to-peer DMA between the accelerator and the NIC\n");
			return -1;
		}
	}
	return 0;
}

static void buf_free(struct ctx *c, struct buf *b)
{
	if (b->mr)
		ibv_dereg_mr(b->mr);
	if (b->cpu)
		munmap(b->cpu, b->size);
	if (b->dmabuf_fd >= 0)
		close(b->dmabuf_fd);
	if (b->dev && b->handle)
		p2pacc_free(c->accel, b->handle);
	if (!b->dev && b->memfd >= 0)
		close(b->memfd);
	*b = (struct buf){ .dmabuf_fd = -1, .memfd = -1 };
}

/* A 32-bit LCG: a pattern no two seeds share. */
static void make_pattern(uint8_t *p, uint64_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (uint64_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = x >> 24;
	}
}

/* Compare through the mapping in words, report the first bad byte. */
static int check_bytes(const uint8_t *got, const uint8_t *want, uint64_t n,
		       const char *where)
{
	if (!memcmp(got, want, n))
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		if (got[i] != want[i]) {
			fprintf(stderr, PROG ": %s: byte %" PRIu64 " is 0x%02x, expected 0x%02x\n",
				where, i, got[i], want[i]);
			break;
		}
	}
	return -1;
}

/* ---- the edu DMA engine, through p2pacc_importer --------------------------- */

static int edu_attach(struct edu_att *a, int dmabuf_fd, bool peer)
{
	struct p2pi_attach at = {
		.fd = dmabuf_fd,
		.mode = peer ? P2PI_ATTACH_REVOCABLE : P2PI_ATTACH_PLAIN,
	};

	a->fd = open(IMPORTER_DEV, O_RDWR | O_CLOEXEC);
	if (a->fd < 0) {
		verr("open " IMPORTER_DEV, errno);
		return -1;
	}
	if (ioctl(a->fd, P2PI_IOC_ATTACH, &at)) {
		verr("P2PI_IOC_ATTACH", errno);
		return -1;
	}
	return 0;
}

/* A dma-buf of host memory for the edu: udmabuf over the buffer's memfd. */
static int udmabuf_of(struct buf *b)
{
	struct udmabuf_create cr = { .memfd = b->memfd, .flags = UDMABUF_FLAGS_CLOEXEC,
				     .size = b->size };
	int dev, fd;

	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		verr("open /dev/udmabuf", errno);
		return -1;
	}
	fd = ioctl(dev, UDMABUF_CREATE, &cr);
	if (fd < 0)
		verr("UDMABUF_CREATE", errno);
	close(dev);
	return fd;
}

/*
 * Copy @len bytes from @src at @soff to @dst at @doff through the edu's
 * 4 KiB buffer: one DMA in, one DMA out per chunk.
 */
static int edu_copy(struct edu_att *src, uint64_t soff, struct edu_att *dst,
		    uint64_t doff, uint64_t len)
{
	for (uint64_t done = 0; done < len;) {
		uint32_t n = len - done < P2PI_EDU_DMA_MAX ? len - done : P2PI_EDU_DMA_MAX;
		struct p2pi_dma in = { .offset = soff + done, .len = n, .dir = P2PI_DMA_TO_EDU };
		struct p2pi_dma out = { .offset = doff + done, .len = n, .dir = P2PI_DMA_FROM_EDU };

		if (ioctl(src->fd, P2PI_IOC_DMA, &in) || ioctl(dst->fd, P2PI_IOC_DMA, &out)) {
			verr("P2PI_IOC_DMA", errno);
			return -1;
		}
		done += n;
	}
	return 0;
}

static int setup_edu(struct ctx *c)
{
	int tx, rx;

	if (edu_attach(&c->edu_src, c->src_dev.dmabuf_fd, true) ||
	    edu_attach(&c->edu_dst, c->dst_stg.dmabuf_fd, true))
		return -1;
	tx = udmabuf_of(&c->stage_tx);
	rx = udmabuf_of(&c->stage_rx);
	if (tx < 0 || rx < 0)
		return -1;
	if (edu_attach(&c->edu_tx, tx, false) || edu_attach(&c->edu_rx, rx, false))
		return -1;
	/* The attachments hold their dma-bufs. */
	close(tx);
	close(rx);
	return 0;
}

static void close_edu(struct ctx *c)
{
	struct edu_att *a[] = { &c->edu_src, &c->edu_dst, &c->edu_tx, &c->edu_rx };

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		if (a[i]->fd > 0)
			close(a[i]->fd);
		a[i]->fd = -1;
	}
}

/* ---- one point: mode x op x size --------------------------------------------- */

struct run {
	enum mode mode;
	enum op op;
	uint64_t size;
	unsigned int slots;		/* staging slots: messages in flight */
	double stage_ns;
	uint64_t copied;
};

static bool staged(enum mode m)
{
	return m == M_STAGED_MMAP || m == M_STAGED_EDU;
}

/* The RDMA endpoints of message @i: local (QP 0) and remote (QP 1) side. */
static void endpoints(struct ctx *c, struct run *r, uint64_t i, struct buf **src,
		      uint64_t *soff, struct buf **dst, uint64_t *doff)
{
	uint64_t slot = (i % r->slots) * r->size;

	switch (r->mode) {
	case M_HOST:
		*src = &c->src_host, *dst = &c->dst_host, *soff = *doff = 0;
		break;
	case M_DMABUF:
		*src = &c->src_dev, *dst = &c->dst_dev, *soff = *doff = 0;
		break;
	default:
		*src = &c->stage_tx, *dst = &c->stage_rx, *soff = *doff = slot;
		break;
	}
}

/* Staged modes: device -> host staging before message @i is posted. */
static int stage_in(struct ctx *c, struct run *r, uint64_t i)
{
	uint64_t slot = (i % r->slots) * r->size;
	double t0 = now_ns();
	int ret = 0;

	if (r->mode == M_STAGED_MMAP)
		memcpy(c->stage_tx.cpu + slot, c->src_dev.cpu, r->size);
	else
		ret = edu_copy(&c->edu_src, 0, &c->edu_tx, slot, r->size);
	r->stage_ns += now_ns() - t0;
	r->copied += r->size;
	return ret;
}

/* Staged modes: host staging -> device after message @i landed. */
static int stage_out(struct ctx *c, struct run *r, uint64_t i)
{
	uint64_t slot = (i % r->slots) * r->size;
	double t0 = now_ns();
	int ret = 0;

	if (r->mode == M_STAGED_MMAP)
		memcpy(c->dst_stg.cpu, c->stage_rx.cpu + slot, r->size);
	else
		ret = edu_copy(&c->edu_rx, slot, &c->edu_dst, 0, r->size);
	r->stage_ns += now_ns() - t0;
	r->copied += r->size;
	return ret;
}

/*
 * Post message @i. WRITE and SEND go from the local to the remote buffer;
 * READ fetches the remote buffer into the local one, so the roles of the
 * buffers swap and the data still flows src -> dst.
 */
static int post_msg(struct ctx *c, struct run *r, uint64_t i)
{
	struct buf *src, *dst;
	uint64_t soff, doff;

	endpoints(c, r, i, &src, &soff, &dst, &doff);
	if (staged(r->mode) && stage_in(c, r, i))
		return -1;
	switch (r->op) {
	case OP_WRITE:
		return post_op(c, OP_WRITE, i, src->cpu + soff, src->mr->lkey,
			       dst->cpu + doff, dst->mr->rkey, r->size);
	case OP_READ:
		return post_op(c, OP_READ, i, dst->cpu + doff, dst->mr->lkey,
			       src->cpu + soff, src->mr->rkey, r->size);
	default:
		return post_op(c, OP_SEND, i, src->cpu + soff, src->mr->lkey,
			       NULL, 0, r->size);
	}
}

static int post_recv_slot(struct ctx *c, struct run *r, uint64_t i)
{
	struct buf *src, *dst;
	uint64_t soff, doff;

	endpoints(c, r, i, &src, &soff, &dst, &doff);
	return post_recv(c, i, dst->cpu + doff, dst->mr->lkey, r->size);
}

/*
 * Move @n messages with up to @depth in flight; returns 0 when all
 * arrived. A message counts as delivered at its send completion (WRITE,
 * READ: the data is placed) or its receive completion (SEND).
 */
static int transfer(struct ctx *c, struct run *r, uint64_t first, uint64_t n,
		    unsigned int depth)
{
	uint64_t posted = 0, sent = 0, recvd = 0, rposted = 0;
	double deadline = now_ns() + c->o.timeout * 1e9;
	unsigned int spins = 0;
	struct ibv_wc wc[32];
	int k;

	if (staged(r->mode) && depth > r->slots)
		depth = r->slots;
	if (r->op == OP_SEND) {
		for (; rposted < depth && rposted < n; rposted++)
			if (post_recv_slot(c, r, first + rposted))
				return -1;
	}
	while ((r->op == OP_SEND ? recvd : sent) < n) {
		/* A SEND needs its receive posted: in flight is bounded by both. */
		while (posted < n && posted - sent < depth &&
		       (r->op != OP_SEND || posted < rposted)) {
			if (post_msg(c, r, first + posted))
				return -1;
			posted++;
		}
		if (sent < posted) {
			k = poll_some(c, 0, wc, 32, op_name[r->op]);
			if (k < 0)
				return -1;
			for (int j = 0; j < k; j++) {
				if (r->op != OP_SEND && staged(r->mode) &&
				    stage_out(c, r, wc[j].wr_id))
					return -1;
			}
			sent += k;
		}
		if (r->op == OP_SEND && recvd < posted) {
			k = ibv_poll_cq(c->cq[1], 32, wc);
			if (k < 0 || (!k && sent == posted && ++spins % 1024 == 0 &&
				      now_ns() > deadline)) {
				fprintf(stderr, PROG ": recv: %s\n", k < 0 ?
					"ibv_poll_cq failed" : "no completion in time");
				return -1;
			}
			if (k)
				deadline = now_ns() + c->o.timeout * 1e9;
			for (int j = 0; j < k; j++) {
				if (wc[j].status != IBV_WC_SUCCESS) {
					fprintf(stderr, PROG ": recv: completion status %s\n",
						ibv_wc_status_str(wc[j].status));
					return -1;
				}
				if (staged(r->mode) && stage_out(c, r, wc[j].wr_id))
					return -1;
				recvd++;
				if (rposted < n &&
				    post_recv_slot(c, r, first + rposted++))
					return -1;
			}
		}
	}
	/* SEND: the last send completions may trail the receives. */
	while (sent < posted) {
		k = poll_some(c, 0, wc, 32, op_name[r->op]);
		if (k < 0)
			return -1;
		sent += k;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Where the data of a mode starts and ends, for filling and checking. The
 * staged modes land in a device buffer of their own, so a point of the
 * zero-copy mode run beside them cannot fill it in their place.
 */
static void data_ends(struct ctx *c, enum mode m, struct buf **src, struct buf **dst)
{
	*src = m == M_HOST ? &c->src_host : &c->src_dev;
	*dst = m == M_HOST ? &c->dst_host : m == M_DMABUF ? &c->dst_dev : &c->dst_stg;
}

/* One mode's share of an interleaved point. */
struct lane {
	enum mode mode;
	struct run r;
	struct buf *src, *dst;
	uint64_t per_batch, next;
	double total, best, cpu, pcpu;
	double bw_stage_ns;		/* the staging copies of the batches */
	uint64_t bw_copied;
	double *lat;
	struct stats *st;
};

static int lane_batch(struct ctx *c, struct lane *l, uint64_t n, unsigned int depth,
		      double *ns)
{
	double cpu0 = cpu_busy_ns(c), pcpu0 = proc_cpu_ns(), t0 = now_ns();

	if (transfer(c, &l->r, l->next, n, depth))
		return -1;
	*ns = now_ns() - t0;
	l->cpu += cpu_busy_ns(c) - cpu0;
	l->pcpu += proc_cpu_ns() - pcpu0;
	l->next += n;
	return 0;
}

static int lane_verify(struct lane *l, const uint8_t *pattern, const char *when)
{
	char where[96];

	snprintf(where, sizeof(where), "%s %s: destination %s", mode_name[l->mode],
		 op_name[l->r.op], when);
	return check_bytes(l->dst->cpu, pattern, l->r.size, where);
}

static void lane_stats(struct ctx *c, struct lane *l, unsigned int lat_n)
{
	struct stats *st = l->st;
	uint64_t iters = l->per_batch * c->o.batches, size = l->r.size;
	double bytes = (double)iters * size;

	st->iters = iters;
	st->bw_avg = bytes / timed(c, l->total) * 1e9 / MIB;
	st->bw_peak = (double)l->per_batch * size / timed(c, l->best) * 1e9 / MIB;
	st->msg_rate = iters / timed(c, l->total) * 1e9;
	/* /proc/stat counts in ticks of 1/CLK_TCK s: want 10 of them. */
	st->cpu_ns_per_byte = l->cpu >= 10e9 / c->clk_tck ? l->cpu / bytes : NAN;
	st->proc_cpu_ns_per_byte = timed(c, l->pcpu) / bytes;
	if (staged(l->mode)) {
		st->stage_us_per_msg = timed(c, l->bw_stage_ns) / iters / 1e3;
		st->stage_share = timed(c, l->bw_stage_ns) / timed(c, l->total);
		st->copied_per_byte = l->bw_copied / bytes;
	} else {
		st->stage_us_per_msg = st->stage_share = NAN;
		st->copied_per_byte = 0;
	}
	qsort(l->lat, lat_n, sizeof(*l->lat), cmp_double);
	st->lat_n = lat_n;
	st->lat_p50 = timed(c, l->lat[(lat_n - 1) / 2]) / 1e3;
	st->lat_p99 = timed(c, l->lat[(uint64_t)ceil(lat_n * 0.99) - 1]) / 1e3;
	st->verified = st->valid = true;
}

/*
 * One op and size for every mode in @modes, interleaved: each bandwidth
 * batch and each latency message of one mode is followed by the same of
 * the next mode, so a change of the machine's load (TCG vCPUs share the
 * host's cores) weighs on every mode alike and the ratios stay fair.
 */
static int run_point(struct ctx *c, unsigned int modes, enum op op, uint64_t size,
		     uint32_t seed, struct stats res[M_NR])
{
	struct lane lanes[M_NR], *l;
	unsigned int nl = 0, lat_n;
	double ns;
	int ret = -1;

	make_pattern(c->pattern, size, seed);
	lat_n = c->o.lat_bytes / size < 10 ? 10 :
		c->o.lat_bytes / size > 200 ? 200 : c->o.lat_bytes / size;
	for (int m = 0; m < M_NR; m++) {
		if (!(modes >> m & 1))
			continue;
		l = &lanes[nl++];
		*l = (struct lane){ .mode = m, .best = INFINITY, .st = &res[m],
				    .r = { .mode = m, .op = op, .size = size } };
		/* Staging slots: as many messages in flight as the buffers hold. */
		l->r.slots = c->stage_size / size < c->o.depth ?
			     c->stage_size / size : c->o.depth;
		l->per_batch = c->o.bytes / size / c->o.batches;
		if (l->per_batch < 2)
			l->per_batch = 2;
		if (m == M_STAGED_EDU) {
			/* one DMA engine, ~100 ms per DMA: one at a time, few */
			l->r.slots = 1;
			l->per_batch = 1;
		}
		l->lat = calloc(m == M_STAGED_EDU ? 2 : lat_n, sizeof(*l->lat));
		free(res[m].batch_bw);
		res[m].batch_bw = calloc(c->o.batches, sizeof(double));
		res[m].nbatch = c->o.batches;
		if (!l->lat || !res[m].batch_bw)
			goto out;
		data_ends(c, m, &l->src, &l->dst);
		memcpy(l->src->cpu, c->pattern, size);
		memset(l->dst->cpu, 0x5a, size);
		if (staged(m)) {
			memset(c->stage_tx.cpu, 0xa5, (uint64_t)l->r.slots * size);
			memset(c->stage_rx.cpu, 0xa5, (uint64_t)l->r.slots * size);
		}
		/* One warm-up message, not counted. */
		if (lane_batch(c, l, 1, c->o.depth, &ns))
			goto out;
		l->r.stage_ns = l->cpu = l->pcpu = 0;
		l->r.copied = 0;
	}
	if (modes == 1u << M_STAGED_EDU)
		lat_n = 2;

	for (unsigned int b = 0; b < c->o.batches; b++) {
		for (l = lanes; l < lanes + nl; l++) {
			if (lane_batch(c, l, l->per_batch, c->o.depth, &ns))
				goto out;
			l->total += ns;
			if (ns < l->best)
				l->best = ns;
			l->st->batch_bw[b] = (double)l->per_batch * size /
					     timed(c, ns) * 1e9 / MIB;
		}
	}
	for (l = lanes; l < lanes + nl; l++) {
		if (lane_verify(l, c->pattern, "after the bandwidth run"))
			goto out;
		l->bw_stage_ns = l->r.stage_ns;
		l->bw_copied = l->r.copied;
	}

	/* Latency: one message at a time, not counted in the CPU figures. */
	for (unsigned int i = 0; i < lat_n; i++) {
		for (l = lanes; l < lanes + nl; l++) {
			double t0 = now_ns();

			if (transfer(c, &l->r, l->next++, 1, 1))
				goto out;
			l->lat[i] = now_ns() - t0;
		}
	}
	for (l = lanes; l < lanes + nl; l++) {
		if (lane_verify(l, c->pattern, "after the latency run"))
			goto out;
		lane_stats(c, l, lat_n);
	}
	ret = 0;
out:
	for (l = lanes; l < lanes + nl; l++)
		free(l->lat);
	return ret;
}

/* ---- registration, revoke, memcpy ------------------------------------------ */

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int reg_cost(struct ctx *c, int si)
{
	uint64_t size = c->o.reg_sizes[si];
	int reps = size <= (1 << 20) ? 9 : 3;
	double reg[2][9], dereg[2][9];
	struct buf h, d;
	int ret = -1;

	if (host_alloc(&h, size, false, NULL) || dev_alloc(c, &d, size, false))
		goto out;
	for (int i = 0; i < reps; i++) {
		struct ibv_mr *mr;
		double t0 = now_ns();

		mr = ibv_reg_mr(c->pd, h.cpu, h.size, mr_access);
		reg[0][i] = now_ns() - t0;
		if (!mr) {
			verr("ibv_reg_mr", errno);
			goto out;
		}
		t0 = now_ns();
		ibv_dereg_mr(mr);
		dereg[0][i] = now_ns() - t0;

		t0 = now_ns();
		mr = ibv_reg_dmabuf_mr(c->pd, 0, d.size, (uintptr_t)d.cpu,
				       d.dmabuf_fd, mr_access);
		reg[1][i] = now_ns() - t0;
		if (!mr) {
			verr("ibv_reg_dmabuf_mr", errno);
			goto out;
		}
		t0 = now_ns();
		ibv_dereg_mr(mr);
		dereg[1][i] = now_ns() - t0;
	}
	for (int k = 0; k < 2; k++) {
		c->reg_us[si][k] = timed(c, median(reg[k], reps)) / 1e3;
		c->dereg_us[si][k] = timed(c, median(dereg[k], reps)) / 1e3;
	}
	ret = 0;
out:
	buf_free(c, &h);
	buf_free(c, &d);
	return ret;
}

/*
 * N buffers of one page, one dma-buf MR each; then a device reset (the
 * debugfs "reset": every buffer revoked, and the exporter returns once
 * every importer has let go). Timed: the reset. Checked after: an RDMA
 * WRITE to each MR's rkey fails with a remote access error.
 */
static int revoke_cost(struct ctx *c, int ci)
{
	unsigned int n = c->o.revoke_counts[ci];
	struct buf *bufs = calloc(n, sizeof(*bufs));
	struct ibv_wc wc;
	unsigned int ok = 0;
	double t0;
	int ret = -1;

	if (!bufs)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		if (dev_alloc(c, &bufs[i], sysconf(_SC_PAGESIZE), true))
			goto out;
		/* The MR holds the dma-buf; the mapping would only be zapped. */
		close(bufs[i].dmabuf_fd);
		bufs[i].dmabuf_fd = -1;
		munmap(bufs[i].cpu, bufs[i].size);
		bufs[i].cpu = (uint8_t *)(uintptr_t)bufs[i].mr->addr;
	}
	t0 = now_ns();
	ret = p2pacc_debug_reset(c->accel_path);
	c->revoke_us[ci] = timed(c, now_ns() - t0) / 1e3;
	if (ret) {
		verr("p2pacc_debug_reset (needs root and debugfs)", -ret);
		ret = -1;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		double deadline = now_ns() + c->o.timeout * 1e9;
		int k;

		if (post_op(c, OP_WRITE, i, c->src_host.cpu, c->src_host.mr->lkey,
			    (void *)(uintptr_t)bufs[i].mr->addr, bufs[i].mr->rkey, 8))
			goto out;
		for (unsigned int spins = 1;
		     (k = ibv_poll_cq(c->cq[0], 1, &wc)) == 0; spins++)
			if (spins % 1024 == 0 && now_ns() > deadline)
				break;
		if (k == 1 && wc.status == IBV_WC_REM_ACCESS_ERR) {
			ok++;
		} else {
			fprintf(stderr, PROG ": RDMA WRITE to revoked MR %u: %s, expected %s\n",
				i, k == 1 ? ibv_wc_status_str(wc.status) : "no completion",
				ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
		}
		if (reconnect(c))
			goto out;
	}
	c->revoke_ok[ci] = ok == n;
	ret = ok == n ? 0 : -1;
out:
	for (unsigned int i = 0; i < n; i++) {
		bufs[i].cpu = NULL;	/* unmapped above */
		buf_free(c, &bufs[i]);
	}
	free(bufs);
	return ret;
}

/* memcpy bandwidth: host->host, device->host, host->device (best of 3). */
static void memcpy_bw(struct ctx *c)
{
	uint64_t n = c->o.memcpy_size;
	struct buf a, b, d;
	uint8_t *to[3], *from[3];

	if (host_alloc(&a, n, false, NULL) || host_alloc(&b, n, false, NULL) ||
	    dev_alloc(c, &d, n, false))
		goto out;
	to[0] = b.cpu, from[0] = a.cpu;
	to[1] = a.cpu, from[1] = d.cpu;
	to[2] = d.cpu, from[2] = a.cpu;
	for (int k = 0; k < 3; k++) {
		double best = INFINITY;

		for (int i = 0; i < 3; i++) {
			double t0 = now_ns();

			memcpy(to[k], from[k], n);
			t0 = now_ns() - t0;
			if (t0 < best)
				best = t0;
		}
		c->memcpy_mbs[k] = n / timed(c, best) * 1e9 / MIB;
	}
out:
	buf_free(c, &a);
	buf_free(c, &b);
	buf_free(c, &d);
}

/* ---- output ----------------------------------------------------------------- */

static void fmt(char *s, size_t len, const char *f, double v)
{
	if (isnan(v) || isinf(v))
		snprintf(s, len, "-");
	else
		snprintf(s, len, f, v);
}

static void json_num(FILE *f, const char *key, double v, bool last)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
	else
		fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

static void print_header(void)
{
	printf("\n %-11s %-5s %8s %6s %10s %10s %9s %9s %9s %7s %9s %6s %6s\n",
	       "mode", "op", "#bytes", "#iters", "BWpeak", "BWavg", "MsgRate",
	       "p50", "p99", "cpu", "stage", "stage", "copied");
	printf(" %-11s %-5s %8s %6s %10s %10s %9s %9s %9s %7s %9s %6s %6s\n",
	       "", "", "", "", "[MiB/s]", "[MiB/s]", "[kmsg/s]", "[us]", "[us]",
	       "[ns/B]", "[us/msg]", "[%]", "[B/B]");
}

static void print_row(enum mode m, enum op op, uint64_t size, const struct stats *s)
{
	char v[9][32];

	fmt(v[0], 32, "%.2f", s->bw_peak);
	fmt(v[1], 32, "%.2f", s->bw_avg);
	fmt(v[2], 32, "%.2f", s->msg_rate / 1e3);
	fmt(v[3], 32, "%.1f", s->lat_p50);
	fmt(v[4], 32, "%.1f", s->lat_p99);
	fmt(v[5], 32, "%.2f", s->cpu_ns_per_byte);
	fmt(v[6], 32, "%.1f", s->stage_us_per_msg);
	fmt(v[7], 32, "%.0f", s->stage_share * 100);
	fmt(v[8], 32, "%.1f", s->copied_per_byte);
	printf(" %-11s %-5s %8" PRIu64 " %6" PRIu64 " %10s %10s %9s %9s %9s %7s %9s %6s %6s\n",
	       mode_name[m], op_name[op], size, s->iters, v[0], v[1], v[2], v[3],
	       v[4], v[5], v[6], v[7], v[8]);
	fflush(stdout);
}

static int write_json(struct ctx *c, const char *path)
{
	struct utsname u;
	bool first = true;
	FILE *f = fopen(path, "w");

	if (!f) {
		verr(path, errno);
		return -1;
	}
	uname(&u);
	fprintf(f, "{\n  \"tool\": \"%s\", \"kernel\": \"%s\", \"rdma_device\": \"%s\", "
		"\"accelerator\": \"%s\", \"accelerator_pci\": \"%s\",\n",
		PROG, u.release, ibv_get_device_name(c->ibctx->device),
		c->accel_path, c->accel_bdf);
	fprintf(f, "  \"clocksource\": \"%s\", \"clock_resolution_ns\": %.6g, "
		"\"clock_getres_ns\": %.6g, \"min_ticks\": %d, \"cpus\": %ld, "
		"\"tx_depth\": %u, \"mtu\": %d, \"bytes_per_point\": %" PRIu64 ", "
		"\"batches\": %u,\n",
		c->clocksource, c->res_ns, c->getres_ns, MIN_TICKS, sysconf(_SC_NPROCESSORS_ONLN),
		c->o.depth, 128 << c->port.active_mtu, c->o.bytes, c->o.batches);
	fprintf(f, "  \"memcpy_mib_s\": { ");
	json_num(f, "host_to_host", c->memcpy_mbs[0], false);
	json_num(f, "device_to_host", c->memcpy_mbs[1], false);
	json_num(f, "host_to_device", c->memcpy_mbs[2], true);
	fprintf(f, " },\n  \"points\": [");
	for (int m = 0; m < M_NR; m++) {
		for (int op = 0; op < OP_NR; op++) {
			for (int si = 0; si < c->o.nsizes; si++) {
				struct stats *s = &c->res[op][si][m];

				if (!s->valid)
					continue;
				fprintf(f, "%s\n    { \"mode\": \"%s\", \"op\": \"%s\", \"bytes\": %" PRIu64
					", \"iters\": %" PRIu64 ", ", first ? "" : ",",
					mode_name[m], op_name[op], c->o.sizes[si], s->iters);
				first = false;
				json_num(f, "bw_peak_mib_s", s->bw_peak, false);
				json_num(f, "bw_avg_mib_s", s->bw_avg, false);
				json_num(f, "msg_rate", s->msg_rate, false);
				json_num(f, "lat_p50_us", s->lat_p50, false);
				json_num(f, "lat_p99_us", s->lat_p99, false);
				fprintf(f, "\"lat_samples\": %u, ", s->lat_n);
				json_num(f, "cpu_ns_per_byte", s->cpu_ns_per_byte, false);
				json_num(f, "proc_cpu_ns_per_byte", s->proc_cpu_ns_per_byte, false);
				json_num(f, "stage_us_per_msg", s->stage_us_per_msg, false);
				json_num(f, "stage_share", s->stage_share, false);
				json_num(f, "copied_per_byte", s->copied_per_byte, false);
				fprintf(f, "\"batch_bw_mib_s\": [");
				for (unsigned int b = 0; b < s->nbatch; b++)
					if (isnan(s->batch_bw[b]))
						fprintf(f, "%snull", b ? ", " : "");
					else
						fprintf(f, "%s%.6g", b ? ", " : "", s->batch_bw[b]);
				fprintf(f, "], ");
				fprintf(f, "\"verified\": %s }", s->verified ? "true" : "false");
			}
		}
	}
	fprintf(f, "\n  ],\n  \"registration\": [");
	for (int si = 0; si < c->o.nreg_sizes; si++) {
		fprintf(f, "%s\n    { \"bytes\": %" PRIu64 ", ", si ? "," : "", c->o.reg_sizes[si]);
		json_num(f, "reg_mr_us", c->reg_us[si][0], false);
		json_num(f, "reg_dmabuf_mr_us", c->reg_us[si][1], false);
		json_num(f, "dereg_mr_us", c->dereg_us[si][0], false);
		json_num(f, "dereg_dmabuf_mr_us", c->dereg_us[si][1], true);
		fprintf(f, " }");
	}
	fprintf(f, "\n  ],\n  \"revoke\": [");
	for (int ci = 0; ci < c->o.nrevoke_counts; ci++) {
		fprintf(f, "%s\n    { \"mrs\": %u, ", ci ? "," : "", c->o.revoke_counts[ci]);
		json_num(f, "revoke_us", c->revoke_us[ci], false);
		json_num(f, "per_mr_us", c->revoke_us[ci] / c->o.revoke_counts[ci], false);
		fprintf(f, "\"all_unusable\": %s }", c->revoke_ok[ci] ? "true" : "false");
	}
	fprintf(f, "\n  ],\n  \"passed\": %s\n}\n", c->failed ? "false" : "true");
	return fclose(f) ? -1 : 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int setup_accel(struct ctx *c)
{
	int ret;

	strcpy(c->accel_bdf, "?");
	if (c->o.accel) {
		snprintf(c->accel_path, sizeof(c->accel_path), "%s", c->o.accel);
		ret = p2pacc_pci_address(c->accel_path, c->accel_bdf, sizeof(c->accel_bdf));
	} else {
		ret = p2pacc_find(c->accel_path, sizeof(c->accel_path), c->accel_bdf,
				  sizeof(c->accel_bdf));
	}
	if (ret) {
		fprintf(stderr, PROG ": no p2p_accel accelerator%s%s\n",
			c->o.accel ? " at " : "", c->o.accel ? c->o.accel : "");
		return -1;
	}
	ret = p2pacc_open(c->accel_path, &c->accel);
	if (ret) {
		verr(ret == -EBUSY ? "open the accelerator (owned by another process)" :
		     "open the accelerator", -ret);
		return -1;
	}
	return 0;
}

static void cleanup(struct ctx *c)
{
	close_edu(c);
	for (int i = 0; i < 2; i++) {
		if (c->qp[i])
			ibv_destroy_qp(c->qp[i]);
		if (c->cq[i])
			ibv_destroy_cq(c->cq[i]);
	}
	buf_free(c, &c->src_host);
	buf_free(c, &c->dst_host);
	buf_free(c, &c->src_dev);
	buf_free(c, &c->dst_dev);
	buf_free(c, &c->dst_stg);
	buf_free(c, &c->stage_tx);
	buf_free(c, &c->stage_rx);
	free(c->pattern);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->ibctx)
		ibv_close_device(c->ibctx);
	if (c->accel)
		p2pacc_close(c->accel);
}

int main(int argc, char **argv)
{
	static struct ctx c;
	char gid[INET6_ADDRSTRLEN] = "none";
	double start = now_ns();
	int ret, points = 0, npoints = 0;
	unsigned int edu_modes, cpu_modes;

	c.edu_src.fd = c.edu_dst.fd = c.edu_tx.fd = c.edu_rx.fd = -1;
	ret = parse_opts(argc, argv, &c.o);
	if (ret)
		return ret > 0 ? EXIT_PASS : EXIT_USAGE;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* 1000 revocable MRs hold 1000 dma-bufs: room for their FDs. */
	{
		struct rlimit rl;

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	probe_clock(&c);
	printf("clock: CLOCK_MONOTONIC on clocksource %s, resolution %.0f ns (clock_getres: %.0f ns); figures timed over less than %d steps (%.0f ns) are refused\n",
	       c.clocksource, c.res_ns, c.getres_ns, MIN_TICKS, MIN_TICKS * c.res_ns);
	if (strstr(c.clocksource, "jiffies"))
		printf("WARNING: a jiffies clocksource: latencies and registration costs will be refused\n");

	if (setup_ib(&c) || setup_accel(&c) ||
	    connect_qp(&c, c.qp[0], c.qp[1]) || connect_qp(&c, c.qp[1], c.qp[0])) {
		cleanup(&c);
		return EXIT_FAIL;
	}
	if (c.o.gid_idx >= 0)
		inet_ntop(AF_INET6, c.gid.raw, gid, sizeof(gid));
	c.edu = !access(IMPORTER_DEV, R_OK | W_OK);
	if (!c.edu)
		c.o.modes &= ~(1u << M_STAGED_EDU);
	printf("%s port %d GID %d (%s) MTU %d, accelerator %s (PCI %s), tx depth %u, edu DMA engine: %s\n",
	       ibv_get_device_name(c.ibctx->device), c.o.ib_port, c.o.gid_idx, gid,
	       128 << c.port.active_mtu, c.accel_path, c.accel_bdf, c.o.depth,
	       c.edu ? "yes" : "no (" IMPORTER_DEV " missing: staged-edu not run)");

	for (int i = 0; i < c.o.nsizes; i++)
		if (c.o.sizes[i] > c.max_size)
			c.max_size = c.o.sizes[i];
	/* Staging: the depth in flight, in at most 64 MiB (4 of the largest). */
	c.stage_size = c.max_size * c.o.depth;
	if (c.stage_size > (64 << 20))
		c.stage_size = c.max_size * 4 > (64 << 20) ? c.max_size * 4 : 64 << 20;
	c.pattern = malloc(c.max_size);
	if (!c.pattern)
		goto fail;
	/* Only what the modes asked for; the staging pair is the largest. */
	if (c.o.modes & (1u << M_HOST) &&
	    (host_alloc(&c.src_host, c.max_size, true, c.pd) ||
	     host_alloc(&c.dst_host, c.max_size, true, c.pd)))
		goto fail;
	if (!(c.o.modes & (1u << M_HOST)) && c.o.nrevoke_counts &&
	    host_alloc(&c.src_host, 4096, true, c.pd))
		goto fail;
	if (dev_alloc(&c, &c.src_dev, c.max_size, true))
		goto fail;
	if (c.o.modes & (1u << M_DMABUF) && dev_alloc(&c, &c.dst_dev, c.max_size, true))
		goto fail;
	if (c.o.modes & (1u << M_STAGED_MMAP | 1u << M_STAGED_EDU) &&
	    (dev_alloc(&c, &c.dst_stg, c.max_size, true) ||
	     host_alloc(&c.stage_tx, c.stage_size, true, c.pd) ||
	     host_alloc(&c.stage_rx, c.stage_size, true, c.pd)))
		goto fail;
	if ((c.o.modes & (1u << M_STAGED_EDU)) && setup_edu(&c))
		goto fail;

	if (c.o.memcpy_size) {
		memcpy_bw(&c);
		printf("memcpy (the limit of any copy here), %" PRIu64 " bytes: host->host %.0f MiB/s, device->host %.0f MiB/s, host->device %.0f MiB/s\n",
		       c.o.memcpy_size, c.memcpy_mbs[0], c.memcpy_mbs[1], c.memcpy_mbs[2]);
	}

	/*
	 * Per op and size, the modes side by side (interleaved); the edu's
	 * staging apart, at the sizes it can do in reasonable time.
	 */
	edu_modes = c.o.modes & (1u << M_STAGED_EDU);
	cpu_modes = c.o.modes & ~(1u << M_STAGED_EDU);
	for (int op = 0; op < OP_NR; op++)
		for (int si = 0; si < c.o.nsizes; si++)
			if (c.o.ops >> op & 1)
				npoints += !!cpu_modes +
					   (edu_modes && c.o.sizes[si] <= c.o.edu_max);
	print_header();
	for (int op = 0; op < OP_NR; op++) {
		if (!(c.o.ops >> op & 1))
			continue;
		for (int si = 0; si < c.o.nsizes; si++) {
			unsigned int groups[2] = { cpu_modes,
				c.o.sizes[si] <= c.o.edu_max ? edu_modes : 0 };

			for (int g = 0; g < 2; g++) {
				if (!groups[g])
					continue;
				points++;
				if (run_point(&c, groups[g], op, c.o.sizes[si], points,
					      c.res[op][si])) {
					fprintf(stderr, PROG ": %s %" PRIu64 " bytes failed\n",
						op_name[op], c.o.sizes[si]);
					c.failed = true;
					if (reconnect(&c))
						goto done;
					continue;
				}
				for (int m = 0; m < M_NR; m++)
					if (groups[g] >> m & 1)
						print_row(m, op, c.o.sizes[si], &c.res[op][si][m]);
			}
			progress(&c, "%d of %d points, %.0f s", points, npoints,
				 (now_ns() - start) / 1e9);
		}
	}
	/* The edu attachments and the big buffers go before the revokes. */
	close_edu(&c);
	buf_free(&c, &c.src_dev);
	buf_free(&c, &c.dst_dev);
	buf_free(&c, &c.dst_stg);

	if (c.o.nreg_sizes) {
		printf("\n %-10s %14s %14s %8s %14s %14s\n", "#bytes", "reg_mr[us]",
		       "reg_dmabuf[us]", "ratio", "dereg_mr[us]", "dereg_dmabuf[us]");
		for (int si = 0; si < c.o.nreg_sizes; si++) {
			char v[5][32];

			if (reg_cost(&c, si)) {
				c.failed = true;
				continue;
			}
			fmt(v[0], 32, "%.1f", c.reg_us[si][0]);
			fmt(v[1], 32, "%.1f", c.reg_us[si][1]);
			fmt(v[2], 32, "%.3f", c.reg_us[si][1] / c.reg_us[si][0]);
			fmt(v[3], 32, "%.1f", c.dereg_us[si][0]);
			fmt(v[4], 32, "%.1f", c.dereg_us[si][1]);
			printf(" %-10" PRIu64 " %14s %14s %8s %14s %14s\n", c.o.reg_sizes[si],
			       v[0], v[1], v[2], v[3], v[4]);
		}
	}
	if (c.o.nrevoke_counts) {
		printf("\n %-6s %16s %16s %s\n", "#MRs", "revoke[us]", "per MR[us]",
		       "every MR unusable after");
		for (int ci = 0; ci < c.o.nrevoke_counts; ci++) {
			char v[2][32];

			progress(&c, "revoke with %u MRs", c.o.revoke_counts[ci]);
			if (revoke_cost(&c, ci))
				c.failed = true;
			fmt(v[0], 32, "%.0f", c.revoke_us[ci]);
			fmt(v[1], 32, "%.1f", c.revoke_us[ci] / c.o.revoke_counts[ci]);
			printf(" %-6u %16s %16s %s\n", c.o.revoke_counts[ci], v[0], v[1],
			       c.revoke_ok[ci] ? "yes" : "NO");
		}
	}
	goto done;
fail:
	c.failed = true;
done:
	if (c.o.json && write_json(&c, c.o.json))
		c.failed = true;
	printf("\n%s: %d points, %.0f s%s%s\n", c.failed ? "FAIL" : "PASS", points,
	       (now_ns() - start) / 1e9, c.o.json ? ", JSON in " : "",
	       c.o.json ? c.o.json : "");
	cleanup(&c);
	return c.failed ? EXIT_FAIL : EXIT_PASS;
}
