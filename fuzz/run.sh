#!/bin/sh
# Build and run the libFuzzer harnesses over the shim: its parsers on bytes,
# and its I/O on real sockets (write, pending: a socketpair; udp_io: UDP on
# loopback in a network namespace the harness makes for itself).
#   fuzz/run.sh [SECONDS_PER_HARNESS] [HARNESS...]    (default: 60 s, all)
# Needs clang and libclang-rt (Debian: clang libclang-rt-14-dev). The corpus
# kept in the repository, fuzz/corpus/<harness>/, seeds every run; new inputs
# that reach new code go to a scratch folder, or into that corpus with
# FUZZ_KEEP=1 (commit them). A crash leaves fuzz/crash-* and fails the run,
# as does a harness that stops for any other reason. A harness that needs a
# network namespace of its own (unshare, so root) is skipped with a reason
# where none can be made, or fails under TUNTAP_REQUIRE_PRIVILEGED=1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
needs_netns="udp_io"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
for name in $harnesses; do
    case " $needs_netns " in *" $name "*)
        if ! unshare --net true 2>/dev/null; then
            echo "fuzz: $name skipped: it needs a network namespace of its own (unshare: root)"
            [ "${TUNTAP_REQUIRE_PRIVILEGED:-0}" = 1 ] && exit 1
            continue
        fi
    esac
    # Every shim source goes in: the harness needs only its own entry point.
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$here/../csrc" -o "$build/$name" "$here/fuzz_$name.c" "$here"/../csrc/*.c
    mkdir -p "$here/corpus/$name"
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        corpora="$here/corpus/$name"
    else
        mkdir "$build/new-$name"
        corpora="$build/new-$name $here/corpus/$name"
    fi
    echo "fuzz: $name for ${seconds}s"
    # shellcheck disable=SC2086 # corpora is one or two folders
    { "$build/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$here/crash-$name-" $corpora 2>&1; echo "$?" >"$build/status"; } |
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE|fuzz_)|ERROR|SUMMARY' || true
    [ -z "$(ls "$here"/crash-"$name"-* 2>/dev/null)" ] || { echo "fuzz: $name crashed" >&2; exit 1; }
    [ "$(cat "$build/status")" = 0 ] || { echo "fuzz: $name stopped with status $(cat "$build/status")" >&2; exit 1; }
done
