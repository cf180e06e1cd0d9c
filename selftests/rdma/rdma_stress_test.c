// SPDX-License-Identifier: GPL-2.0
/*
 * Stress of dma-buf MRs on Soft-RoCE (rxe) against revoke, through our
 * uverbs client (uverbs.c, no rdma-core), on the contract:
 *
 *  - a revoked dma-buf MR is cut to zero length: RDMA WRITE, READ and
 *    atomics to its rkey complete with a remote access error at an RC
 *    requester, its lkey as a local source or sink with a local
 *    protection error;
 *  - no byte reaches or leaves the device memory once the revoke
 *    returned;
 *  - its lkey and rkey are never handed out again until the MR is
 *    deregistered.
 *
 * Tests:
 *
 *  - revoke_under_traffic_cycles: STRESS_RDMA_CYCLES times, a buffer is
 *    allocated (at a random offset), exported and registered (a random
 *    part of it); RDMA WRITEs, READs and atomics of random sizes run
 *    through the MR (as rkey and as lkey), and the buffer is revoked at a
 *    random point of that traffic, by a debugfs reset, by closing the
 *    owner, or (every tenth cycle) by unbinding the driver, which is then
 *    bound again. As soon as the revoke returned, the same range of device
 *    memory is allocated again and filled with a canary, traffic goes on
 *    against the old keys, and then once more on fresh queue pairs. Every
 *    work request completes; the first to fail gets the status of its
 *    kind (remote access or local protection error) and the rest are
 *    flushed; none posted after the revoke returned succeeds; the canary
 *    is intact; no host byte holds anything but its own or the old
 *    buffer's data. Seeded; counts printed.
 *  - revoked_keys_are_never_reissued_before_dereg: two MRs are revoked
 *    and kept; STRESS_RDMA_KEY_REGS registrations (host memory, and
 *    device memory reallocated in the revoked range) must never get their
 *    MR index, registering the revoked dma-buf again fails with ENODEV,
 *    and the revoked keys keep failing.
 *  - mr_index_wrap_reuses_a_revoked_index_only_after_dereg (make stress):
 *    registrations run across the wrap of rxe's cyclic MR index
 *    allocator (rxe_pool.c: xa_alloc_cyclic() over RXE_MIN_MR_INDEX ..
 *    RXE_MAX_MR_INDEX, 512Ki indices). Two revoked MRs are kept: the
 *    allocator passes both indices without handing them out; once one is
 *    deregistered, its index is handed out again before the allocator
 *    comes back round.
 *
 * Counts: STRESS_RDMA_CYCLES (default 100; the figure is 1000),
 * STRESS_RDMA_KEY_REGS (default 2000; the figure is 10000); STRESS_SEED
 * replays a run (each test prints its seed). Needs root, rxe up (RXE
 * names it) and p2p_accel.ko loaded. rxe is a CPU importer (it vmaps,
 * never DMA-maps), so the PCI topology does not matter.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/p2p_accel.h>

#include "accel_test.h"
#include "uverbs.h"
#include "rdma_test.h"
#include "kselftest_harness.h"

#define DRIVER_DIR	"/sys/bus/pci/drivers/" ACCEL_DRIVER
#define PAGE		4096ULL
#define SZ_1M		(1ULL << 20)
/* The largest buffer a cycle uses, and the MR range of host memory. */
#define MAX_BUF		(256ULL << 10)
#define HOST_SIZE	(2 * SZ_1M)
/* Where in host memory atomics return the old values. */
#define HOST_ATOMIC_OFF	SZ_1M
/* The first bytes of each MR take the atomics; nothing else goes there. */
#define ATOMIC_AREA	64
#define DEV_IOVA	0x7f5500000000ULL
/* Work requests in flight during a cycle. */
#define DEPTH		16

#define DEF_CYCLES	100
#define DEF_KEY_REGS	2000

/* ---- configuration and randomness --------------------------------------- */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	unsigned long v;
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 0);
	return errno || *end ? def : v;
}

/* splitmix64: small, fast, the same sequence for the same seed. */
struct rng {
	uint64_t s;
};

static uint64_t rnd64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t rnd(struct rng *r, uint64_t n)
{
	return n ? rnd64(r) % n : 0;
}

