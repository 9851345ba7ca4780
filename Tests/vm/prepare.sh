#!/bin/bash
# Tests/vm/prepare.sh - build (or reuse from the cache) everything the Vigil test VM boots:
#   * host packages (installed only when missing),
#   * the stock Debian kernel (linux-image-$KV, unpacked with dpkg -x: no install hooks run),
#   * out-of-tree modules built against linux-headers-$KV (v4l2loopback, gpio-sim; see EXTRA_MODULES),
#   * an uncompressed ELF vmlinux extracted from the bzImage (qemu boots it through PVH, skipping the
#     xz decompressor, which is slow under TCG),
#   * a busybox initramfs holding /init (Tests/vm/init) and the modules it insmods, in load order.
#
# Idempotent and cached: a warm run only checks stamps and takes about a second.
# Cache dir: $VIGIL_VM_CACHE (default $REPO/.cache/vm). Kernel ABI: $VIGIL_VM_KV overrides the one
# bookworm's linux-image-amd64 currently depends on.
# On success the last thing written is $CACHE/vm.env (sourced by run.sh): VM_KV, VM_KERNEL, VM_INITRD.
# Progress goes to stderr, prefixed "prepare:". Exit status non-zero on any failure.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VIGIL_VM_CACHE:-$REPO/.cache/vm}

# Modules the guest needs, by name; modprobe --show-depends adds their dependencies in load order.
# (configfs: gpio-sim is configured through it; /init creates the chip. virtio_blk + ext4: the
# power-cut test's disk, Tests/vm/powercut.py; crc32c_generic is ext4's soft dependency.)
LOAD_MODULES="virtio_pci 9pnet_virtio 9p configfs vivid v4l2loopback gpio-sim crc32c_generic virtio_blk ext4"
# Out-of-tree modules: each NAME here needs a build_NAME function below (dashes -> underscores)
# that leaves NAME.ko in $1.
EXTRA_MODULES="v4l2loopback gpio-sim"
# gpiod: gpiodetect/gpioset/... used in the guest (field group); linux-source-$KSER is added below
# (gpio-sim's sources).
HOST_PACKAGES="qemu-system-x86 busybox-static cpio kmod xz-utils python3 v4l-utils make gcc gpiod"

T0=$EPOCHREALTIME
log() { awk -v t0="$T0" -v t="$EPOCHREALTIME" -v m="$*" 'BEGIN { printf "prepare: [%5.1fs] %s\n", t - t0, m }' >&2; }
die() { echo "prepare: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, and qemu exports / to the guest)"
mkdir -p "$CACHE/debs"
# one prepare at a time per cache (two parallel runs would race on the same files)
exec 9>"$CACHE/.lock"
flock 9

# ------------------------------------------------------------------------------------------------
# 1. kernel ABI + host packages
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  log "apt-get update"
  apt-get update -qq >"$CACHE/apt-update.log" 2>&1 || die "apt-get update failed (see $CACHE/apt-update.log)"
  apt_updated=1
}
resolve_kv() {
  apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\).*/\1/p' | head -1
}
KV=${VIGIL_VM_KV:-}
if [ -z "$KV" ]; then
  KV=$(resolve_kv)
  if [ -z "$KV" ]; then apt_update; KV=$(resolve_kv); fi
  [ -n "$KV" ] || die "cannot resolve the kernel ABI from 'apt-cache depends linux-image-amd64'"
fi
KPKG=linux-image-$KV
KSER=$(echo "$KV" | cut -d. -f1,2)   # 6.1: linux-source-6.1 carries the tree gpio-sim is built from

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
missing=""
for p in $HOST_PACKAGES "linux-headers-$KV" "linux-source-$KSER"; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt_update
  log "apt-get install$missing"
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >"$CACHE/apt-install.log" 2>&1 \
    || die "apt-get install$missing failed (see $CACHE/apt-install.log)"
fi
KHDR=/usr/src/linux-headers-$KV
[ -f "$KHDR/Makefile" ] || die "$KHDR missing although linux-headers-$KV is installed"

