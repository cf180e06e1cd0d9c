#!/bin/bash
# topologies: switch
#
# Linux's own dma-buf heaps kselftest (tools/testing/selftests/dmabuf-heaps),
# built from the tree this kernel came from.
exec "$SELFTESTS/linux/dmabuf-heaps/dmabuf-heap"
