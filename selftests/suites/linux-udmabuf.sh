#!/bin/bash
# topologies: switch
#
# Linux's own udmabuf kselftest (tools/testing/selftests/drivers/dma-buf).
exec "$SELFTESTS/linux/drivers/dma-buf/udmabuf"
