/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal uverbs client for Soft-RoCE (rxe), for kselftests that must not
 * depend on rdma-core: it speaks the kernel's uverbs ABI directly on
 * /dev/infiniband/uverbsN.
 *
 * - Control path: the legacy write() commands (GET_CONTEXT, ALLOC_PD,
 *   REG_MR, DEREG_MR, CREATE_CQ, CREATE_QP, MODIFY_QP, DESTROY_*) and the
 *   ioctl ABI (RDMA_VERBS_IOCTL) for UVERBS_METHOD_REG_DMABUF_MR, which has
 *   no write() form.
 * - Data path: rxe's queues are shared with the kernel through mmap (struct
 *   rxe_queue_buf, include/uapi/rdma/rdma_user_rxe.h). Work requests are
 *   written straight into the send and receive rings; a POST_SEND write()
 *   with no work requests is the send doorbell (for a user QP rxe only
 *   schedules its requester, it reads the ring itself); completions are
 *   read from the CQ ring. Receive rings need no doorbell.
 *
 * Every function returns 0 (or a count) on success and -errno on failure.
 * One thread at a time may use a given QP or CQ.
 */
#ifndef SELFTESTS_RDMA_UVERBS_H
#define SELFTESTS_RDMA_UVERBS_H

#include <stddef.h>
#include <stdint.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_rxe.h>

/*
 * Values the uverbs ABI carries but whose enums live only in the kernel's
 * include/rdma/ib_verbs.h (and in libibverbs as IBV_*); they are ABI and
 * never change.
 */
enum uv_qp_state {
	UV_QPS_RESET = 0,
	UV_QPS_INIT = 1,
	UV_QPS_RTR = 2,
	UV_QPS_RTS = 3,
	UV_QPS_ERR = 6,
};

enum uv_qp_attr_mask {
	UV_QP_STATE = 1 << 0,
	UV_QP_ACCESS_FLAGS = 1 << 3,
	UV_QP_PKEY_INDEX = 1 << 4,
	UV_QP_PORT = 1 << 5,
	UV_QP_AV = 1 << 7,
	UV_QP_PATH_MTU = 1 << 8,
	UV_QP_TIMEOUT = 1 << 9,
	UV_QP_RETRY_CNT = 1 << 10,
	UV_QP_RNR_RETRY = 1 << 11,
	UV_QP_RQ_PSN = 1 << 12,
	UV_QP_MAX_QP_RD_ATOMIC = 1 << 13,
	UV_QP_MIN_RNR_TIMER = 1 << 15,
	UV_QP_SQ_PSN = 1 << 16,
	UV_QP_MAX_DEST_RD_ATOMIC = 1 << 17,
	UV_QP_DEST_QPN = 1 << 20,
};

#define UV_MTU_1024		3

/* ib_uverbs_send_wr.send_flags */
#define UV_SEND_FENCE		(1 << 0)
#define UV_SEND_SIGNALED	(1 << 1)

/* ib_uverbs_wc.opcode of receive completions (IBV_WC_RECV) */
#define UV_WC_RECV		(1 << 7)

/* ib_uverbs_wc.status (enum ib_wc_status, IBV_WC_*) */
enum uv_wc_status {
	UV_WC_SUCCESS = 0,
	UV_WC_LOC_LEN_ERR = 1,
	UV_WC_LOC_QP_OP_ERR = 2,
	UV_WC_LOC_PROT_ERR = 4,
	UV_WC_WR_FLUSH_ERR = 5,
	UV_WC_LOC_ACCESS_ERR = 8,
	UV_WC_REM_INV_REQ_ERR = 9,
	UV_WC_REM_ACCESS_ERR = 10,
	UV_WC_REM_OP_ERR = 11,
	UV_WC_RETRY_EXC_ERR = 12,
	UV_WC_RNR_RETRY_EXC_ERR = 13,
};

/* Every access right an MR in these tests may need. */
#define UV_ACCESS_ALL	(IB_UVERBS_ACCESS_LOCAL_WRITE |		\
			 IB_UVERBS_ACCESS_REMOTE_WRITE |	\
			 IB_UVERBS_ACCESS_REMOTE_READ |		\
			 IB_UVERBS_ACCESS_REMOTE_ATOMIC)

struct uv_ctx {
	int fd;			/* /dev/infiniband/uverbsN */
	int async_fd;		/* from GET_CONTEXT; unused but owned */
	char ibdev[64];		/* e.g. "rxe0" */
	char node[64];		/* e.g. "/dev/infiniband/uverbs0" */
	uint8_t gid[16];	/* our own RoCE v2 GID (IPv4-mapped) */
	int gid_index;
	uint8_t port;
};

