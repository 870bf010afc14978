#!/usr/bin/env bash
# Regenerates the first-run transcript in README.md from a real run:
#
#   flock /tmp/mbc-swift.lock launch/readme-transcript.sh
#
# Builds mbc-train, then runs each command of COMMANDS below, as typed, in a fresh temporary
# working directory that links the repository's configs/, data/, launch/, .build/ and Tests/ (so
# `runs/quick` is new and nothing in the repository's runs/ is touched). The output is shortened
# the way the README shows it: the plan's first lines, the summary's first rows and total, the
# first two progress lines, `...`, each evaluation and checkpoint, the last progress line. Host
# names become <host>; nothing else is changed. The result, with a line giving the date, the CPU
# and each command's wall time, replaces what lies between the markers
# `<!-- transcript:begin -->` and `<!-- transcript:end -->` in README.md.
#
# Training the quick config takes a few minutes on both cores: run nothing else meanwhile.
set -euo pipefail

# The README's commands, in order; later steps (e.g. evaluating the checkpoint the first one
# writes) are appended here and appear in the same transcript.
COMMANDS=(
    "launch/train.sh configs/quick.yaml -np 2"
    ".build/release/mbc-train export --checkpoint runs/quick/checkpoints/best.safetensors --output quick.mbc.safetensors"
    ".build/release/mbc-train predict --model quick.mbc.safetensors Tests/MBDeployTests/Fixtures/digit-gray.png"
)

here=$(cd "$(dirname "$0")/.." && pwd)
readme=$here/README.md
begin='<!-- transcript:begin -->'
end='<!-- transcript:end -->'
if [ "$(grep -cxF "$begin" "$readme")" -ne 1 ] || [ "$(grep -cxF "$end" "$readme")" -ne 1 ]; then
    echo "launch/readme-transcript.sh: README.md needs exactly one line '$begin' and one line '$end'." >&2
    exit 2
fi

(cd "$here" && swift build -c release --product mbc-train >&2)

work=$(mktemp -d /tmp/mbc-transcript.XXXXXX)
trap 'rm -rf "$work"' EXIT
for link in configs data launch .build Tests; do ln -s "$here/$link" "$work/$link"; done

# Shortens one command's output (see the header).
shorten() {
    awk '
        function flush_steps() {
            if (nsteps == 0) return
            if (!seen_steps) {
                print first_step
                if (nsteps > 1) print second_step
                if (nsteps > 2) print "..."
                seen_steps = 1
            } else {
                if (nsteps > 1) print "..."
                print last_step
            }
            nsteps = 0
        }
        /^step [0-9]+\/[0-9]+ / {
            nsteps++
            if (nsteps == 1) first_step = $0
            if (nsteps == 2) second_step = $0
            last_step = $0
            next
        }
        { flush_steps() }
        state == "config" {
            if (++config_lines <= 2) print
            else if (config_lines == 3) print "    ..."
            if ($0 !~ /^layer kind/) next
            state = ""
        }
        /^config \(resolved\):/ { print; state = "config"; config_lines = 0; next }
        /^layer kind/ { print; state = "summary"; rows = 0; next }
        state == "summary" {
            if ($0 ~ /^total /) { print; state = "after-summary"; next }
            if ($0 ~ /^-+$/) next
            if (++rows <= 3) print
            else if (rows == 4) print "..."
            next
        }
        state == "after-summary" { state = ""; if ($0 ~ /^compression /) next }
        { sub(/: host [^,]*,/, ": host <host>,"); print }
        END { flush_steps() }
    '
}

transcript=$work/transcript.md
timings=()
{
    echo '```'
    for command in "${COMMANDS[@]}"; do
        echo "\$ $command"
        start=$(date +%s)
        if ! (cd "$work" && bash -c "$command") > "$work/output" 2>&1; then
            echo "launch/readme-transcript.sh: \`$command\` failed; its output:" >&2
            cat "$work/output" >&2
            exit 1
        fi
        seconds=$(( $(date +%s) - start ))
        timings+=("\`$command\` took $((seconds / 60))m$(printf %02d $((seconds % 60)))s")
        shorten < "$work/output"
    done
    echo '```'
    echo
    cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
    family=$(awk '/^cpu family/ {print $4; exit}' /proc/cpuinfo)
    model=$(awk '/^model[[:space:]]*:/ {print $3; exit}' /proc/cpuinfo)
    joined=$(printf '%s; ' "${timings[@]}")
    echo "Captured by \`launch/readme-transcript.sh\` on $(date -u +%Y-%m-%d) from a real run on $cpu"
    echo "(CPU family $family, model $model), $(nproc) cores: ${joined%; }."
} > "$transcript"

awk -v begin="$begin" -v end="$end" -v file="$transcript" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }
' "$readme" > "$work/README.md"
cp "$work/README.md" "$readme"
echo "README.md: transcript replaced ($(grep -c . "$transcript") lines)" >&2
