#!/usr/bin/env bash
# compare.sh: mirador's speed and memory against its peers on one capture.
#
# Usage: benches/compare.sh [CAPTURE]
#
# Runs, on the same capture, each REPS times (default 3) under
# /usr/bin/time -v:
#   mirador analyze CAPTURE -q --workers 1
#   mirador analyze CAPTURE -q --workers 2
#   ndpiReader -i CAPTURE -q          (nDPI's reader; -q only silences the report)
#   p0f -r CAPTURE                    (output to /dev/null)
#   tshark -r CAPTURE -q -z io,phs    (plain -q dissects nothing: see the README)
# and prints, per tool, the median wall time, packets per second, how many
# times faster mirador is with 1 and 2 workers, and the peak RSS. A peer that
# is not installed is skipped with a note.
#
# Without CAPTURE, benches/data/bench.pcap is used, built first (once; delete
# it to build it again) by make-bench-capture from pcaps/ and
# ../shared/captures, whichever exist; BENCH_CAPTURE_ARGS passes options to
# make-bench-capture (e.g. "--target-packets 1000000").
#
# Environment: REPS (runs per tool), CARGO_TARGET_DIR (where cargo builds).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reps=${REPS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

say() { echo "compare: $*" >&2; }
die() {
    say "$*"
    exit 1
}

if (($# > 1)) || [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 2
fi
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive number, not '$reps'"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The capture.
if (($# == 1)); then
    capture=$1
    [[ -r $capture ]] || die "cannot read $capture"
else
    capture=$root/benches/data/bench.pcap
    if [[ ! -s $capture ]]; then
        inputs=()
        for dir in "$root/pcaps" "$(dirname "$root")/shared/captures"; do
            [[ -d $dir ]] && inputs+=("$dir")
        done
        ((${#inputs[@]} > 0)) || die "no capture given, and neither pcaps/ nor ../shared/captures exists"
        say "building $capture from ${inputs[*]}"
        cargo build --release -q -p benches --bin make-bench-capture
        mkdir -p "$(dirname "$capture")"
        # shellcheck disable=SC2086 # BENCH_CAPTURE_ARGS holds several options
        "$CARGO_TARGET_DIR/release/make-bench-capture" --out "$capture.tmp" \
            ${BENCH_CAPTURE_ARGS:-} "${inputs[@]}" >&2
        mv "$capture.tmp" "$capture"
    fi
fi

say "building mirador (release)"
cargo build --release -q -p sensor
mirador=$CARGO_TARGET_DIR/release/mirador

# Packets in the capture: capinfos, else mirador's own summary line.
if command -v capinfos >/dev/null; then
    packets=$(capinfos -c -M "$capture" | awk -F': *' '/^Number of packets/ { print $2; exit }')
else
    packets=$("$mirador" analyze "$capture" --workers 1 --no-table --progress never 2>&1 >/dev/null |
        sed -n 's/^mirador: .* \([0-9][0-9]*\) packets, .*/\1/p' | head -n 1)
fi
[[ $packets =~ ^[0-9]+$ && $packets -gt 0 ]] || die "could not count the packets of $capture"

# The tools, in table order, and their command lines (set into cmd).
tools=("mirador (w1)" "mirador (w2)" ndpiReader p0f tshark)
command_of() {
    case $1 in
    "mirador (w1)") cmd=("$mirador" analyze "$capture" -q --workers 1) ;;
    "mirador (w2)") cmd=("$mirador" analyze "$capture" -q --workers 2) ;;
    ndpiReader) cmd=(ndpiReader -i "$capture" -q) ;;
    p0f) cmd=(p0f -r "$capture") ;;
    tshark) cmd=(tshark -r "$capture" -q -z "io,phs") ;;
    esac
}

declare -A wall rss state
notes=()

# measure TOOL: runs it REPS times; keeps the median wall time (seconds) and
# the largest peak RSS (kB).
measure() {
    local tool=$1 cmd
    command_of "$tool"
    if ! command -v "${cmd[0]}" >/dev/null; then
        state[$tool]=missing
        notes+=("$tool: not installed (${cmd[0]} not found): skipped")
        return
    fi
    local walls=() peak=0 i start end kb status
    for ((i = 1; i <= reps; i++)); do
        start=$(date +%s%N)
        if /usr/bin/time -v -o "$work/time" "${cmd[@]}" >/dev/null 2>"$work/stderr"; then
            status=0
        else
            status=$?
        fi
        end=$(date +%s%N)
        if ((status != 0)); then
            state[$tool]=failed
            notes+=("$tool: exit status $status: $(tail -n 2 "$work/stderr" | tr '\n' ' ')")
            return
        fi
        walls+=($((end - start)))
        kb=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$work/time")
        ((kb > peak)) && peak=$kb
        say "$tool run $i/$reps: $(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }') s"
    done
    wall[$tool]=$(printf '%s\n' "${walls[@]}" | sort -n |
        awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m / 1e9 }')
    rss[$tool]=$peak
    state[$tool]=ok
}

say "capture $capture: $packets packets, $(du -h "$capture" | cut -f1); $reps runs per tool"
cat "$capture" >/dev/null # into the page cache: every tool reads it warm
for tool in "${tools[@]}"; do
    measure "$tool"
done

# The table.
pps() { awk -v p="$packets" -v s="$1" 'BEGIN { printf "%.0f", p / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
declare -A rate
for tool in "${tools[@]}"; do
    [[ ${state[$tool]} == ok ]] && rate[$tool]=$(pps "${wall[$tool]}")
done

echo
echo "capture: $capture ($packets packets, $(du -h "$capture" | cut -f1)), median of $reps runs, $(nproc) CPUs"
printf '%-14s %10s %9s %12s %10s %10s %14s\n' tool packets "wall s" packets/s "w1 ratio" "w2 ratio" "peak RSS MiB"
for tool in "${tools[@]}"; do
    if [[ ${state[$tool]} != ok ]]; then
        printf '%-14s %10s %9s\n' "$tool" "$packets" "${state[$tool]}"
        continue
    fi
    w1=-
    w2=-
    [[ -n ${rate["mirador (w1)"]:-} ]] && w1=$(ratio "${rate["mirador (w1)"]}" "${rate[$tool]}")
    [[ -n ${rate["mirador (w2)"]:-} ]] && w2=$(ratio "${rate["mirador (w2)"]}" "${rate[$tool]}")
    printf '%-14s %10s %9s %12s %10s %10s %14s\n' "$tool" "$packets" "${wall[$tool]}" \
        "${rate[$tool]}" "$w1" "$w2" "$(awk -v k="${rss[$tool]}" 'BEGIN { printf "%.1f", k / 1024 }')"
done
echo "(wN ratio: mirador with N workers, packets/s divided by the tool's; above 1 means mirador is faster)"

# Memory: mirador against nDPI.
if [[ ${state[ndpiReader]} == ok ]]; then
    for tool in "mirador (w1)" "mirador (w2)"; do
        [[ ${state[$tool]} == ok ]] || continue
        echo "peak RSS: $tool $((rss[$tool] / 1024)) MiB vs ndpiReader $((rss[ndpiReader] / 1024)) MiB:" \
            "$(awk -v a="${rss[$tool]}" -v b="${rss[ndpiReader]}" 'BEGIN { printf "%.2f", a / b }') of nDPI's"
    done
fi
for note in "${notes[@]}"; do
    echo "note: $note"
done