/* One ring shared with rxe. */
struct uv_ring {
	struct rxe_queue_buf *buf;
	size_t map_len;
	uint32_t index_mask;
	uint32_t log2_elem_size;
};

struct uv_cq {
	uint32_t handle;
	uint32_t cqe;		/* entries the kernel granted */
	struct uv_ring ring;
};

struct uv_qp {
	uint32_t handle;
	uint32_t qpn;
	uint32_t max_send_wr, max_recv_wr;
	uint32_t max_send_sge, max_recv_sge;
	struct uv_ring sq, rq;
	uint32_t ssn;		/* send sequence number, as rxe's provider keeps */
	uint32_t qp_type;	/* IB_UVERBS_QPT_RC (uv_create_qp()), _UC or _UD */
};

struct uv_mr {
	uint32_t handle;
	uint32_t lkey;
	uint32_t rkey;
	uint64_t iova;
	uint64_t length;
};

struct uv_sge {
	uint64_t addr;		/* iova within the MR named by lkey */
	uint32_t length;
	uint32_t lkey;
};

#define UV_MAX_SGE	4

/* One send work request (RDMA WRITE/READ, SEND, atomics). */
struct uv_send_wr {
	uint64_t wr_id;
	uint32_t opcode;	/* IB_UVERBS_WR_* */
	uint32_t send_flags;	/* UV_SEND_*; UV_SEND_SIGNALED to get a CQE */
	uint32_t num_sge;
	struct uv_sge sge[UV_MAX_SGE];
	uint64_t remote_addr;	/* RDMA and atomics */
	uint32_t rkey;
	uint64_t compare_add;	/* atomics */
	uint64_t swap;
	uint64_t atomic_value;	/* IB_UVERBS_WR_ATOMIC_WRITE: the 8 bytes written */
	/* SEND on a UD QP: where to (an AH from uv_create_ah()) */
	uint32_t remote_qpn;
	uint32_t remote_qkey;
	uint32_t ah_num;
	/* IB_UVERBS_WR_BIND_MW: bind the MW @mw_rkey to [addr, +length) of
	 * the MR @mr_lkey; the MW's rkey becomes @new_rkey */
	struct {
		uint64_t addr;
		uint64_t length;
		uint32_t mr_lkey;
		uint32_t mw_rkey;
		uint32_t new_rkey;
		uint32_t access;
	} mw;
};

/* Device discovery and context. */
int uv_find_uverbs_node(const char *ibdev, char *node, size_t len);
int uv_find_roce_v2_ipv4_gid(const char *ibdev, int port, uint8_t gid[16],
			     int *index);
int uv_open(struct uv_ctx *ctx, const char *ibdev);
void uv_close(struct uv_ctx *ctx);

/* Protection domains and memory regions. */
int uv_alloc_pd(struct uv_ctx *ctx, uint32_t *pd_handle);
int uv_dealloc_pd(struct uv_ctx *ctx, uint32_t pd_handle);
int uv_reg_mr(struct uv_ctx *ctx, uint32_t pd_handle, void *addr,
	      uint64_t length, uint64_t iova, uint32_t access,
	      struct uv_mr *mr);
int uv_reg_dmabuf_mr(struct uv_ctx *ctx, uint32_t pd_handle, uint64_t offset,
		     uint64_t length, uint64_t iova, int fd, uint32_t access,
		     struct uv_mr *mr);
int uv_dereg_mr(struct uv_ctx *ctx, struct uv_mr *mr);

/* Completion queues. */
int uv_create_cq(struct uv_ctx *ctx, uint32_t cqe, struct uv_cq *cq);
int uv_destroy_cq(struct uv_ctx *ctx, struct uv_cq *cq);
int uv_poll_cq(struct uv_cq *cq, struct ib_uverbs_wc *wc, int max);
int uv_wait_cq(struct uv_cq *cq, struct ib_uverbs_wc *wc, int timeout_ms);

/* RC queue pairs. */
int uv_create_qp(struct uv_ctx *ctx, uint32_t pd_handle, struct uv_cq *scq,
		 struct uv_cq *rcq, uint32_t max_wr, struct uv_qp *qp);
int uv_destroy_qp(struct uv_ctx *ctx, struct uv_qp *qp);
int uv_modify_qp(struct uv_ctx *ctx, struct uv_qp *qp,
		 struct ib_uverbs_modify_qp *attr);
