// SPDX-License-Identifier: MIT
/*
 * p2pacc_rdma_loopback: RDMA into and out of accelerator device memory,
 * through libibverbs, on one RDMA device looped back to itself.
 *
 * Device memory is allocated with libp2pacc, exported as a dma-buf FD and
 * registered with ibv_reg_dmabuf_mr(). Two RC QPs of one context are
 * connected to each other; RDMA WRITE, RDMA READ, SEND/RECV (both ways) and
 * an atomic fetch-and-add then move data between host memory and device
 * memory, and every byte is checked through a CPU mapping of the buffer.
 * See usage() for the options and exit statuses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pacc.h"
#include "cli.h"

#define PROG		"p2pacc_rdma_loopback"
/* Exit statuses */
#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_REFUSED	3	/* ibv_reg_dmabuf_mr() refused the buffer */
/* The device memory MR's iova: any value with the offset's page offset. */
#define IOVA_BASE	(1ULL << 40)

static void usage(FILE *f)
{
	fputs("usage: " PROG " [options]\n"
	      "\n"
	      "Allocate device memory on the p2p_accel accelerator, export it as a\n"
	      "dma-buf, register it with ibv_reg_dmabuf_mr() and move data through\n"
	      "it between two RC QPs of one RDMA device connected to each other:\n"
	      "  1. RDMA WRITE  host memory -> device memory\n"
	      "  2. RDMA READ   device memory -> host memory\n"
	      "  3. SEND/RECV   host memory -> device memory\n"
	      "  4. SEND/RECV   device memory -> host memory\n"
	      "  5. atomic fetch-and-add on device memory (if the device has atomics\n"
	      "     and the MR is at least 8 bytes long)\n"
	      "Each step fills its source with a fresh pattern and checks every byte\n"
	      "of its destination; device memory is read and written through\n"
	      "libp2pacc's CPU mapping of the buffer.\n"
	      "\n"
	      "Options:\n"
	      "  -d, --ib-dev NAME    RDMA device (default: the first one)\n"
	      "  -i, --ib-port N      its port (default: 1)\n"
	      "  -g, --gid-idx N      GID index (default on RoCE: the first RoCE v2\n"
	      "                       GID with an IPv4 address, else 0; on InfiniBand:\n"
	      "                       none, the LID is enough)\n"
	      "  -a, --accel PATH     accelerator node (default: the first p2p_accel)\n"
	      "  -s, --size SIZE      bytes moved per step, K/M/G suffixes (default 1M)\n"
	      "  -o, --offset OFF     register the MR OFF bytes into the buffer, a\n"
	      "                       multiple of the page size (default 0)\n"
	      "  -n, --iters N        run the steps N times (default 1)\n"
	      "  -r, --revoke         then reset the accelerator (its debugfs \"reset\",\n"
	      "                       needs root) and check that the revoked MR fails\n"
	      "                       RDMA WRITE with a remote access error and still\n"
	      "                       deregisters\n"
	      "  -p, --probe          only probe, as NCCL and UCX do: register fd -1\n"
	      "                       with length 0 and with one page; both must fail\n"
	      "                       with EBADF, which means dma-buf MRs are supported\n"
	      "                       (no accelerator needed)\n"
	      "  -t, --timeout SEC    wait at most SEC seconds for a completion\n"
	      "                       (default 60)\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "Exit status: 0 every step passed, 1 a step failed, 2 usage error,\n"
	      "3 ibv_reg_dmabuf_mr() refused the buffer (its errno is printed: EXDEV\n"
	      "when the PCI topology forbids peer-to-peer DMA between the accelerator\n"
	      "and the NIC, EOPNOTSUPP when the RDMA driver has no dma-buf support).\n",
	      f);
}

struct opts {
	const char *ib_dev;
	int ib_port;
	int gid_idx;
	const char *accel;
	uint64_t size;
	uint64_t offset;
	unsigned int iters;
	bool revoke;
	bool probe;
	int timeout;
};