# apt-get download into $CACHE/debs unless a matching .deb is already there; prints its path
fetch_deb() {
  local pkg=$1 deb
  deb=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$deb" ]; then
    log "apt-get download $pkg"
    (cd "$CACHE/debs" && apt-get download "$pkg" >"$CACHE/debs/download-$pkg.log" 2>&1) \
      || { apt_update; (cd "$CACHE/debs" && apt-get download "$pkg" >"$CACHE/debs/download-$pkg.log" 2>&1); } \
      || die "apt-get download $pkg failed (see $CACHE/debs/download-$pkg.log)"
    deb=$(ls "$CACHE/debs/${pkg}_"*.deb | sort -V | tail -1)
  fi
  echo "$deb"
}

# ------------------------------------------------------------------------------------------------
# 2. kernel image + module tree (dpkg -x: no maintainer scripts, no initramfs-tools)
KROOT=$CACHE/kernel-$KV          # holds boot/ and lib/modules/$KV/ exactly as the package ships them
MODDIR=$KROOT/lib/modules/$KV
if [ ! -f "$KROOT/.extracted" ]; then
  deb=$(fetch_deb "$KPKG")
  log "dpkg -x $(basename "$deb")"
  rm -rf "$KROOT" "$KROOT.tmp"
  dpkg -x "$deb" "$KROOT.tmp" || die "dpkg -x $deb failed"
  mv "$KROOT.tmp" "$KROOT"
  touch "$KROOT/.extracted"
fi
[ -f "$KROOT/boot/vmlinuz-$KV" ] || die "no boot/vmlinuz-$KV in $KPKG"

# uncompressed ELF vmlinux for PVH boot: Debian's bzImage carries an xz payload (CONFIG_KERNEL_XZ);
# linux-headers has no scripts/extract-vmlinux, so python's lzma does it (about 1 s).
VMLINUX=$KROOT/vmlinux
if [ ! -s "$VMLINUX" ]; then
  log "extract vmlinux from vmlinuz-$KV"
  python3 - "$KROOT/boot/vmlinuz-$KV" "$VMLINUX.tmp" <<'EOF' || die "vmlinux extraction failed"
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz payload in " + sys.argv[1])
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])  # stops at stream end
if elf[:4] != b"\x7fELF":
    sys.exit("xz payload is not an ELF image")
open(sys.argv[2], "wb").write(elf)
EOF
  mv "$VMLINUX.tmp" "$VMLINUX"
fi

# ------------------------------------------------------------------------------------------------
# 3. out-of-tree modules, installed into $MODDIR/extra/ (stripped of debug info)
build_v4l2loopback() {  # $1 = build dir; Debian's dkms source package, never installed (its postinst
                        # would run dkms for the host's kernel)
  local deb; deb=$(fetch_deb v4l2loopback-dkms)
  dpkg -x "$deb" "$1/pkg"
  local src; src=$(ls -d "$1"/pkg/usr/src/v4l2loopback-*/ | head -1)
  [ -n "$src" ] || die "no usr/src/v4l2loopback-* in $deb"
  cp -r "$src" "$1/src"
  make -C "$KHDR" M="$1/src" modules >"$1/build.log" 2>&1 || { tail -20 "$1/build.log" >&2; die "v4l2loopback build failed"; }
  cp "$1/src/v4l2loopback.ko" "$1/v4l2loopback.ko"
  basename "$deb" .deb >"$1/version"
}
# gpio-sim: Debian builds neither it nor IRQ_SIM (# CONFIG_GPIO_SIM is not set), so it is built
# from linux-source-$KSER with kernel/irq/irq_sim.c linked into the same module. One patch:
# irq_to_desc() is not exported to modules; generic_handle_irq() (exported) runs the same
# handle_simple_irq for the simulated interrupt.
build_gpio_sim() {
  local tarball=/usr/src/linux-source-$KSER.tar.xz top=linux-source-$KSER
  [ -f "$tarball" ] || die "$tarball missing although linux-source-$KSER is installed"
  local hv sv
  hv=$(dpkg-query -W -f='${Version}' "linux-headers-$KV" 2>/dev/null || true)
  sv=$(dpkg-query -W -f='${Version}' "linux-source-$KSER" 2>/dev/null || true)
  [ "$hv" = "$sv" ] || log "WARNING: linux-source-$KSER $sv differs from linux-headers-$KV $hv"
  mkdir -p "$1/src" "$1/mod"
  tar -xJf "$tarball" -C "$1/src" "$top/drivers/gpio/gpio-sim.c" "$top/drivers/gpio/gpiolib.h" \
    "$top/kernel/irq/irq_sim.c" || die "cannot extract gpio-sim sources from $tarball"
  cp "$1/src/$top/drivers/gpio/gpio-sim.c" "$1/mod/gpio-sim-main.c"
  cp "$1/src/$top/drivers/gpio/gpiolib.h" "$1/src/$top/kernel/irq/irq_sim.c" "$1/mod/"
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$1/mod/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum);' "$1/mod/irq_sim.c" || die "irq_sim.c: the irq_to_desc patch did not apply"
  printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >"$1/mod/Kbuild"
  make -C "$KHDR" M="$1/mod" modules >"$1/build.log" 2>&1 || { tail -20 "$1/build.log" >&2; die "gpio-sim build failed"; }
  cp "$1/mod/gpio-sim.ko" "$1/gpio-sim.ko"
  echo "linux-source-$KSER $sv" >"$1/version"
}
mkdir -p "$MODDIR/extra"
for m in $EXTRA_MODULES; do
  ko=$MODDIR/extra/$m.ko
  if [ -s "$ko" ]; then continue; fi
  log "build $m.ko against linux-headers-$KV"
  b=$CACHE/build-$KV/$m
  rm -rf "$b"; mkdir -p "$b"
  "build_${m//-/_}" "$b"
  [ -s "$b/$m.ko" ] || die "build_$m left no $m.ko"
  strip --strip-debug -o "$ko.tmp" "$b/$m.ko" && mv "$ko.tmp" "$ko"
  rm -f "$MODDIR/modules.dep"          # force depmod below
