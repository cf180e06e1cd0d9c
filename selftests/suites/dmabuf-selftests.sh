#!/bin/bash
# topologies: switch
#
# CONFIG_DMABUF_SELFTESTS (fences, fence chains, unwrap, reservation
# objects): loading the module runs every test; a failure makes the load
# fail and names the test in the kernel log. Reported one TAP line a test.
. "$REPO/selftests/lib/tap.sh"

MOD=$KOBJ/drivers/dma-buf/dmabuf_selftests.ko
tests=$(modinfo -F parm "$MOD" | sed -n 's/^igt__[0-9]*__\([a-z_]*\):.*/\1/p')
[ -n "$tests" ] || { tap_plan 0; tap_diag "no tests found in $MOD"; exit 1; }

tap_plan "$(echo "$tests" | wc -l)"
dmesg -C
rc=0
insmod "$MOD" || rc=$?
log=$(dmesg)
rmmod dmabuf_selftests 2>/dev/null

# Tests run in order and stop at the first failure, which fails the load.
ran=$(echo "$log" | sed -n 's/.*dma-buf: Running \([a-z_]*\)$/\1/p')
last=$(echo "$ran" | tail -n1)
for t in $tests; do
	if ! echo "$ran" | grep -qx "$t"; then
		tap_fail "$t" "never ran (module load returned $rc)"
	elif [ "$rc" -ne 0 ] && [ "$t" = "$last" ]; then
		tap_fail "$t" "$(echo "$log" | grep "dma-buf/" || echo "load returned $rc")"
	else
		tap_pass "$t"
	fi
done
tap_done