int uv_connect_qp(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t remote_qpn,
		  const uint8_t dgid[16]);
int uv_post_send(struct uv_ctx *ctx, struct uv_qp *qp,
		 const struct uv_send_wr *wr);
int uv_post_recv(struct uv_qp *qp, uint64_t wr_id, const struct uv_sge *sge,
		 uint32_t num_sge);

const char *uv_wc_status_str(uint32_t status);

/*
 * More of the ABI: other QP types, address handles, memory windows, MR
 * re-registration, atomic write. Same conventions as above.
 */

/* ib_uverbs_wc.status values beyond enum uv_wc_status */
#define UV_WC_MW_BIND_ERR	6
#define UV_WC_BAD_RESP_ERR	7

/* ib_uverbs_wc.opcode of send completions (IBV_WC_*) */
#define UV_WC_SEND		0
#define UV_WC_RDMA_WRITE	1
#define UV_WC_RDMA_READ		2
#define UV_WC_COMP_SWAP		3
#define UV_WC_FETCH_ADD		4
#define UV_WC_BIND_MW		5
#define UV_WC_ATOMIC_WRITE	9

/* modify_qp attribute mask bit for UD */
#define UV_QP_QKEY		(1 << 6)

/* ib_uverbs_rereg_mr.flags (enum ib_mr_rereg_flags) */
#define UV_MR_REREG_TRANS	(1 << 0)
#define UV_MR_REREG_PD		(1 << 1)
#define UV_MR_REREG_ACCESS	(1 << 2)

/* An RC, UC or UD QP (IB_UVERBS_QPT_*); uv_create_qp() is the RC one. */
int uv_create_qp_type(struct uv_ctx *ctx, uint32_t pd_handle,
		      struct uv_cq *scq, struct uv_cq *rcq, uint32_t max_wr,
		      uint32_t qp_type, struct uv_qp *qp);
/* uv_connect_qp() with the PSNs given: this QP sends from @sq_psn and
 * expects @rq_psn from the peer. */
int uv_connect_qp_psn(struct uv_ctx *ctx, struct uv_qp *qp,
		      uint32_t remote_qpn, const uint8_t dgid[16],
		      uint32_t sq_psn, uint32_t rq_psn);
/* RESET -> INIT -> RTR -> RTS of a UC QP (remote writes allowed). */
int uv_connect_uc(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t remote_qpn,
		  const uint8_t dgid[16]);
/* RESET -> INIT -> RTR -> RTS of a UD QP with @qkey. */
int uv_ud_ready(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t qkey);
/* Any state -> RESET: the QP forgets its work requests and peer. */
int uv_reset_qp(struct uv_ctx *ctx, struct uv_qp *qp);
/* The QP's state (enum uv_qp_state) from QUERY_QP. */
int uv_query_qp_state(struct uv_ctx *ctx, struct uv_qp *qp, uint32_t *state);
/*
 * Modify the QP to the error state (again). rxe has no receive doorbell
 * (no POST_RECV command for user QPs): a RECV posted to a QP already in
 * error is only flushed when the kernel next looks at the QP, which this
 * makes it do, as an application draining a QP would.
 */
int uv_flush_qp(struct uv_ctx *ctx, struct uv_qp *qp);

/* Address handles for UD sends over RoCE v2 from our GID to @dgid. */
int uv_create_ah(struct uv_ctx *ctx, uint32_t pd_handle,
		 const uint8_t dgid[16], uint32_t *ah_handle,
		 uint32_t *ah_num);
int uv_destroy_ah(struct uv_ctx *ctx, uint32_t ah_handle);

/* Memory windows (enum ib_mw_type). */
#define UV_MW_TYPE_1		1
#define UV_MW_TYPE_2		2

int uv_alloc_mw(struct uv_ctx *ctx, uint32_t pd_handle, uint8_t type,
		uint32_t *mw_handle, uint32_t *rkey);
int uv_dealloc_mw(struct uv_ctx *ctx, uint32_t mw_handle);

/* REREG_MR with UV_MR_REREG_* @flags; updates @mr's keys on success. */
int uv_rereg_mr(struct uv_ctx *ctx, struct uv_mr *mr, uint32_t flags,
		void *addr, uint64_t length, uint64_t iova,
		uint32_t pd_handle, uint32_t access);

#endif /* SELFTESTS_RDMA_UVERBS_H */
