#!/bin/bash
# make check: boot one VM per kernel and topology that has suites to run,
# run them, and judge the results (vm/results.py) including the guests'
# kernel logs.
#
#   [KERNEL="6.12 7.1"] vm/check.sh [--suite NAME]... [--inject NAME]... [--topology NAME]...
#
# KERNEL lists the kernels to boot, in order (default 6.12; `make check`
# gives both unless KERNEL=6.12 or KERNEL=7.1 picks one).
# --suite limits the run to the named suites (selftests/suites/NAME.sh).
# --inject adds a suite from vm/harness-inject/ (for make check-harness).
# --topology limits the run to the named topologies (switch, rootbus).
# A suite runs where its "# topologies:" line says: <topology>[@<kernel>]
# words, e.g. "switch rootbus@6.12": switch on every kernel, rootbus on 6.12
# only; "@named": only when named. Both keep the full run within CI's time
# budget; a suite named
# with --suite runs on every topology its line lists, on every kernel of
# KERNEL. Results and the full guest logs stay in
# $BUILD/vm/check/<kernel>/<topology>/ ($CHECK_DIR/<kernel>/<topology>/ when
# set). REPO and BUILD may be anywhere, /tmp included: the guest sees both
# (vm/guest/init).
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

kernels=${KERNEL:-6.12}
for k in $kernels; do
	case " $KERNELS " in *" $k "*) ;; *) die "unknown kernel '$k' (KERNEL: one or more of $KERNELS)" ;; esac
done

suite_topologies() {
	sed -n 's/^# topologies: *//p' "$1" | head -n1
}

# per_run[<kernel>/<topology>]: the suites to run there
declare -A per_run
add_suite() {
	local script=$1 named=${2:-} name w t k topos
	name=$(basename "$script" .sh)
	topos=$(suite_topologies "$script")
	[ -n "$topos" ] || die "$script has no '# topologies:' line"
	for w in $topos; do
		t=${w%%@*}
		case "$t" in switch|rootbus) ;; *) die "$script: unknown topology '$w'" ;; esac
		for k in $kernels; do
			# "@7.1" holds for 7.1 and its point releases, no "@" for all
			case "$w" in *@*) [ -n "$named" ] || [ "$k" = "${w#*@}" ] ||
				[ "${k#"${w#*@}".}" != "$k" ] || continue ;; esac
			case " ${per_run[$k/$t]:-}" in *" $name "*) continue ;; esac
			per_run[$k/$t]+="$name "
		done
	done
}

if [ ${#want[@]} -gt 0 ]; then
	for n in "${want[@]}"; do
		[ -f "$REPO/selftests/suites/$n.sh" ] ||
			die "no suite '$n' (have: $(cd "$REPO/selftests/suites" && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))"
		add_suite "$REPO/selftests/suites/$n.sh" named
	done
else
	for s in "$REPO"/selftests/suites/*.sh; do add_suite "$s"; done
fi
for n in "${inject[@]}"; do
	[ -f "$REPO/vm/harness-inject/$n.sh" ] || die "no injected suite '$n' in vm/harness-inject/"
	add_suite "$REPO/vm/harness-inject/$n.sh" named
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
# Only the kernels of this run: CI's `make check KERNEL=7.1` keeps 6.12's logs.
for kernel in $kernels; do rm -rf "${run:?}/$kernel"; done
dirs=()
for kernel in $kernels; do
	KERNEL=$kernel
	kernel_dirs
	for topo in "${topos[@]}"; do
		suites=${per_run[$kernel/$topo]:-}
		[ -n "$suites" ] || continue
		dir=$run/$kernel/$topo
		mkdir -p "$dir"
		dirs+=("$dir")
		echo "$suites" >"$dir/suites.list"
		# Suites' own knobs (STRESS_SEED=... make check T=exporter-stress)
		# reach the guest; values are numbers, so quoting is simple.
		stress=$(env | grep -E '^STRESS_[A-Z_]+=[0-9]*$' | sed "s/=\(.*\)/='\1'/" | tr '\n' ' ' || true)
		cat >"$dir/job.sh" <<-JOB
			#!/bin/bash
			export REPO='$REPO' BUILD='$BUILD' FLAVOUR='$FLAVOUR' TOPOLOGY='$topo'
			export KERNEL='$KERNEL' KOBJ='$KOBJ' MODULES='$MODULES' SELFTESTS='$SELFTESTS'
			export OUT='$dir' SUITES='$suites' SUITE_TIMEOUT='${SUITE_TIMEOUT:-900}'
			${stress:+export $stress}
			exec bash "\$REPO/vm/guest/run-suites.sh"
		JOB
		say "booting the $kernel $topo VM: $suites"
		start=$SECONDS
		rc=0
		KERNEL=$kernel VM_QUIET=${VM_QUIET:-1} "$REPO/vm/boot.sh" "$topo" "$dir" || rc=$?
		echo "$rc" >"$dir/qemu.rc"
		say "$kernel $topo VM done in $((SECONDS - start))s (log: $dir/console.log)"
	done
done
[ ${#dirs[@]} -gt 0 ] || die "no suite to run"

/usr/bin/python3 "$REPO/vm/results.py" "${dirs[@]}"