struct ctx {
	struct opts o;
	struct ibv_context *ibctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	struct ibv_port_attr port;
	union ibv_gid gid;
	bool atomics;

	struct p2pacc *accel;
	char accel_path[PATH_MAX];
	char accel_bdf[64];
	uint32_t handle;
	uint64_t alloc_size;
	int dmabuf_fd;
	uint8_t *dev;		/* CPU mapping of the MR's bytes */
	void *dev_map;
	struct ibv_mr *dev_mr;

	uint8_t *host;
	struct ibv_mr *host_mr;
};

static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "?";
}

static void verr(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s (%s)\n", what, strerror(err), errname(err));
}

static int parse_int(const char *s, int min, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "ib-port", required_argument, NULL, 'i' },
		{ "gid-idx", required_argument, NULL, 'g' },
		{ "accel", required_argument, NULL, 'a' },
		{ "size", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' },
		{ "iters", required_argument, NULL, 'n' },
		{ "revoke", no_argument, NULL, 'r' },
		{ "probe", no_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int c, iters = 1;

	*o = (struct opts){ .ib_port = 1, .gid_idx = -1, .size = 1 << 20,
			    .timeout = 60 };
	while ((c = getopt_long(argc, argv, "d:i:g:a:s:o:n:rpt:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->ib_dev = optarg; break;
		case 'a': o->accel = optarg; break;
		case 'r': o->revoke = true; break;
		case 'p': o->probe = true; break;
		case 'i':
			if (parse_int(optarg, 1, &o->ib_port))
				goto bad;
			break;
		case 'g':
			if (parse_int(optarg, 0, &o->gid_idx))
				goto bad;
			break;
		case 's':
			if (parse_size(optarg, &o->size) || !o->size ||
			    o->size > (1ULL << 31))
				goto bad;
			break;
		case 'o':
			if (parse_size(optarg, &o->offset) ||
			    o->offset % sysconf(_SC_PAGESIZE))
				goto bad;
			break;
		case 'n':
			if (parse_int(optarg, 1, &iters))
				goto bad;
			break;
		case 't':
			if (parse_int(optarg, 1, &o->timeout))
				goto bad;
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
	o->iters = iters;
	return 0;
bad:
	fprintf(stderr, PROG ": bad value '%s' for -%c (see --help)\n", optarg, c);
	return -1;
}

/* ---- the RDMA side ------------------------------------------------------ */

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
	if (!ctx && n == 0)
		fprintf(stderr, PROG ": no RDMA device\n");
	else if (!ctx && name)
		fprintf(stderr, PROG ": no RDMA device named %s\n", name);
	ibv_free_device_list(list);
	return ctx;
}

/* The first RoCE v2 GID holding an IPv4 address (::ffff:a.b.c.d), else 0. */
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
	c->atomics = attr.atomic_cap != IBV_ATOMIC_NONE;

	c->pd = ibv_alloc_pd(c->ibctx);
	if (!c->pd) {
		verr("ibv_alloc_pd", errno);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		struct ibv_qp_init_attr qpia = {
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 4, .max_recv_wr = 4,
				 .max_send_sge = 1, .max_recv_sge = 1 },
			.sq_sig_all = 1,
		};

		c->cq[i] = ibv_create_cq(c->ibctx, 8, NULL, NULL, 0);
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

/* RESET -> INIT -> RTR -> RTS, with @peer as the remote QP. */
static int connect_qp(struct ctx *c, struct ibv_qp *qp, struct ibv_qp *peer)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = c->o.ib_port,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
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
		.rq_psn = 0,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.dlid = c->port.lid,
			.port_num = c->o.ib_port,
		},
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
		.sq_psn = 0,
		.max_rd_atomic = 1,
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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait for one completion on @cq; its status goes to *@status. */
static int wait_wc(struct ctx *c, struct ibv_cq *cq, const char *what,
		   enum ibv_wc_status *status)
{
	double deadline = now() + c->o.timeout;
	struct ibv_wc wc;
	int n;

	while ((n = ibv_poll_cq(cq, 1, &wc)) == 0) {
		if (now() > deadline) {
			fprintf(stderr, PROG ": %s: no completion after %d s\n",
				what, c->o.timeout);
			return -1;
		}
		usleep(100);
	}
	if (n < 0) {
		fprintf(stderr, PROG ": %s: ibv_poll_cq failed\n", what);
		return -1;
	}
	*status = wc.status;
	return 0;
}

static int wait_ok(struct ctx *c, struct ibv_cq *cq, const char *what)
{
	enum ibv_wc_status st;

	if (wait_wc(c, cq, what, &st))
		return -1;
	if (st != IBV_WC_SUCCESS) {
		fprintf(stderr, PROG ": %s: completion status %s\n", what,
			ibv_wc_status_str(st));
		return -1;
	}
	return 0;
}

/*
 * Local addresses are in the MR's address space: the virtual address for
 * host memory, the iova given at registration for device memory.
 */
static int post_send(struct ctx *c, int qpi, enum ibv_wr_opcode op,
		     uint64_t laddr, uint32_t lkey, uint64_t raddr, uint32_t rkey,
		     uint64_t add)
{
	struct ibv_sge sge = {
		.addr = laddr,
		.length = op == IBV_WR_ATOMIC_FETCH_AND_ADD ? 8 : c->o.size,
		.lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
	}, *bad;
	int ret;

	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = add;
	} else if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	ret = ibv_post_send(c->qp[qpi], &wr, &bad);
	if (ret)
		verr("ibv_post_send", ret);
	return ret ? -1 : 0;
}

static int post_recv(struct ctx *c, int qpi, uint64_t laddr, uint32_t lkey)
{
	struct ibv_sge sge = {
		.addr = laddr,
		.length = c->o.size,
		.lkey = lkey,
	};
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	int ret;

	ret = ibv_post_recv(c->qp[qpi], &wr, &bad);
	if (ret)
		verr("ibv_post_recv", ret);
	return ret ? -1 : 0;
}

/* ---- the device memory side -------------------------------------------- */

static int setup_devmem(struct ctx *c)
{
	int ret;

	strcpy(c->accel_bdf, "?");
	if (c->o.accel) {
		snprintf(c->accel_path, sizeof(c->accel_path), "%s", c->o.accel);
		ret = p2pacc_pci_address(c->accel_path, c->accel_bdf,
					 sizeof(c->accel_bdf));
		if (ret == -ENODEV)
			fprintf(stderr, PROG ": %s is not a p2p_accel accelerator\n",
				c->accel_path);
		else if (ret)
			verr(c->accel_path, -ret);
		if (ret)
			return -1;
	} else if (p2pacc_find(c->accel_path, sizeof(c->accel_path),
			       c->accel_bdf, sizeof(c->accel_bdf))) {
		fprintf(stderr, PROG ": no p2p_accel accelerator\n");
		return -1;
	}
	ret = p2pacc_open(c->accel_path, &c->accel);
	if (ret) {
		verr(ret == -EBUSY ? "open the accelerator (owned by another process)" :
		     "open the accelerator", -ret);
		return -1;
	}
	ret = p2pacc_alloc(c->accel, c->o.offset + c->o.size, 0, &c->handle,
			   &c->alloc_size);
	if (ret) {
		verr("p2pacc_alloc", -ret);
		return -1;
	}
	ret = p2pacc_export(c->accel, c->handle, O_RDWR | O_CLOEXEC,
			    &c->dmabuf_fd);
	if (ret) {
		verr("p2pacc_export", -ret);
		return -1;
	}
	ret = p2pacc_mmap(c->accel, c->handle, c->alloc_size, &c->dev_map);
	if (ret) {
		verr("p2pacc_mmap", -ret);
		return -1;
	}
	c->dev = (uint8_t *)c->dev_map + c->o.offset;
	printf("accelerator %s (PCI %s): %" PRIu64 " bytes of device memory, dma-buf fd %d\n",
	       c->accel_path, c->accel_bdf, c->alloc_size, c->dmabuf_fd);
	return 0;
}

static int register_mrs(struct ctx *c)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	long page = sysconf(_SC_PAGESIZE);

	if (c->atomics)
		access |= IBV_ACCESS_REMOTE_ATOMIC;
	c->dev_mr = ibv_reg_dmabuf_mr(c->pd, c->o.offset, c->o.size,
				      IOVA_BASE + c->o.offset, c->dmabuf_fd,
				      access);
	if (!c->dev_mr) {
		int err = errno;

		verr("ibv_reg_dmabuf_mr", err);
		if (err == EXDEV)
			fprintf(stderr, PROG ": the PCI topology does not allow peer-to-peer DMA between the accelerator and the NIC\n");
		return EXIT_REFUSED;
	}
	printf("%s: dma-buf MR offset %" PRIu64 " length %" PRIu64 " iova 0x%llx lkey 0x%x rkey 0x%x\n",
	       ibv_get_device_name(c->ibctx->device), c->o.offset, c->o.size,
	       IOVA_BASE + c->o.offset, c->dev_mr->lkey, c->dev_mr->rkey);

	c->host = aligned_alloc(page, (c->o.size + page - 1) & ~(page - 1));
	if (!c->host) {
		verr("aligned_alloc", ENOMEM);
		return EXIT_FAIL;
	}
	c->host_mr = ibv_reg_mr(c->pd, c->host, c->o.size, access);
	if (!c->host_mr) {
		verr("ibv_reg_mr", errno);
		return EXIT_FAIL;
	}
	return 0;
}

