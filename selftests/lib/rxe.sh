# shellcheck shell=bash
# Soft-RoCE helpers for the shell suites. Sourced.
#
#   wait_for_gid    0 once GID index $GID of port 1 of $RXE holds an
#                   address (10 s at most): rxe fills its RoCE v2 GIDs
#                   in the background after netup brought the link up

wait_for_gid() {
	local f=/sys/class/infiniband/$RXE/ports/1/gids/$GID _
	for _ in $(seq 50); do
		[ -r "$f" ] && [ "$(cat "$f")" != 0000:0000:0000:0000:0000:0000:0000:0000 ] && return 0
		sleep 0.2
	done
	return 1
}