/* STRESS_SEED, or a fresh one; the test prints it for replay. */
static uint64_t stress_seed(void)
{
	const char *s = getenv("STRESS_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the accelerator ----------------------------------------------------- */

/* Open the device bound to p2p_accel (again, after a rebind). */
static int accel_open(char *node, size_t nlen, char *bdf, size_t blen)
{
	int ret, fd;

	ret = find_accel(node, nlen, bdf, blen);
	if (ret)
		return ret;
	fd = open(node, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A buffer of @size, with its offset in device memory (debugfs). */
static int dev_alloc(int accel, const char *bdf, uint64_t size,
		     uint32_t *handle, uint64_t *offset)
{
	int ret;

	ret = accel_alloc(accel, size, 0, handle);
	if (!ret && offset)
		ret = accel_debug_offset(bdf, size, offset);
	return ret;
}

/* ---- fixture -------------------------------------------------------------- */

FIXTURE(rdma_stress) {
	struct rdma_link l;
	char rxe[64], node[64], bdf[32];
	int accel;
	uint8_t *host;
	struct uv_mr host_mr;
	uint64_t seed;
	struct rng rng;
};

FIXTURE_SETUP(rdma_stress)
{
	int ret;

	rdma_link_init(&self->l);
	self->accel = -1;
	ret = rdma_find_rxe(self->rxe, sizeof(self->rxe));
	ASSERT_EQ(0, ret) TH_LOG("no rxe device (is Soft-RoCE up?)");
	ret = rdma_link_open(&self->l, self->rxe);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s (no RoCE v2 GID of an IPv4 address?)",
				 self->rxe, strerror(-ret));
	self->accel = accel_open(self->node, sizeof(self->node), self->bdf,
				 sizeof(self->bdf));
	ASSERT_LE(0, self->accel) TH_LOG("accelerator: %s (p2p_accel loaded?)",
					 strerror(-self->accel));
	self->host = aligned_alloc(PAGE, HOST_SIZE);
	ASSERT_NE(NULL, self->host);
	memset(self->host, 0, HOST_SIZE);
	ret = uv_reg_mr(&self->l.ctx, self->l.pd, self->host, HOST_SIZE,
			(uintptr_t)self->host, UV_ACCESS_ALL, &self->host_mr);
	ASSERT_EQ(0, ret) TH_LOG("host MR: %s", strerror(-ret));

	self->seed = stress_seed();
	self->rng.s = self->seed;
	TH_LOG("seed %llu (replay: STRESS_SEED=%llu)",
	       (unsigned long long)self->seed, (unsigned long long)self->seed);
}

FIXTURE_TEARDOWN(rdma_stress)
{
	/* Closing the uverbs FD deregisters whatever a test left. */
	rdma_link_close(&self->l);
	if (self->accel >= 0)
		close(self->accel);
	free(self->host);
}

/* ---- one work request through a dma-buf MR -------------------------------- */

enum kind {
	WRITE_TO_RKEY,		/* host -> device, B's responder writes */
	READ_FROM_RKEY,		/* device -> host, B's responder reads */
	WRITE_FROM_LKEY,	/* device -> host, A's requester reads */
	READ_INTO_LKEY,		/* host -> device, A's completer writes */
	FETCH_ADD_ON_RKEY,
	CMP_SWAP_ON_RKEY,
	NR_KINDS
};

static const char *const kind_name[NR_KINDS] = {
	[WRITE_TO_RKEY] = "WRITE to rkey",
	[READ_FROM_RKEY] = "READ from rkey",
	[WRITE_FROM_LKEY] = "WRITE from lkey",
	[READ_INTO_LKEY] = "READ into lkey",
	[FETCH_ADD_ON_RKEY] = "fetch-add on rkey",
	[CMP_SWAP_ON_RKEY] = "compare-swap on rkey",
};

/* The status of a work request whose dma-buf MR is revoked. */
static uint32_t revoked_status(enum kind k)
{
	return k == WRITE_FROM_LKEY || k == READ_INTO_LKEY ?
	       UV_WC_LOC_PROT_ERR : UV_WC_REM_ACCESS_ERR;
}

/*
 * The work request of kind @k at MR-relative position @x, @len bytes.
 * Host memory is used at the same relative position (identity mapping),
 * so that any host byte is either its own or the device's at @x;
 * atomics return into their own area of host memory, @slot.
 */
static struct uv_send_wr make_wr(enum kind k, const struct uv_mr *dev,
				 const struct uv_mr *host, uint64_t host_base,
				 uint64_t x, uint32_t len, uint32_t slot,
				 uint64_t wr_id)
{
	struct uv_send_wr wr = {
		.wr_id = wr_id,
		.send_flags = UV_SEND_SIGNALED,
		.num_sge = 1,
	};
	uint64_t hostx = host_base + x;

	switch (k) {
	case WRITE_TO_RKEY:
		wr.opcode = IB_UVERBS_WR_RDMA_WRITE;
		wr.sge[0] = (struct uv_sge){ hostx, len, host->lkey };
		wr.remote_addr = dev->iova + x;
		wr.rkey = dev->rkey;
		break;
	case READ_FROM_RKEY:
		wr.opcode = IB_UVERBS_WR_RDMA_READ;
		wr.sge[0] = (struct uv_sge){ hostx, len, host->lkey };
		wr.remote_addr = dev->iova + x;
		wr.rkey = dev->rkey;
		break;
	case WRITE_FROM_LKEY:
		wr.opcode = IB_UVERBS_WR_RDMA_WRITE;
		wr.sge[0] = (struct uv_sge){ dev->iova + x, len, dev->lkey };
		wr.remote_addr = hostx;
		wr.rkey = host->rkey;
		break;
	case READ_INTO_LKEY:
		wr.opcode = IB_UVERBS_WR_RDMA_READ;
		wr.sge[0] = (struct uv_sge){ dev->iova + x, len, dev->lkey };
		wr.remote_addr = hostx;
		wr.rkey = host->rkey;
		break;
	case FETCH_ADD_ON_RKEY:
	case CMP_SWAP_ON_RKEY:
		wr.opcode = k == FETCH_ADD_ON_RKEY ?
			    IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD :
			    IB_UVERBS_WR_ATOMIC_CMP_AND_SWP;
		wr.sge[0] = (struct uv_sge){
			host_base + HOST_ATOMIC_OFF + 8 * (slot % 4096), 8,
			host->lkey };
		wr.remote_addr = dev->iova + x;
		wr.rkey = dev->rkey;
		wr.compare_add = 1;
		wr.swap = 0x5a5a5a5a5a5a5a5aULL;
		break;
	default:
		break;
	}
	return wr;
}

/* A random work request within an MR of @mr_len bytes. */
static enum kind pick_wr(struct rng *r, uint64_t mr_len, uint64_t *x,
			 uint32_t *len)
{
	enum kind k = rnd(r, NR_KINDS);

	if (k == FETCH_ADD_ON_RKEY || k == CMP_SWAP_ON_RKEY) {
		*x = 8 * rnd(r, ATOMIC_AREA / 8);
		*len = 8;
	} else {
		*len = 1 + rnd(r, 16384);
		*x = ATOMIC_AREA + rnd(r, mr_len - ATOMIC_AREA - *len + 1);
	}
	return k;
}

/* ---- revoke-under-traffic cycles ------------------------------------------ */

enum how { BY_RESET, BY_OWNER_CLOSE, BY_UNBIND, NR_HOWS };

static const char *const how_name[NR_HOWS] = {
	[BY_RESET] = "debugfs reset",
	[BY_OWNER_CLOSE] = "owner close",
	[BY_UNBIND] = "unbind and rebind",
};

/* What the revoking thread does, and what it found. */
struct revoker {
	/* in */
	enum how how;
	int accel;			/* owner FD; replaced unless by reset */
	char *node, *bdf;		/* found again after a rebind */
	uint64_t size, spacer;		/* the buffer, the one below it */
	uint64_t offset;		/* where the buffer was */
	unsigned int canary;
	int min_successes;		/* traffic to see before revoking */
	uint64_t delay_us;		/* and then this long */
	int successes;			/* completions seen by the poster */
	int give_up;			/* traffic ended first */
	/* out */
	int revoked;			/* the revoke returned */
	int done;			/* and the range is reallocated, canary in */
	int ret;			/* 0 or -errno of the first failing step */
	const char *step;
	uint32_t new_bo, new_spacer;
	uint64_t new_offset;
	uint8_t *new_cpu;		/* the canary buffer, mapped */
};

static void *revoker_thread(void *arg)
{
	struct revoker *r = arg;
	int ret = 0;

	while (__atomic_load_n(&r->successes, __ATOMIC_ACQUIRE) <
	       r->min_successes) {
		if (__atomic_load_n(&r->give_up, __ATOMIC_ACQUIRE))
			return NULL;
		sleep_us(200);
	}
	sleep_us(r->delay_us);

	r->step = how_name[r->how];
	switch (r->how) {
	case BY_RESET:
		ret = accel_debug_reset(r->bdf);
		break;
	case BY_OWNER_CLOSE:
		ret = close(r->accel) ? -errno : 0;
		r->accel = -1;
		break;
	case BY_UNBIND:
		ret = write_file(DRIVER_DIR "/unbind", r->bdf);
		close(r->accel);
		r->accel = -1;
		break;
	default:
		ret = -EINVAL;
	}
	__atomic_store_n(&r->revoked, 1, __ATOMIC_RELEASE);
	if (!ret && r->how == BY_UNBIND) {
		r->step = "bind";
		ret = write_file(DRIVER_DIR "/bind", r->bdf);
	}
	if (!ret && r->accel < 0) {
		r->step = "open the device again";
		r->accel = accel_open(r->node, 64, r->bdf, 32);
		ret = r->accel < 0 ? r->accel : 0;
	}

	/*
	 * The revoke returned: take the same range of device memory back
	 * (the allocator is deterministic: the same spacer below, then the
	 * same size) and fill it with the canary. RDMA through the old keys
	 * must never touch it.
	 */
	if (!ret && r->spacer) {
		r->step = "reallocate the spacer";
		ret = dev_alloc(r->accel, r->bdf, r->spacer, &r->new_spacer, NULL);
	}
	if (!ret) {
		r->step = "reallocate the range";
		ret = dev_alloc(r->accel, r->bdf, r->size, &r->new_bo,
				&r->new_offset);
	}
	if (!ret) {
		r->step = "map the new buffer";
		r->new_cpu = map_gem(r->accel, r->new_bo, r->size);
		if (!r->new_cpu)
			ret = -errno;
		else
			fill(r->new_cpu, r->size, r->canary);
	}
	if (ret)
		r->ret = ret;
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Host memory after a cycle: the first byte that is neither its own
 * (fill(@pat_host)) nor, where data moved, the old buffer's at the same
 * MR position; -1 if none.
 */
static long host_check(const uint8_t *host, unsigned int pat_host,
		       unsigned int pat_dev, uint64_t mr_off, uint64_t mr_len)
{
	for (uint64_t x = 0; x < HOST_ATOMIC_OFF; x++) {
		if (host[x] == pat(pat_host, x))
			continue;
		if (x >= ATOMIC_AREA && x < mr_len &&
		    host[x] == pat(pat_dev, mr_off + x))
			continue;
		return x;
	}
	return -1;
}

/* The completions of a cycle, in order, for the log of a failure. */
static void dump_cycle(struct __test_metadata *_metadata, unsigned long cycle,
		       const enum kind *kinds, const uint32_t *status,
		       const bool *posted_after, const int *order, int n)
{
	for (int i = 0; i < n; i++)
		TH_LOG("cycle %lu: completion %d: #%d %s%s: %s", cycle, i,
		       order[i], kind_name[kinds[order[i]]],
		       posted_after[order[i]] ? " (posted after the revoke)" : "",
		       uv_wc_status_str(status[order[i]]));
}

struct cycle_counts {
	unsigned long cycles, by_how[NR_HOWS];
	unsigned long wrs, ok_before, failed, flushed, posted_after;
	unsigned long by_kind_error[NR_KINDS];
	unsigned long retries, canary_bytes, host_bytes;
};

/* One register -> traffic -> revoke -> dereg cycle. */
static void one_cycle(struct __test_metadata *_metadata,
		      FIXTURE_DATA(rdma_stress) *self, unsigned long cycle,
		      enum how how, struct cycle_counts *cnt)
{
	static const uint64_t sizes[] = { 64 << 10, 128 << 10, 256 << 10 };
	struct rng *rng = &self->rng;
	uint64_t size = sizes[rnd(rng, 3)];
	/* Sizes no buffer has, so that debugfs tells the buffer apart. */
	uint64_t spacer = rnd(rng, 5) * (48ULL << 10);
	uint64_t mr_off = rnd(rng, size / PAGE / 2) * PAGE;
	uint64_t mr_len = size - mr_off - rnd(rng, (size - mr_off) / PAGE / 2) * PAGE;
	unsigned int pat_dev = rnd64(rng), pat_host = rnd64(rng);
	int after = 4 + rnd(rng, 13), max_wrs = 4000;
	struct revoker r = {
		.how = how, .accel = self->accel, .node = self->node,
		.bdf = self->bdf, .size = size, .spacer = spacer,
		.canary = rnd64(rng), .min_successes = rnd(rng, 25),
		.delay_us = rnd(rng, 3000),
	};
	uint32_t spacer_bo = 0, bo;
	enum kind *kinds = calloc(max_wrs, sizeof(*kinds));
	bool *posted_after = calloc(max_wrs, sizeof(bool));
	int *order = calloc(max_wrs, sizeof(int));
	uint32_t *status = calloc(max_wrs, sizeof(uint32_t));
	int posted = 0, completed = 0, err_wr = -1, late = 0, after_revoke = 0;
	int successes = 0, failures = 0, flushed = 0, dmabuf, ret;
	const char *why = NULL;
	struct uv_send_wr wr;
	struct uv_mr mr;
	struct ib_uverbs_wc wc;
	pthread_t thread;
	uint8_t *dev;
	uint32_t len;
	uint64_t x;
	enum kind k;
	long bad;

	ASSERT_NE(NULL, kinds);
	ASSERT_NE(NULL, posted_after);
	ASSERT_NE(NULL, order);
	ASSERT_NE(NULL, status);
	if (spacer)
		ASSERT_EQ(0, dev_alloc(self->accel, self->bdf, spacer,
				       &spacer_bo, NULL));
	ASSERT_EQ(0, dev_alloc(self->accel, self->bdf, size, &bo, &r.offset));
	ASSERT_EQ(spacer, r.offset) TH_LOG("cycle %lu: buffer not right above the spacer",
					   cycle);
	ASSERT_EQ(0, prime_export(self->accel, bo, &dmabuf));
	dev = map_gem(self->accel, bo, size);
	ASSERT_NE(NULL, dev) TH_LOG("mmap: %s", strerror(errno));
	fill(dev, size, pat_dev);
	/* A mapping holds the owner's file: closing it would revoke nothing. */
	munmap(dev, size);
	ret = uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, mr_off, mr_len,
			       DEV_IOVA + mr_off, dmabuf, UV_ACCESS_ALL, &mr);
	ASSERT_EQ(0, ret) TH_LOG("cycle %lu: register: %s", cycle, strerror(-ret));
	fill(self->host, HOST_SIZE, pat_host);

	/* From here the thread owns the accelerator FD. */
	ASSERT_EQ(0, pthread_create(&thread, NULL, revoker_thread, &r));
	while (completed < posted || (posted < max_wrs && late < after)) {
		/*
		 * Once the QP failed, until the canary is in, new work
		 * requests are only flushed: a few are enough.
		 */
		int depth = DEPTH;

		if (failures && !__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
			depth = 1;
			if (completed == posted)
				sleep_us(1000);
		}
		while (posted - completed < depth && posted < max_wrs &&
		       late < after) {
			bool revoked = __atomic_load_n(&r.revoked,
						       __ATOMIC_ACQUIRE);
			bool canary_in = __atomic_load_n(&r.done,
							 __ATOMIC_ACQUIRE);

			k = pick_wr(rng, mr_len, &x, &len);
			wr = make_wr(k, &mr, &self->host_mr,
				     (uintptr_t)self->host, x, len, posted,
				     posted);
			ret = uv_post_send(&self->l.ctx, &self->l.qp_a, &wr);
			ASSERT_EQ(0, ret) TH_LOG("post: %s", strerror(-ret));
			kinds[posted] = k;
			posted_after[posted++] = revoked;
			after_revoke += revoked;
			late += canary_in;
		}
		ret = uv_wait_cq(&self->l.cq_a, &wc, RDMA_WAIT_MS);
		ASSERT_EQ(0, ret) TH_LOG("cycle %lu: no completion for %d posted work requests (%d done)",
					 cycle, posted - completed, completed);
		ASSERT_GT(posted, wc.wr_id);
		order[completed++] = wc.wr_id;
		status[wc.wr_id] = wc.status;
		if (wc.status == UV_WC_SUCCESS) {
			if (failures)
				why = "a success after a failure";
			else if (posted_after[wc.wr_id])
				why = "a success of a work request posted after the revoke returned";
			if (why)
				break;
			__atomic_store_n(&r.successes, ++successes,
					 __ATOMIC_RELEASE);
			continue;
		}
		/*
		 * The one error: the status of its own kind. Work requests
		 * completing before it may be flushed, when a later one
		 * (an lkey checked as the requester sends) broke the QP
		 * while they waited for their response.
		 */
		failures++;
		if (wc.status == UV_WC_WR_FLUSH_ERR) {
			flushed++;
			continue;
		}
		if (err_wr >= 0)
			why = "a second error";
		else if (wc.status != revoked_status(kinds[wc.wr_id]))
			why = "not the status of its kind";
		if (why)
			break;
		err_wr = wc.wr_id;
	}
	if (why || err_wr < 0)
		dump_cycle(_metadata, cycle, kinds, status, posted_after, order,
			   completed);
	ASSERT_EQ(NULL, why)
		TH_LOG("cycle %lu: completion %d (#%d, %s) is %s: %s", cycle,
		       completed - 1, order[completed - 1],
		       kind_name[kinds[order[completed - 1]]],
		       uv_wc_status_str(status[order[completed - 1]]), why);
	ASSERT_LE(0, err_wr) TH_LOG("cycle %lu: no error completion, %d flushed",
				    cycle, flushed);
	__atomic_store_n(&r.give_up, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	self->accel = r.accel;
	ASSERT_TRUE(r.done) TH_LOG("cycle %lu: %d work requests, never %d successes: the revoke never ran",
				   cycle, completed, r.min_successes);
	ASSERT_EQ(0, r.ret) TH_LOG("cycle %lu: %s: %s", cycle, r.step,
				   strerror(-r.ret));
	ASSERT_EQ(r.offset, r.new_offset) TH_LOG("cycle %lu: the range was not reallocated",
						 cycle);

	/* Once more through the old keys, on fresh queue pairs. */
	ASSERT_EQ(0, rdma_link_reconnect(&self->l));
	k = pick_wr(rng, mr_len, &x, &len);
	wr = make_wr(k, &mr, &self->host_mr, (uintptr_t)self->host, x, len, 0,
		     0x7e7);
	ret = rdma_run_wr(&self->l, &wr);
	ASSERT_EQ((int)revoked_status(k), ret)
		TH_LOG("cycle %lu: %s through the revoked MR: %s", cycle,
		       kind_name[k], rdma_result_str(ret));
	cnt->retries++;
	ASSERT_EQ(0, rdma_link_reconnect(&self->l));

	/* Nothing reached the canary; no host byte came from it. */
	bad = check_fill(r.new_cpu, size, r.canary);
	ASSERT_EQ(-1, bad) TH_LOG("cycle %lu (%s): byte %ld of the reallocated range was written after the revoke",
				  cycle, how_name[how], bad);
	bad = host_check(self->host, pat_host, pat_dev, mr_off, mr_len);
	ASSERT_EQ(-1, bad) TH_LOG("cycle %lu (%s): host byte %ld is %#x: neither its own nor the old device data",
				  cycle, how_name[how], bad, self->host[bad]);

	/* The revoked MR deregisters; everything goes back. */
	ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &mr));
	close(dmabuf);
	if (how == BY_RESET) {
		ASSERT_EQ(0, gem_close(self->accel, bo));
		if (spacer)
			ASSERT_EQ(0, gem_close(self->accel, spacer_bo));
	}
	munmap(r.new_cpu, size);
	ASSERT_EQ(0, gem_close(self->accel, r.new_bo));
	if (spacer)
		ASSERT_EQ(0, gem_close(self->accel, r.new_spacer));
	ASSERT_EQ(0, read_sysfs_u64(self->bdf, "devmem_used"))
		TH_LOG("cycle %lu: device memory still in use", cycle);

	cnt->cycles++;
	cnt->by_how[how]++;
	cnt->wrs += completed;
	cnt->ok_before += successes;
	cnt->failed += failures - flushed;
	cnt->flushed += flushed;
	cnt->posted_after += after_revoke;
	cnt->by_kind_error[kinds[err_wr]]++;
	cnt->canary_bytes += size;
	cnt->host_bytes += mr_len;
	free(kinds);
	free(posted_after);
	free(order);
	free(status);
}

TEST_F_TIMEOUT(rdma_stress, revoke_under_traffic_cycles, 3600)
{
	unsigned long cycles = env_ul("STRESS_RDMA_CYCLES", DEF_CYCLES);
	struct cycle_counts cnt = { 0 };

	TH_LOG("%lu cycles (STRESS_RDMA_CYCLES), every tenth by unbind", cycles);
	for (unsigned long i = 0; i < cycles; i++) {
		enum how how = i % 10 == 9 ? BY_UNBIND :
			       rnd(&self->rng, 2) ? BY_OWNER_CLOSE : BY_RESET;

		one_cycle(_metadata, self, i, how, &cnt);
		if (_metadata->exit_code)
			return;
		if ((i + 1) % 100 == 0 || i + 1 == cycles)
			TH_LOG("%lu/%lu cycles: %lu work requests, %lu succeeded before the revoke, %lu failed and %lu flushed after it",
			       i + 1, cycles, cnt.wrs, cnt.ok_before,
			       cnt.failed, cnt.flushed);
	}
	TH_LOG("cycles %lu (reset %lu, owner close %lu, unbind %lu)",
	       cnt.cycles, cnt.by_how[BY_RESET], cnt.by_how[BY_OWNER_CLOSE],
	       cnt.by_how[BY_UNBIND]);
	TH_LOG("work requests %lu: completed before the revoke %lu, failed after %lu (first error) + %lu (flushed), posted after the revoke returned %lu (all failed)",
	       cnt.wrs, cnt.ok_before, cnt.failed, cnt.flushed,
	       cnt.posted_after);
	TH_LOG("the error completion by kind: WRITE to rkey %lu, READ from rkey %lu, WRITE from lkey %lu, READ into lkey %lu, fetch-add %lu, compare-swap %lu",
	       cnt.by_kind_error[WRITE_TO_RKEY], cnt.by_kind_error[READ_FROM_RKEY],
	       cnt.by_kind_error[WRITE_FROM_LKEY], cnt.by_kind_error[READ_INTO_LKEY],
	       cnt.by_kind_error[FETCH_ADD_ON_RKEY], cnt.by_kind_error[CMP_SWAP_ON_RKEY]);
	TH_LOG("retries through revoked keys on fresh QPs %lu (all failed); canary checks %lu (%lu bytes intact); host bytes checked %lu",
	       cnt.retries, cnt.cycles, cnt.canary_bytes, cnt.host_bytes);
}

/* ---- revoked keys are not handed out again -------------------------------- */

/*
 * Through a revoked MR's keys: a WRITE to its rkey and a READ from it
 * fail with a remote access error, a WRITE from its lkey with a local
 * protection error; each on fresh queue pairs.
 */
static void probe_revoked(struct __test_metadata *_metadata,
			  FIXTURE_DATA(rdma_stress) *self,
			  const struct uv_mr *mr)
{
	static const enum kind kinds[] = {
		WRITE_TO_RKEY, READ_FROM_RKEY, WRITE_FROM_LKEY,
	};

	for (unsigned int i = 0; i < 3; i++) {
		struct uv_send_wr wr = make_wr(kinds[i], mr, &self->host_mr,
					       (uintptr_t)self->host,
					       ATOMIC_AREA, 256, 0, 0x9e0 + i);
		int ret = rdma_run_wr(&self->l, &wr);

		ASSERT_EQ((int)revoked_status(kinds[i]), ret)
			TH_LOG("%s of revoked key %#x: %s", kind_name[kinds[i]],
			       mr->rkey, rdma_result_str(ret));
		ASSERT_EQ(0, rdma_link_reconnect(&self->l));
	}
}

TEST_F_TIMEOUT(rdma_stress, revoked_keys_are_never_reissued_before_dereg, 3600)
{
	const unsigned long regs = env_ul("STRESS_RDMA_KEY_REGS", DEF_KEY_REGS);
	const uint64_t size = 256 << 10;
	unsigned long n_host = 0, n_dev = 0, n_enodev = 0, n_probes = 0;
	uint32_t bo, new_bo, idx[2];
	uint64_t off, new_off;
	int dmabuf, new_dmabuf, ret;
	struct uv_mr revoked[2], mr;
	unsigned int canary = rnd64(&self->rng);
	uint8_t *canary_cpu;

	ASSERT_EQ(0, dev_alloc(self->accel, self->bdf, size, &bo, &off));
	ASSERT_EQ(0, prime_export(self->accel, bo, &dmabuf));
	ASSERT_EQ(0, uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, 0, size,
				      DEV_IOVA, dmabuf, UV_ACCESS_ALL,
				      &revoked[0]));
	ASSERT_EQ(0, uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, size / 2,
				      size / 2, DEV_IOVA + size / 2, dmabuf,
				      UV_ACCESS_ALL, &revoked[1]));
	for (int i = 0; i < 2; i++)
		idx[i] = rdma_key_index(revoked[i].lkey);
	ASSERT_EQ(0, accel_debug_reset(self->bdf));

	/* The revoked range, reallocated and under a canary. */
	ASSERT_EQ(0, dev_alloc(self->accel, self->bdf, size, &new_bo, &new_off));
	ASSERT_EQ(off, new_off);
	ASSERT_EQ(0, prime_export(self->accel, new_bo, &new_dmabuf));
	canary_cpu = map_gem(self->accel, new_bo, size);
	ASSERT_NE(NULL, canary_cpu);
	fill(canary_cpu, size, canary);
	TH_LOG("revoked MRs: keys %#x and %#x (indices %#x, %#x); %lu registrations (STRESS_RDMA_KEY_REGS)",
	       revoked[0].lkey, revoked[1].lkey, idx[0], idx[1], regs);

	while (n_host + n_dev < regs) {
		uint64_t r = rnd(&self->rng, 10), o, l;

		if (r == 9) {
			/* The revoked dma-buf itself: refused, nothing made. */
			ret = uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, 0, PAGE,
					       DEV_IOVA, dmabuf, UV_ACCESS_ALL,
					       &mr);
			ASSERT_EQ(-ENODEV, ret)
				TH_LOG("registering the revoked dma-buf: %s",
				       strerror(-ret));
			n_enodev++;
			continue;
		}
		if (r < 6) {
			o = rnd(&self->rng, HOST_SIZE / PAGE) * PAGE;
			ret = uv_reg_mr(&self->l.ctx, self->l.pd,
					self->host + o, PAGE,
					(uintptr_t)self->host + o,
					UV_ACCESS_ALL, &mr);
			n_host++;
		} else {
			o = rnd(&self->rng, size / PAGE) * PAGE;
			l = (1 + rnd(&self->rng, (size - o) / PAGE)) * PAGE;
			ret = uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, o, l,
					       DEV_IOVA + o, new_dmabuf,
					       UV_ACCESS_ALL, &mr);
			n_dev++;
		}
		ASSERT_EQ(0, ret) TH_LOG("registration %lu: %s",
					 n_host + n_dev, strerror(-ret));
		for (int i = 0; i < 2; i++) {
			ASSERT_NE(idx[i], rdma_key_index(mr.lkey))
				TH_LOG("registration %lu: lkey %#x reuses the index of revoked key %#x",
				       n_host + n_dev, mr.lkey, revoked[i].lkey);
			ASSERT_NE(idx[i], rdma_key_index(mr.rkey))
				TH_LOG("registration %lu: rkey %#x reuses the index of revoked key %#x",
				       n_host + n_dev, mr.rkey, revoked[i].rkey);
		}
		ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &mr));

		if ((n_host + n_dev) % 1000 == 0 || n_host + n_dev == regs) {
			probe_revoked(_metadata, self, &revoked[0]);
			probe_revoked(_metadata, self, &revoked[1]);
			n_probes += 6;
			ASSERT_EQ(-1, check_fill(canary_cpu, size, canary))
				TH_LOG("the reallocated range changed");
			TH_LOG("%lu/%lu registrations (%lu host, %lu device memory), %lu refused with ENODEV: no revoked index handed out",
			       n_host + n_dev, regs, n_host, n_dev, n_enodev);
		}
	}

	/* Deregistration of the revoked MRs is what frees their keys. */
	ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &revoked[0]));
	ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &revoked[1]));
	TH_LOG("registrations %lu (host memory %lu, the revoked range reallocated %lu), registrations of the revoked dma-buf refused %lu, RDMA through the revoked keys refused %lu: none got a revoked key before dereg",
	       n_host + n_dev, n_host, n_dev, n_enodev, n_probes);
	munmap(canary_cpu, size);
	close(new_dmabuf);
	close(dmabuf);
}