/* ---- the steps ----------------------------------------------------------- */

static uint64_t dev_iova(struct ctx *c)
{
	return IOVA_BASE + c->o.offset;
}

static uint64_t host_addr(struct ctx *c)
{
	return (uintptr_t)c->host;
}

/* A pattern no two steps share: a 32-bit LCG seeded by @seed. */
static void fill(volatile uint8_t *p, uint64_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (uint64_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = x >> 24;
	}
}

static int check(const volatile uint8_t *p, uint64_t n, uint32_t seed,
		 const char *where)
{
	uint32_t x = seed * 2654435761u + 1;

	for (uint64_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		if (p[i] != (uint8_t)(x >> 24)) {
			fprintf(stderr, PROG ": %s: byte %" PRIu64 " is 0x%02x, expected 0x%02x\n",
				where, i, p[i], (uint8_t)(x >> 24));
			return -1;
		}
	}
	return 0;
}

static int step_write(struct ctx *c, uint32_t seed)
{
	fill(c->host, c->o.size, seed);
	fill(c->dev, c->o.size, ~seed);
	if (post_send(c, 0, IBV_WR_RDMA_WRITE, host_addr(c), c->host_mr->lkey,
		      dev_iova(c), c->dev_mr->rkey, 0) ||
	    wait_ok(c, c->cq[0], "RDMA WRITE"))
		return -1;
	return check(c->dev, c->o.size, seed, "device memory after RDMA WRITE");
}

