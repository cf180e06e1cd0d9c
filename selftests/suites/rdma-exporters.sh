#!/bin/bash
# topologies: switch@6.12 rootbus@named
# (7.1: where @6.12 limits it, only when named - make check KERNEL=7.1 T=<suite>;
# the full run stays within CI's budget, README "Kernels")
#
# dma-buf MRs on Soft-RoCE from exporters other than p2p_accel, so the
# importer is not tuned to ours (selftests/rdma/rdma_exporters_test.c, raw
# uverbs): udmabuf (memfd pages through /dev/udmabuf, never revoked) and
# dyn_exporter (selftests/modules/dyn_exporter: a dynamic exporter of
# system pages with pin/unpin, vmap and a revoke through
# dma_buf_invalidate_mappings()). RDMA WRITE/READ/SEND/atomics byte-exact
# through each exporter's CPU view; the dyn_exporter revoke: rxe holds no
# vmap or mapping once invalidate_mappings returned, the keys fail, the
# pages receive nothing, a new registration is ENODEV, dereg releases the
# attachment and pin.
#
# udmabuf has no revoke: its variant of the revoke test cannot run.
# expected-skips: *: exporter.udmabuf.revoke_of_a_dynamic_exporter_buffer
DYN=$MODULES/selftests/modules/dyn_exporter/dyn_exporter.ko

if ! insmod "$DYN"; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 load_dyn_exporter"
	exit 1
fi

rc=0
RXE=${RXE:-rxe0} TOPOLOGY=$TOPOLOGY "$SELFTESTS/rdma/rdma_exporters_test" || rc=$?

rmmod dyn_exporter || rc=1
exit $rc
