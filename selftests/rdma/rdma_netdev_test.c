// SPDX-License-Identifier: GPL-2.0
/*
 * dma-buf MRs on rxe devices over netdevs other than the VM's virtio NIC,
 * and rxe going away under live dma-buf MRs. rxe imports a dma-buf as a
 * CPU importer, so the netdev under it (no PCI parent at all for veth and
 * lo) makes no difference to registration. Raw uverbs, no rdma-core.
 *
 * - netdev: an rxe device of its own on one end of a veth pair, or on lo;
 *   RDMA WRITE/READ/SEND/atomics between p2p_accel device memory and host
 *   memory through it (two QPs of that device connected to each other),
 *   byte-exact; the revoke fails its keys.
 * - two_namespaces: a veth pair across two network namespaces with an rxe
 *   device on each end, dma-buf MR traffic between them.
 * - unplug: `rdma link delete` of the rxe device, or deletion of its veth,
 *   while dma-buf MRs, QPs and traffic are live: no splat, the deletion
 *   finishes once the process closed everything (rxe cannot disassociate
 *   a user context: ib_uverbs waits for it), the process can close
 *   everything, and the accelerator then revokes and frees cleanly; once
 *   with the revoke while the deletion is still pending.
 *
 * Needs root, p2p_accel.ko loaded, ip and rdma (iproute2) in PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/p2p_accel.h>

#include "accel_test.h"
#include "uverbs.h"
#include "kselftest_harness.h"
#include "rdma_pair.h"

#define DEV_SIZE	(256 * 1024ULL)
#define HOST_SIZE	(256 * 1024ULL)
#define RXE_T		"rxe_t0"
#define RXE_T1		"rxe_t1"
#define VETH_A		"rdt_va"
#define VETH_B		"rdt_vb"
#define NS_A		"rdt_nsa"
#define NS_B		"rdt_nsb"

/* ---- running ip and rdma ------------------------------------------------ */

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Exit status of the command, -1 if it did not exit normally. */
static int run(const char *cmd)
{
	char *argv[24], buf[512], *save, *tok;
	int n = 0, status;
	pid_t pid;

	snprintf(buf, sizeof(buf), "%s", cmd);
	for (tok = strtok_r(buf, " ", &save); tok && n < 23;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	pid = spawn(argv);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Exit status of @pid once it exits within @ms, else -ETIMEDOUT. */
static int wait_child(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i <= ms / 10; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0)
			return -errno;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static bool ibdev_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s", name);
	return access(path, F_OK) == 0;
}

/* Until @name has a uverbs node and a RoCE v2 IPv4 GID (10 s at most). */
static int wait_rxe_ready(const char *name)
{
	uint8_t gid[16];
	char node[64];
	int idx, ret = -ENODEV;

	for (int i = 0; i < 100; i++) {
		ret = uv_find_uverbs_node(name, node, sizeof(node));
		if (!ret)
			ret = uv_find_roce_v2_ipv4_gid(name, 1, gid, &idx);
		if (!ret)
			return 0;
		usleep(100000);
	}
	return ret;
}

/* What an earlier test may have left: only what exists (exec is slow). */
static void cleanup_links(void)
{
	if (ibdev_exists(RXE_T))
		run("rdma link delete " RXE_T);
	if (ibdev_exists(RXE_T1))
		run("rdma link delete " RXE_T1);
	if (!access("/sys/class/net/" VETH_A, F_OK))
		run("ip link delete " VETH_A);
	if (!access("/run/netns/" NS_A, F_OK))
		run("ip netns delete " NS_A);
	if (!access("/run/netns/" NS_B, F_OK))
		run("ip netns delete " NS_B);
}

/* ---- the state of a test ------------------------------------------------ */

struct env {
	struct uv_ctx ctx;
	struct pair p;
	struct accel acc;
	struct accel_buf ab;
	struct buf host, dev;
	struct uv_mr extra[8];
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->ctx.fd = e->ctx.async_fd = -1;
	e->acc.fd = -1;
	e->ab.dmabuf = -1;
}

/* rxe @ibdev is up: a PD, two QPs, host memory, a registered device buffer. */
static void env_setup(struct __test_metadata *_metadata, struct env *e,
		      const char *ibdev)
{
	int ret;

	ret = uv_open(&e->ctx, ibdev);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", ibdev, strerror(-ret));
	ASSERT_EQ(0, uv_alloc_pd(&e->ctx, &e->p.a.pd));
	e->p.b.pd = e->p.a.pd;
	e->p.a.ctx = e->p.b.ctx = &e->ctx;
	ret = pair_connect(&e->p, IB_UVERBS_QPT_RC);
	ASSERT_EQ(0, ret) TH_LOG("connect QPs on %s: %s", ibdev, strerror(-ret));
	ASSERT_EQ(0, host_buf(&e->ctx, e->p.a.pd, &e->host, HOST_SIZE,
			      UV_ACCESS_ALL));
	ret = accel_open(&e->acc);
	ASSERT_EQ(0, ret) TH_LOG("no p2p_accel device: %s", strerror(-ret));
	ASSERT_EQ(0, accel_buf_new(&e->acc, DEV_SIZE, &e->ab));
	e->dev.cpu = e->ab.cpu;
	e->dev.size = DEV_SIZE;
	e->dev.device = true;
	ret = uv_reg_dmabuf_mr(&e->ctx, e->p.a.pd, 0, DEV_SIZE, DEV_IOVA,
			       e->ab.dmabuf, UV_ACCESS_ALL, &e->dev.mr);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR on %s: %s", ibdev, strerror(-ret));
}

static void env_close(struct env *e)
{
	pair_disconnect(&e->p);
	uv_close(&e->ctx);
}

static void env_teardown(struct env *e)
{
	env_close(e);
	accel_buf_drop(&e->acc, &e->ab);
	if (e->acc.fd >= 0)
		close(e->acc.fd);
	free(e->host.cpu);
}

static int op(struct pair *p, uint32_t opcode, struct buf *local,
	      uint64_t lpos, uint32_t len, struct buf *remote, uint64_t rpos)
{
	struct ib_uverbs_wc wc;
	int ret;

	ret = post_op(p, &p->a, 1, opcode, local, lpos, len, remote, rpos);
	if (!ret)
		ret = wait_wc(&p->a, &wc);
	return ret ? ret : (int)wc.status;
}

/* WRITE, READ, SEND and fetch-add between device and host, byte-exact. */
static void traffic(struct __test_metadata *_metadata, struct pair *p,
		    struct buf *dev, struct buf *host)
{
	struct ib_uverbs_wc wc;
	int ret;

	fill(host->cpu, 70000, 1);
	ret = op(p, IB_UVERBS_WR_RDMA_WRITE, host, 0, 70000, dev, 4093);
	ASSERT_EQ(0, ret) TH_LOG("WRITE host -> device: %s", result_str(ret));
	EXPECT_EQ(-1, check_fill(dev->cpu + 4093, 70000, 1));

	fill(dev->cpu + 100000, 70000, 2);
	ret = op(p, IB_UVERBS_WR_RDMA_READ, host, 7, 70000, dev, 100000);
	ASSERT_EQ(0, ret) TH_LOG("READ device -> host: %s", result_str(ret));
	EXPECT_EQ(-1, check_fill(host->cpu + 7, 70000, 2));

	fill(dev->cpu, 4096, 3);
	ASSERT_EQ(0, post_recv_buf(&p->b, 2, host, 200000, 4096));
	ret = op(p, IB_UVERBS_WR_SEND, dev, 0, 4096, NULL, 0);
	ASSERT_EQ(0, ret) TH_LOG("SEND device -> host: %s", result_str(ret));
	ASSERT_EQ(0, wait_wc(&p->b, &wc));
	EXPECT_EQ(UV_WC_SUCCESS, wc.status);
	EXPECT_EQ(-1, check_fill(host->cpu + 200000, 4096, 3));

	*(volatile uint64_t *)(dev->cpu + 8192) = 5;
	ret = op(p, IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD, host, 0, 8, dev, 8192);
	ASSERT_EQ(0, ret) TH_LOG("fetch-add on device memory: %s", result_str(ret));
	EXPECT_EQ(5, *(volatile uint64_t *)host->cpu);
	EXPECT_EQ(6, *(volatile uint64_t *)(dev->cpu + 8192));
}

/* ---- rxe on veth and on lo ---------------------------------------------- */

FIXTURE(netdev) {
	struct env e;
};

FIXTURE_VARIANT(netdev) {
	bool lo;
};

FIXTURE_VARIANT_ADD(netdev, veth) { .lo = false };
FIXTURE_VARIANT_ADD(netdev, lo) { .lo = true };

FIXTURE_SETUP(netdev)
{
	int ret;

	env_init(&self->e);
	cleanup_links();
	if (variant->lo) {
		ASSERT_EQ(0, run("ip link set lo up"));
		ASSERT_EQ(0, run("rdma link add " RXE_T " type rxe netdev lo"));
	} else {
		ASSERT_EQ(0, run("ip link add " VETH_A " type veth peer name " VETH_B));
		ASSERT_EQ(0, run("ip addr add 10.231.0.1/24 dev " VETH_A));
		ASSERT_EQ(0, run("ip link set " VETH_A " up"));
		ASSERT_EQ(0, run("ip link set " VETH_B " up"));
		ASSERT_EQ(0, run("rdma link add " RXE_T " type rxe netdev " VETH_A));
	}
	ret = wait_rxe_ready(RXE_T);
	ASSERT_EQ(0, ret) TH_LOG("%s on %s: no uverbs device or RoCE v2 IPv4 GID: %s",
				 RXE_T, variant->lo ? "lo" : VETH_A, strerror(-ret));
	env_setup(_metadata, &self->e, RXE_T);
}

FIXTURE_TEARDOWN(netdev)
{
	env_teardown(&self->e);
	cleanup_links();
}

/* Traffic byte-exact, then the revoke fails the keys. */
TEST_F_TIMEOUT(netdev, dmabuf_mr_traffic_then_revoke, 120)
{
	int ret;

	traffic(_metadata, &self->e.p, &self->e.dev, &self->e.host);
	ASSERT_EQ(0, accel_debug_reset(self->e.acc.bdf));
	munmap(self->e.ab.cpu, self->e.ab.size);
	self->e.ab.cpu = self->e.dev.cpu = NULL;
	ret = op(&self->e.p, IB_UVERBS_WR_RDMA_WRITE, &self->e.host, 0, 4096,
		 &self->e.dev, 0);
	EXPECT_EQ(UV_WC_REM_ACCESS_ERR, ret) TH_LOG("%s", result_str(ret));
	EXPECT_EQ(0, uv_dereg_mr(&self->e.ctx, &self->e.dev.mr));
}

/* ---- a veth pair across two network namespaces -------------------------- */

/*
 * rxe on each end of a veth pair whose ends live in two namespaces: the
 * two devices talk over the veth. The rxe devices stay visible to this
 * process in the init namespace (rdma "shared" netns mode, the default).
 */
FIXTURE(two_namespaces) {
	struct uv_ctx ctx_a, ctx_b;
	struct pair p;
	struct accel acc;
	struct accel_buf ab;
	struct buf dev, host;
};

FIXTURE_SETUP(two_namespaces)
{
	int ret;

	self->ctx_a.fd = self->ctx_a.async_fd = -1;
	self->ctx_b.fd = self->ctx_b.async_fd = -1;
	self->acc.fd = -1;
	self->ab.dmabuf = -1;
	cleanup_links();
	if (access("/proc/self/ns/net", F_OK))
		SKIP(return, "no network namespaces in this kernel (CONFIG_NET_NS)");
	ASSERT_EQ(0, run("ip netns add " NS_A));
	ASSERT_EQ(0, run("ip netns add " NS_B));
	ASSERT_EQ(0, run("ip link add " VETH_A " netns " NS_A " type veth peer name "
			 VETH_B " netns " NS_B));
	ASSERT_EQ(0, run("ip -n " NS_A " addr add 10.232.0.1/24 dev " VETH_A));
	ASSERT_EQ(0, run("ip -n " NS_B " addr add 10.232.0.2/24 dev " VETH_B));
	ASSERT_EQ(0, run("ip -n " NS_A " link set " VETH_A " up"));
	ASSERT_EQ(0, run("ip -n " NS_B " link set " VETH_B " up"));
	ASSERT_EQ(0, run("ip netns exec " NS_A " rdma link add " RXE_T " type rxe netdev " VETH_A));
	ASSERT_EQ(0, run("ip netns exec " NS_B " rdma link add " RXE_T1 " type rxe netdev " VETH_B));
	ASSERT_EQ(0, wait_rxe_ready(RXE_T));
	ASSERT_EQ(0, wait_rxe_ready(RXE_T1));

	ASSERT_EQ(0, uv_open(&self->ctx_a, RXE_T));
	ASSERT_EQ(0, uv_open(&self->ctx_b, RXE_T1));
	ASSERT_EQ(0, uv_alloc_pd(&self->ctx_a, &self->p.a.pd));
	ASSERT_EQ(0, uv_alloc_pd(&self->ctx_b, &self->p.b.pd));
	self->p.a.ctx = &self->ctx_a;
	self->p.b.ctx = &self->ctx_b;
	ret = pair_connect(&self->p, IB_UVERBS_QPT_RC);
	ASSERT_EQ(0, ret) TH_LOG("connect %s to %s: %s", RXE_T, RXE_T1, strerror(-ret));
	/* Host memory at A, device memory at B. */
	ASSERT_EQ(0, host_buf(&self->ctx_a, self->p.a.pd, &self->host, HOST_SIZE,
			      UV_ACCESS_ALL));
	ASSERT_EQ(0, accel_open(&self->acc));
	ASSERT_EQ(0, accel_buf_new(&self->acc, DEV_SIZE, &self->ab));
	self->dev.cpu = self->ab.cpu;
	self->dev.size = DEV_SIZE;
	ret = uv_reg_dmabuf_mr(&self->ctx_b, self->p.b.pd, 0, DEV_SIZE, DEV_IOVA,
			       self->ab.dmabuf, UV_ACCESS_ALL, &self->dev.mr);
	ASSERT_EQ(0, ret) TH_LOG("REG_DMABUF_MR on %s: %s", RXE_T1, strerror(-ret));
}

FIXTURE_TEARDOWN(two_namespaces)
{
	pair_disconnect(&self->p);
	uv_close(&self->ctx_a);
	uv_close(&self->ctx_b);
	accel_buf_drop(&self->acc, &self->ab);
	if (self->acc.fd >= 0)
		close(self->acc.fd);
	free(self->host.cpu);
	cleanup_links();
}

TEST_F_TIMEOUT(two_namespaces, dmabuf_mr_traffic_across_the_veth, 120)
{
	int ret;

	fill(self->host.cpu, 70000, 4);
	ret = op(&self->p, IB_UVERBS_WR_RDMA_WRITE, &self->host, 0, 70000,
		 &self->dev, 4093);
	ASSERT_EQ(0, ret) TH_LOG("WRITE to device memory across the veth: %s",
				 result_str(ret));
	EXPECT_EQ(-1, check_fill(self->dev.cpu + 4093, 70000, 4));
	fill(self->dev.cpu + 100000, 70000, 5);
	ret = op(&self->p, IB_UVERBS_WR_RDMA_READ, &self->host, 0, 70000,
		 &self->dev, 100000);
	ASSERT_EQ(0, ret) TH_LOG("READ of device memory across the veth: %s",
				 result_str(ret));
	EXPECT_EQ(-1, check_fill(self->host.cpu, 70000, 5));
}

/* ---- rxe going away under live dma-buf MRs -------------------------------- */

FIXTURE(unplug) {
	struct env e;
};

FIXTURE_VARIANT(unplug) {
	const char *cmd;
	bool revoke_while_pending;
};

FIXTURE_VARIANT_ADD(unplug, rdma_link_delete) {
	.cmd = "rdma link delete " RXE_T,
};
FIXTURE_VARIANT_ADD(unplug, rdma_link_delete_revoke_while_pending) {
	.cmd = "rdma link delete " RXE_T, .revoke_while_pending = true,
};
FIXTURE_VARIANT_ADD(unplug, veth_delete) {
	.cmd = "ip link delete " VETH_A,
};
FIXTURE_VARIANT_ADD(unplug, veth_delete_revoke_while_pending) {
	.cmd = "ip link delete " VETH_A, .revoke_while_pending = true,
};

FIXTURE_SETUP(unplug)
{
	env_init(&self->e);
	cleanup_links();
	ASSERT_EQ(0, run("ip link add " VETH_A " type veth peer name " VETH_B));
	ASSERT_EQ(0, run("ip addr add 10.231.0.1/24 dev " VETH_A));
	ASSERT_EQ(0, run("ip link set " VETH_A " up"));
	ASSERT_EQ(0, run("ip link set " VETH_B " up"));
	ASSERT_EQ(0, run("rdma link add " RXE_T " type rxe netdev " VETH_A));
	ASSERT_EQ(0, wait_rxe_ready(RXE_T));
	env_setup(_metadata, &self->e, RXE_T);
	if (_metadata->exit_code)
		return;
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, uv_reg_dmabuf_mr(&self->e.ctx, self->e.p.a.pd,
					      i * PAGE, PAGE, DEV_IOVA + SZ_1M * (i + 1),
					      self->e.ab.dmabuf, UV_ACCESS_ALL,
					      &self->e.extra[i]));
	traffic(_metadata, &self->e.p, &self->e.dev, &self->e.host);
}