/* ---- across the wrap of rxe's MR indices ---------------------------------- */

/*
 * rxe hands out MR indices with xa_alloc_cyclic(): one after the other,
 * skipping those in use, round to the start at the top. Two revoked MRs,
 * X and Y, are kept while host MRs are registered and deregistered until
 * the indices wrap; neither index is handed out. X is deregistered just
 * before the allocator comes back to it: its index must be handed out
 * again before the allocator passes it, Y's never while Y is held.
 */
TEST_F_TIMEOUT(rdma_stress, mr_index_wrap_reuses_a_revoked_index_only_after_dereg,
	       14400)
{
	const unsigned long limit = 4UL << 20;	/* a bug, not slowness */
	const uint64_t size = 64 << 10;
	unsigned long n = 0, wrapped_at = 0, x_freed_at = 0, x_reused_at = 0;
	uint32_t bo, ix, iy, top = 0, last = 0, first;
	bool wrapped = false, x_held = true, passed_y = false;
	struct uv_mr x, y, mr;
	int dmabuf, ret;

	ASSERT_EQ(0, dev_alloc(self->accel, self->bdf, size, &bo, NULL));
	ASSERT_EQ(0, prime_export(self->accel, bo, &dmabuf));
	ASSERT_EQ(0, uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, 0, size,
				      DEV_IOVA, dmabuf, UV_ACCESS_ALL, &x));
	ASSERT_EQ(0, uv_reg_dmabuf_mr(&self->l.ctx, self->l.pd, 0, size,
				      DEV_IOVA, dmabuf, UV_ACCESS_ALL, &y));
	ix = rdma_key_index(x.lkey);
	iy = rdma_key_index(y.lkey);
	ASSERT_EQ(0, accel_debug_reset(self->bdf));
	first = iy;
	TH_LOG("revoked MRs X %#x and Y %#x kept (indices %#x, %#x)",
	       x.lkey, y.lkey, ix, iy);

	for (last = iy; n < limit; n++) {
		uint32_t i;

		ret = uv_reg_mr(&self->l.ctx, self->l.pd, self->host, PAGE,
				(uintptr_t)self->host, UV_ACCESS_ALL, &mr);
		ASSERT_EQ(0, ret) TH_LOG("registration %lu: %s", n, strerror(-ret));
		i = rdma_key_index(mr.lkey);
		ASSERT_EQ(i, rdma_key_index(mr.rkey));
		ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &mr));

		ASSERT_NE(iy, i)
			TH_LOG("registration %lu: index %#x of revoked Y handed out while Y is held",
			       n, i);
		if (x_held) {
			ASSERT_NE(ix, i)
				TH_LOG("registration %lu: index %#x of revoked X handed out while X is held",
				       n, i);
		} else if (i == ix && !x_reused_at) {
			x_reused_at = n;
		}
		if (i < last && !wrapped) {
			wrapped = true;
			wrapped_at = n;
			TH_LOG("registration %lu: indices wrapped from %#x to %#x",
			       n, top, i);
		}
		if (i > top)
			top = i;
		if (wrapped && i > iy && last <= iy)
			passed_y = true;
		last = i;

		/* Just before the allocator gets back to X: let X go. */
		if (wrapped && x_held && (long)i >= (long)ix - 16 && i < ix) {
			probe_revoked(_metadata, self, &x);
			ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &x));
			x_held = false;
			x_freed_at = n;
			TH_LOG("registration %lu: index %#x, revoked X still refused after the wrap, deregistered",
			       n, i);
		}
		if (x_reused_at && passed_y)
			break;
		if (n % 65536 == 0)
			TH_LOG("%lu registrations, last index %#x (from %#x)", n, i,
			       first);
	}
	ASSERT_TRUE(wrapped) TH_LOG("%lu registrations without a wrap", n);
	ASSERT_NE(0, x_reused_at) TH_LOG("X's index %#x not handed out again after its dereg (registration %lu)",
					 ix, x_freed_at);
	probe_revoked(_metadata, self, &y);
	ASSERT_EQ(0, uv_dereg_mr(&self->l.ctx, &y));
	TH_LOG("registrations %lu across the wrap (indices up to %#x, wrapped at registration %lu): X's index handed out again %lu registrations after its dereg, Y's passed while held and never handed out",
	       n + 1, top, wrapped_at, x_reused_at - x_freed_at);
	close(dmabuf);
}

TEST_HARNESS_MAIN
