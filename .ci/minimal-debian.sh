#!/usr/bin/env bash
# Proves that a fresh machine needs nothing but a Rust toolchain (rustup) and a C
# compiler: builds a minimal Debian (debootstrap --variant=minbase) with only gcc
# and libc6-dev added, lends it this machine's Rust toolchain and crate cache
# read-only, then inside it builds the workspace offline, runs the demo and one
# command that writes a PNG, and checks that no fontconfig/freetype library (nor
# any system font) is present.
#
# Run as root from anywhere in the repository: .ci/minimal-debian.sh
# Needs: debootstrap (installed with apt-get if missing), a Debian mirror, and a
# crate cache that holds every crate of Cargo.lock (`cargo fetch` once).
#
# Environment:
#   SUITE         Debian suite (default: bookworm)
#   MIRROR        Debian mirror (default: http://deb.debian.org/debian)
#   DEMO_ARGS     demo arguments (default: "--iterations 60", a shorter run of the
#                 README's first command; DEMO_ARGS= runs it exactly as written)
#   PNG_OUT       copy the PNG drawn inside the chroot to this file
#   TESTS=1       also run the README's test command (cargo test --workspace --release)
#   KEEP_CHROOT=1 keep the (unmounted) chroot instead of deleting it
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
suite="${SUITE:-bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
demo_args="${DEMO_ARGS---iterations 60}"

if [ "$(id -u)" -ne 0 ]; then
    echo "minimal-debian: must run as root (debootstrap, chroot, mount)" >&2
    exit 1
fi

# The host's toolchain (its sysroot: rustc, cargo, std) and crate cache.
sysroot="$(rustc --print sysroot)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for d in "$sysroot/bin" "$cargo_home/registry/index" "$cargo_home/registry/cache"; do
    [ -d "$d" ] || { echo "minimal-debian: $d is missing" >&2; exit 1; }
done

work="$(mktemp -d /var/tmp/plinius-minimal-debian.XXXXXX)"
root="$work/root"

# Every mount point at or under the chroot, deepest first.
mounts_under_root() {
    awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cleanup() {
    local rc=$? m
    trap - EXIT INT TERM
    for m in $(mounts_under_root); do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    if [ -n "$(mounts_under_root)" ]; then
        echo "minimal-debian: mounts remain under $root; not deleting $work" >&2
    elif [ "${KEEP_CHROOT:-0}" = 1 ]; then
        echo "minimal-debian: chroot kept in $root"
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase_start=$SECONDS
phase() {
    echo "minimal-debian: $1 done in $((SECONDS - phase_start)) s"
    phase_start=$SECONDS
}

# 1. A minimal Debian with a C toolchain and nothing else.
if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
fi
# Exit code 75 (EX_TEMPFAIL) says the Debian mirror could not be used: nothing
# about the project was learnt. Any later failure is the project's: exit 1.
debootstrap --variant=minbase --include=gcc,libc6-dev "$suite" "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 75; }
phase "debootstrap ($suite, minbase + gcc libc6-dev)"

# 2. Mounts: kernel file systems, a private /dev/shm, and the host's toolchain
# and crate cache read-only. The registry's src/ stays in the chroot: cargo
# unpacks the cached .crate files there, as on a fresh machine.
bind_ro() {
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mount -o remount,bind,ro "$2"
}
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mkdir -p "$root/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
bind_ro "$sysroot" "$root/opt/rust"
bind_ro "$cargo_home/registry/index" "$root/root/.cargo/registry/index"
bind_ro "$cargo_home/registry/cache" "$root/root/.cargo/registry/cache"

# 3. The project's files (tracked and untracked, not ignored; no target/).
mkdir -p "$root/root/plinius-rs"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
    tar -C "$repo" --null --ignore-failed-read -T - -cf - |
    tar -C "$root/root/plinius-rs" -xf -
phase "mounts and project copy"

# 4. Inside: build offline, run the demo and a PNG-writing benchmark, check
# that no font library is installed and none is linked.
in_chroot() {
    chroot "$root" /usr/bin/env -i HOME=/root CARGO_HOME=/root/.cargo \
        PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
        /bin/bash -euo pipefail -c "cd /root/plinius-rs && $1"
}
in_chroot 'for t in cmake make pkg-config; do
        if command -v "$t" >/dev/null; then echo "unexpected tool in the chroot: $t" >&2; exit 1; fi
    done
    gcc --version | head -n 1; cargo --version'
in_chroot 'cargo build --release --offline --workspace'
phase "cargo build --release --offline --workspace"
in_chroot "cargo run --release --offline -- demo $demo_args"
phase "cargo run --release -- demo $demo_args"
in_chroot 'cargo run --release --offline -- bench sps --swaps 1,4,16 --seconds 0.2 --plot /tmp/sps.png
    sig="$(head -c 8 /tmp/sps.png | od -An -tx1 | tr -d " \n")"
    [ "$sig" = 89504e470d0a1a0a ] || { echo "/tmp/sps.png is not a PNG" >&2; exit 1; }'
phase "bench sps --plot (PNG)"
if [ "${TESTS:-0}" = 1 ]; then
    in_chroot 'cargo test --workspace --release --offline'
    phase "cargo test --workspace --release"
fi
if [ -n "${PNG_OUT:-}" ]; then
    cp "$root/tmp/sps.png" "$PNG_OUT"
fi
# Each listing is taken first, so that a failing command fails the check
# instead of passing as "nothing found".
in_chroot 'packages="$(dpkg-query -W -f "\${Package}\n")"
    if grep -Ei "fontconfig|freetype|^fonts-" <<<"$packages"; then
        echo "font packages are installed in the chroot" >&2; exit 1
    fi
    files="$(find /usr /etc -name "libfontconfig*" -o -name "libfreetype*" -o -name "*.ttf" -o -name "*.otf")"
    if [ -n "$files" ]; then echo "font files in the chroot: $files" >&2; exit 1; fi
    cache="$(ldconfig -p)"
    if grep -Ei "fontconfig|freetype" <<<"$cache"; then echo "font libraries known to ldconfig" >&2; exit 1; fi
    linked="$(ldd target/release/plinius)"
    if grep -Ei "fontconfig|freetype" <<<"$linked"; then echo "plinius links a font library" >&2; exit 1; fi
    echo "plinius links:"; echo "$linked"'
echo "minimal-debian: OK in $SECONDS s (no fontconfig, freetype or system font in the chroot)"