FIXTURE_TEARDOWN(unplug)
{
	env_teardown(&self->e);
	cleanup_links();
}

TEST_F_TIMEOUT(unplug, with_live_dmabuf_mrs_then_close_and_revoke, 180)
{
	char *argv[8], buf[128], *save, *tok;
	struct accel_buf again;
	int n = 0, ret, early;
	pid_t pid;

	/* Work requests in flight while the device goes. */
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, post_op(&self->e.p, &self->e.p.a, 10 + i,
				     IB_UVERBS_WR_RDMA_WRITE, &self->e.host, 0,
				     SZ_64K, &self->e.dev, 0));
	snprintf(buf, sizeof(buf), "%s", variant->cmd);
	for (tok = strtok_r(buf, " ", &save); tok && n < 7;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	pid = spawn(argv);
	ASSERT_LT(0, pid);

	/* rxe cannot disassociate us: the deletion waits for our close. */
	early = wait_child(pid, 3000);
	TH_LOG("'%s' %s while the process held its MRs", variant->cmd,
	       early == -ETIMEDOUT ? "waited" : "returned");

	if (variant->revoke_while_pending) {
		ret = accel_debug_reset(self->e.acc.bdf);
		EXPECT_EQ(0, ret) TH_LOG("reset while the deletion is pending: %s",
					 strerror(-ret));
		munmap(self->e.ab.cpu, self->e.ab.size);
		self->e.ab.cpu = self->e.dev.cpu = NULL;
	}

	/* Everything can still be closed. */
	for (int i = 0; i < 8; i++) {
		ret = uv_dereg_mr(&self->e.ctx, &self->e.extra[i]);
		EXPECT_TRUE(ret == 0 || ret == -EIO)
			TH_LOG("dereg %d: %s", i, strerror(-ret));
	}
	env_close(&self->e);

	if (early == -ETIMEDOUT)
		early = wait_child(pid, 60000);
	EXPECT_EQ(0, early) TH_LOG("'%s': %s", variant->cmd,
				   early == -ETIMEDOUT ? "still waiting after the close" :
				   "failed");
	for (int i = 0; i < 100 && ibdev_exists(RXE_T); i++)
		usleep(100000);
	EXPECT_FALSE(ibdev_exists(RXE_T));

	/* The accelerator revokes and frees cleanly, and allocates again. */
	if (!variant->revoke_while_pending) {
		ret = accel_debug_reset(self->e.acc.bdf);
		EXPECT_EQ(0, ret) TH_LOG("reset: %s", strerror(-ret));
	}
	accel_buf_drop(&self->e.acc, &self->e.ab);
	ASSERT_EQ(0, accel_buf_new(&self->e.acc, DEV_SIZE, &again));
	EXPECT_EQ(-1, check_byte(again.cpu, DEV_SIZE, 0));
	accel_buf_drop(&self->e.acc, &again);
}

TEST_HARNESS_MAIN
