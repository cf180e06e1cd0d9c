#!/bin/bash
# make check: boot one VM per topology that has suites to run, run them,
# and judge the results (vm/results.py) including the guests' kernel logs.
#
#   vm/check.sh [--suite NAME]... [--inject NAME]... [--topology NAME]...
#
# --suite limits the run to the named suites (selftests/suites/NAME.sh).
# --inject adds a suite from vm/harness-inject/ (for make check-harness).
# --topology limits the run to the named topologies (switch, rootbus).
# Results and the full guest logs stay in $BUILD/vm/check/<topology>/
# ($CHECK_DIR/<topology>/ when set). REPO and BUILD may be anywhere, /tmp
# included: the guest sees both (vm/guest/init).
. "$(dirname "$0")/lib.sh"

want=() inject=() topos=()
while [ $# -gt 0 ]; do
	case "$1" in
	--suite) want+=("$2"); shift 2 ;;
	--inject) inject+=("$2"); shift 2 ;;
	--topology) topos+=("$2"); shift 2 ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done

suite_topologies() {
	sed -n 's/^# topologies: *//p' "$1" | head -n1
}

declare -A per_topo
add_suite() {
	local script=$1 name t topos
	name=$(basename "$script" .sh)
	topos=$(suite_topologies "$script")
	[ -n "$topos" ] || die "$script has no '# topologies:' line"
	for t in $topos; do per_topo[$t]+="$name "; done
}

if [ ${#want[@]} -gt 0 ]; then
	for n in "${want[@]}"; do
		[ -f "$REPO/selftests/suites/$n.sh" ] ||
			die "no suite '$n' (have: $(cd "$REPO/selftests/suites" && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))"
		add_suite "$REPO/selftests/suites/$n.sh"
	done
else
	for s in "$REPO"/selftests/suites/*.sh; do add_suite "$s"; done
fi
for n in "${inject[@]}"; do
	[ -f "$REPO/vm/harness-inject/$n.sh" ] || die "no injected suite '$n' in vm/harness-inject/"
	add_suite "$REPO/vm/harness-inject/$n.sh"
done
[ ${#topos[@]} -gt 0 ] || topos=(switch rootbus)
for t in "${topos[@]}"; do
	case "$t" in switch|rootbus) ;; *) die "unknown topology '$t' (switch|rootbus)" ;; esac
done
# The guest finds REPO, BUILD and the run directory by these paths:
# absolute, with no symlink the guest would resolve against its own root.
REPO=$(realpath -m -- "$REPO") BUILD=$(realpath -m -- "$BUILD")
export REPO BUILD

# CHECK_DIR: a run directory of its own, for runs side by side.
run=$(realpath -m -- "${CHECK_DIR:-$BUILD/vm/check}")
rm -rf "$run"
dirs=()
for topo in "${topos[@]}"; do
	[ -n "${per_topo[$topo]:-}" ] || continue
	dir=$run/$topo
	mkdir -p "$dir"
	dirs+=("$dir")
	echo "${per_topo[$topo]}" >"$dir/suites.list"
	# Suites' own knobs (STRESS_SEED=... make check T=exporter-stress)
	# reach the guest; values are numbers, so quoting is simple.
	stress=$(env | grep -E '^STRESS_[A-Z_]+=[0-9]*$' | sed "s/=\(.*\)/='\1'/" | tr '\n' ' ' || true)
	cat >"$dir/job.sh" <<-JOB
		#!/bin/bash
		export REPO='$REPO' BUILD='$BUILD' FLAVOUR='${FLAVOUR:-test}' TOPOLOGY='$topo'
		export OUT='$dir' SUITES='${per_topo[$topo]}' SUITE_TIMEOUT='${SUITE_TIMEOUT:-900}'
		${stress:+export $stress}
		exec bash "\$REPO/vm/guest/run-suites.sh"
	JOB
	say "booting the $topo VM: ${per_topo[$topo]}"
	start=$SECONDS
	rc=0
	VM_QUIET=${VM_QUIET:-1} "$REPO/vm/boot.sh" "$topo" "$dir" || rc=$?
	echo "$rc" >"$dir/qemu.rc"
	say "$topo VM done in $((SECONDS - start))s (log: $dir/console.log)"
done
[ ${#dirs[@]} -gt 0 ] || die "no suite to run"

/usr/bin/python3 "$REPO/vm/results.py" "${dirs[@]}"