static int step_read(struct ctx *c, uint32_t seed)
{
	fill(c->dev, c->o.size, seed);
	fill(c->host, c->o.size, ~seed);
	if (post_send(c, 0, IBV_WR_RDMA_READ, host_addr(c), c->host_mr->lkey,
		      dev_iova(c), c->dev_mr->rkey, 0) ||
	    wait_ok(c, c->cq[0], "RDMA READ"))
		return -1;
	return check(c->host, c->o.size, seed, "host memory after RDMA READ");
}

/* SEND on QP 0 from @src, RECV on QP 1 into @dst. */
static int step_send(struct ctx *c, uint32_t seed, bool to_dev)
{
	uint8_t *src = to_dev ? c->host : c->dev;
	uint8_t *dst = to_dev ? c->dev : c->host;
	uint64_t saddr = to_dev ? host_addr(c) : dev_iova(c);
	uint64_t daddr = to_dev ? dev_iova(c) : host_addr(c);
	struct ibv_mr *smr = to_dev ? c->host_mr : c->dev_mr;
	struct ibv_mr *dmr = to_dev ? c->dev_mr : c->host_mr;

	fill(src, c->o.size, seed);
	fill(dst, c->o.size, ~seed);
	if (post_recv(c, 1, daddr, dmr->lkey) ||
	    post_send(c, 0, IBV_WR_SEND, saddr, smr->lkey, 0, 0, 0) ||
	    wait_ok(c, c->cq[0], "SEND") ||
	    wait_ok(c, c->cq[1], "RECV"))
		return -1;
	return check(dst, c->o.size, seed, to_dev ?
		     "device memory after SEND/RECV" : "host memory after SEND/RECV");
}

