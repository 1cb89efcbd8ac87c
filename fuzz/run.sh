#!/bin/sh
# Build and run the libFuzzer harnesses over the shim: its parsers on bytes,
# and its I/O on real sockets (write, pending: a socketpair; udp_io: UDP on
# loopback in a network namespace the harness makes for itself).
#   fuzz/run.sh [SECONDS_PER_HARNESS] [HARNESS...]    (default: 60 s, all)
# Needs clang and libclang-rt (Debian: clang libclang-rt-14-dev). The shim is
# compiled once; the harnesses run FUZZ_JOBS at a time (default: one per CPU),
# each with its output kept and shown when it ends. The corpus kept in the
# repository, fuzz/corpus/<harness>/, seeds every run; new inputs that reach
# new code go to a scratch folder, or into that corpus with FUZZ_KEEP=1
# (commit them). A crash leaves fuzz/crash-* and fails the run, as does a
# harness that stops for any other reason. A harness that needs a network
# namespace of its own (unshare, so root) is skipped with a reason where none
# can be made, or fails under TUNTAP_REQUIRE_PRIVILEGED=1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
jobs=${FUZZ_JOBS:-$(nproc)}
needs_netns="udp_io"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

# The shim's objects, once; each harness needs only its own entry point besides.
mkdir "$build/shim"
for src in "$here"/../csrc/*.c; do
    # shellcheck disable=SC2086 # flags is a list of words
    clang $flags -fsanitize=fuzzer-no-link -I"$here/../csrc" -c -o "$build/shim/$(basename "$src" .c).o" "$src"
done

runnable=""
for name in $harnesses; do
    case " $needs_netns " in *" $name "*)
        if ! unshare --net true 2>/dev/null; then
            echo "fuzz: $name skipped: it needs a network namespace of its own (unshare: root)"
            [ "${TUNTAP_REQUIRE_PRIVILEGED:-0}" = 1 ] && exit 1
            continue
        fi
    esac
    # shellcheck disable=SC2086
    clang $flags -I"$here/../csrc" -o "$build/$name" "$here/fuzz_$name.c" "$build"/shim/*.o
    runnable="$runnable $name"
done

# One harness: its stats lines to $build/$name.log, its exit status to $build/$name.status.
run_one() {
    name=$1
    mkdir -p "$here/corpus/$name"
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        corpora="$here/corpus/$name"
    else
        mkdir "$build/new-$name"
        corpora="$build/new-$name $here/corpus/$name"
    fi
    # shellcheck disable=SC2086 # corpora is one or two folders
    { "$build/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$here/crash-$name-" $corpora 2>&1; echo "$?" >"$build/$name.status"; } |
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE|fuzz_)|ERROR|SUMMARY' \
            >"$build/$name.log" || true
}

# Run in groups of $jobs; every harness of a group runs for the same time.
failed=0
set -- $runnable
while [ $# -gt 0 ]; do
    group=""
    while [ $# -gt 0 ] && [ "$(echo $group | wc -w)" -lt "$jobs" ]; do
        group="$group $1"
        shift
    done
    for name in $group; do
        run_one "$name" &
    done
    wait
    for name in $group; do
        echo "fuzz: $name for ${seconds}s"
        cat "$build/$name.log"
        if [ -n "$(ls "$here"/crash-"$name"-* 2>/dev/null)" ]; then
            echo "fuzz: $name crashed" >&2
            failed=1
        elif [ "$(cat "$build/$name.status" 2>/dev/null)" != 0 ]; then
            echo "fuzz: $name stopped with status $(cat "$build/$name.status" 2>/dev/null)" >&2
            failed=1
        fi
    done
done
exit "$failed"
