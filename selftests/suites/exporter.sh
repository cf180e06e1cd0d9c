#!/bin/bash
# topologies: switch rootbus
#
# The p2p_accel exporter (exporter/) and its test importer
# (selftests/modules/p2pacc_importer/): every ioctl with bad input, CPU
# mappings, P2P DMA by the edu from the exported sg_table (switch; refused
# on rootbus), revoke on owner close, reset and unbind. The TAP comes from
# the kselftest harness in selftests/exporter/exporter_test.c.
#
# On rootbus the exporter refuses the edu (P2P across the root complex), so
# the tests that need an attached importer skip, and q35's root bus gives
# the accelerator no PCI reset method.
# expected-skips: rootbus: accel.edu_dma_moves_bytes_through_the_sg_table_bus_addresses
# expected-skips: rootbus: accel.owner_close_notifies_the_importer_before_freeing_memory
# expected-skips: rootbus: accel.reset_revokes_a_dynamic_importer_through_invalidate_mappings
# expected-skips: rootbus: accel.revoke_waits_for_an_importer_that_does_not_unmap
# expected-skips: rootbus: accel.revoke_reaches_every_importer_of_a_buffer
# expected-skips: rootbus: accel.attach_map_and_vmap_racing_a_revoke_are_refused
# expected-skips: rootbus: accel.importer_whose_dma_mask_cannot_reach_the_buffer_is_exdev
# expected-skips: rootbus: accel.pci_function_reset_revokes_every_buffer

. "$REPO/selftests/lib/accel.sh"
load_accel_and_importer
# The exporter explains refused attachments at debug level.
DDC=/sys/kernel/debug/dynamic_debug/control
[ -w "$DDC" ] && echo 'module p2p_accel +p' >"$DDC"

rc=0
TOPOLOGY=$TOPOLOGY "$SELFTESTS/exporter/exporter_test" || rc=$?

rmmod p2pacc_importer || rc=1
rmmod p2p_accel || rc=1
exit $rc