done

# depmod whenever the module set changed (an extra .ko newer than modules.dep)
need_depmod=0
[ -s "$MODDIR/modules.dep" ] || need_depmod=1
for m in $EXTRA_MODULES; do
  if [ "$MODDIR/extra/$m.ko" -nt "$MODDIR/modules.dep" ]; then need_depmod=1; fi
done
if [ "$need_depmod" = 1 ]; then
  log "depmod"
  depmod -b "$KROOT" "$KV" || die "depmod failed"
fi

# ------------------------------------------------------------------------------------------------
# 4. module load order (dependencies first), with the host's /etc/modprobe.d kept out (-C /dev/null)
ORDER=$(for m in $LOAD_MODULES; do
          modprobe -C /dev/null -d "$KROOT" -S "$KV" --show-depends "$m" || echo "MISSING $m"
        done | awk '$1 == "MISSING" { print; next } $1 == "insmod" && !seen[$2]++ { print $2 }')
case "$ORDER" in *MISSING*) die "modprobe cannot resolve: $(echo "$ORDER" | grep MISSING | tr '\n' ' ')";; esac

# ------------------------------------------------------------------------------------------------
# 5. initramfs, keyed by kernel ABI + init script + the exact module files
key=$( { echo "$KV"; sha256sum "$HERE/init"; for f in $ORDER; do echo "$f"; sha256sum <"$f"; done;
         sha256sum </bin/busybox; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KV-$key.cpio
if [ ! -s "$INITRD" ]; then
  log "build initramfs $(basename "$INITRD")"
  IR=$CACHE/initramfs.tmp
  rm -rf "$IR"; mkdir -p "$IR"/{bin,dev,proc,sys,host,lib/modules}
  cp /bin/busybox "$IR/bin/busybox"
  cp "$HERE/init" "$IR/init"; chmod 755 "$IR/init"
  : >"$IR/modules.load"
  for f in $ORDER; do cp "$f" "$IR/lib/modules/"; basename "$f" >>"$IR/modules.load"; done
  # uncompressed: the kernel unpacks it with a memcpy instead of inflating 5 MB under TCG
  (cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$IR"
  find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "$(basename "$INITRD")" -delete
fi

cat >"$CACHE/vm.env.tmp" <<EOF
VM_KV=$KV
VM_KERNEL=$VMLINUX
VM_BZIMAGE=$KROOT/boot/vmlinuz-$KV
VM_INITRD=$INITRD
VM_MODULES="$(for f in $ORDER; do basename "$f" .ko; done | tr '\n' ' ' | sed 's/ $//')"
EOF
mv "$CACHE/vm.env.tmp" "$CACHE/vm.env"
log "ready: kernel $KV, $(basename "$INITRD") ($(( $(stat -c %s "$INITRD") / 1024 )) KiB), $(echo "$ORDER" | wc -w) modules"