static int step_atomic(struct ctx *c, uint32_t seed)
{
	volatile uint64_t *target = (volatile uint64_t *)c->dev;
	uint64_t old = 0x0123456789abcdefULL ^ seed, add = 0x1111 + seed;
	uint64_t fetched, now_there;

	*target = old;
	memset(c->host, 0, 8);
	if (post_send(c, 0, IBV_WR_ATOMIC_FETCH_AND_ADD, host_addr(c),
		      c->host_mr->lkey, dev_iova(c), c->dev_mr->rkey, add) ||
	    wait_ok(c, c->cq[0], "ATOMIC FETCH_AND_ADD"))
		return -1;
	memcpy(&fetched, c->host, 8);
	now_there = *target;
	if (fetched != old || now_there != old + add) {
		fprintf(stderr, PROG ": atomic: fetched 0x%" PRIx64 " (expected 0x%" PRIx64
			"), device memory now 0x%" PRIx64 " (expected 0x%" PRIx64 ")\n",
			fetched, old, now_there, old + add);
		return -1;
	}
	return 0;
}

/* Reset the accelerator: the MR must now fail remote access. */
static int step_revoke(struct ctx *c)
{
	enum ibv_wc_status st;
	int ret;

	p2pacc_munmap(c->dev_map, c->alloc_size);
	c->dev_map = c->dev = NULL;
	/* The simulated catastrophe: debugfs, root only. */
	ret = p2pacc_debug_reset(c->accel_path);
	if (ret) {
		verr("p2pacc_debug_reset", -ret);
		return -1;
	}
	fill(c->host, c->o.size, 1);
	if (post_send(c, 0, IBV_WR_RDMA_WRITE, host_addr(c), c->host_mr->lkey,
		      dev_iova(c), c->dev_mr->rkey, 0) ||
	    wait_wc(c, c->cq[0], "RDMA WRITE to the revoked MR", &st))
		return -1;
	if (st != IBV_WC_REM_ACCESS_ERR) {
		fprintf(stderr, PROG ": RDMA WRITE to the revoked MR: completion status %s, expected %s\n",
			ibv_wc_status_str(st), ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
		return -1;
	}
	ret = ibv_dereg_mr(c->dev_mr);
	c->dev_mr = NULL;
	if (ret) {
		verr("ibv_dereg_mr of the revoked MR", ret);
		return -1;
	}
	return 0;
}

/*
 * How NCCL and UCX learn whether dma-buf MRs work: register fd -1 (length
 * 0, and one page) and take EBADF as "supported", EOPNOTSUPP as "not".
 */
static int probe(struct ctx *c)
{
	static const size_t lens[] = { 0, 4096 };
	int bad = 0;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct ibv_mr *mr;
		int err;

		mr = ibv_reg_dmabuf_mr(c->pd, 0, lens[i], 0, -1,
				       IBV_ACCESS_LOCAL_WRITE);
		err = mr ? 0 : errno;
		if (mr)
			ibv_dereg_mr(mr);
		printf("ibv_reg_dmabuf_mr(fd -1, length %zu): %s\n", lens[i],
		       mr ? "succeeded" : errname(err));
		bad |= err != EBADF;
	}
	printf("dma-buf MRs on %s: %s\n", ibv_get_device_name(c->ibctx->device),
	       bad ? "not reported as supported" : "supported");
	return bad ? EXIT_FAIL : EXIT_PASS;
}

static int report(const char *name, int ret)
{
	printf("  %-44s %s\n", name, ret ? "FAIL" : "ok");
	fflush(stdout);
	return ret;
}

static void cleanup(struct ctx *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->qp[i])
			ibv_destroy_qp(c->qp[i]);
		if (c->cq[i])
			ibv_destroy_cq(c->cq[i]);
	}
	if (c->dev_mr)
		ibv_dereg_mr(c->dev_mr);
	if (c->host_mr)
		ibv_dereg_mr(c->host_mr);
	free(c->host);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->ibctx)
		ibv_close_device(c->ibctx);
	if (c->dev_map)
		p2pacc_munmap(c->dev_map, c->alloc_size);
	if (c->dmabuf_fd >= 0)
		close(c->dmabuf_fd);
	if (c->accel) {
		p2pacc_free(c->accel, c->handle);
		p2pacc_close(c->accel);
	}
}

int main(int argc, char **argv)
{
	struct ctx c = { .dmabuf_fd = -1 };
	int ret, failed = 0;
	char gid[INET6_ADDRSTRLEN] = "none";

	ret = parse_opts(argc, argv, &c.o);
	if (ret)
		return ret > 0 ? EXIT_PASS : EXIT_USAGE;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (c.o.probe) {
		ret = setup_ib(&c) ? EXIT_FAIL : probe(&c);
		cleanup(&c);
		return ret;
	}
	if (setup_ib(&c) || setup_devmem(&c)) {
		cleanup(&c);
		return EXIT_FAIL;
	}
	if (c.o.gid_idx >= 0)
		inet_ntop(AF_INET6, c.gid.raw, gid, sizeof(gid));
	printf("%s port %d, GID index %d (%s), %s\n",
	       ibv_get_device_name(c.ibctx->device), c.o.ib_port, c.o.gid_idx,
	       gid, c.atomics ? "atomics" : "no atomics");

	ret = register_mrs(&c);
	if (ret) {
		cleanup(&c);
		return ret;
	}
	if (connect_qp(&c, c.qp[0], c.qp[1]) || connect_qp(&c, c.qp[1], c.qp[0])) {
		cleanup(&c);
		return EXIT_FAIL;
	}

	for (unsigned int it = 0; it < c.o.iters && !failed; it++) {
		uint32_t seed = it * 8;

		if (c.o.iters > 1)
			printf("iteration %u\n", it + 1);
		failed |= report("RDMA WRITE  host -> device memory",
				 step_write(&c, seed + 1));
		failed |= report("RDMA READ   device memory -> host",
				 step_read(&c, seed + 2));
		failed |= report("SEND/RECV   host -> device memory",
				 step_send(&c, seed + 3, true));
		failed |= report("SEND/RECV   device memory -> host",
				 step_send(&c, seed + 4, false));
		/* An atomic needs 8 bytes of MR */
		if (c.atomics && c.o.size >= 8)
			failed |= report("ATOMIC      fetch-and-add on device memory",
					 step_atomic(&c, seed + 5));
	}
	if (!failed && c.o.revoke)
		failed |= report("revoke      RDMA WRITE fails, MR deregisters",
				 step_revoke(&c));

	cleanup(&c);
	printf("%s\n", failed ? "FAIL" : "PASS");
	return failed ? EXIT_FAIL : EXIT_PASS;
}
