#!/usr/bin/env bash
# An arm64 Python with the Numba runtime's dependencies, run on this machine under qemu-aarch64:
#
#   tests/arm/aarch64_python.sh OUT [PACKAGE...]      (OUT: build/aarch64-python by default in the Makefile)
#
#   OUT/root  Debian's python3.11:arm64 and the libraries it needs, fetched with apt-get download and
#             unpacked (no root needed, nothing installed on this machine); qemu-aarch64 takes it as
#             QEMU_LD_PREFIX.
#   OUT/site  PyPI's aarch64 wheels of numpy, numba, llvmlite, cffi and flatbuffers, at the versions this
#             machine's Python has (the same compiler under both), and of any PACKAGE named (the ARM
#             benchmark adds ai-edge-litert); unpacked, for PYTHONPATH.
#
# apt must know arm64 packages: dpkg --add-architecture arm64 && apt-get update (.ci/run does). OUT is
# built beside itself and moved into place whole, so a failed run leaves nothing half-made.
set -euo pipefail
out=$1; shift
python=${PYTHON:-python3}
work="$out.partial"
rm -rf "$work" && mkdir -p "$work/debs" "$work/root" "$work/site" "$work/wheels"

# The packages python3.11:arm64 depends on, recursively (apt-cache lists each as NAME:arm64; dpkg and tar
# are the installer's own, not Python's), plus the two architecture-independent ones it needs.
debs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
       --no-enhances --no-pre-depends python3.11:arm64 libstdc++6:arm64 libgomp1:arm64 \
       | grep -E '^[a-z0-9].*:arm64$' | grep -vE '^(dpkg|tar|install-info):' | sort -u)
if [ -z "$debs" ]; then
    echo "aarch64_python.sh: apt knows no arm64 packages; run: dpkg --add-architecture arm64 && apt-get update" >&2
    exit 1
fi
(cd "$work/debs" && apt-get download -q $debs libtirpc-common media-types >/dev/null)
for f in "$work"/debs/*.deb; do dpkg -x "$f" "$work/root"; done

# The runtime's dependencies at this machine's versions. The newest numpy, numba and llvmlite wheels are
# manylinux_2_28 only; pip needs every platform tag named or it picks old versions.
pins=$("$python" -c 'import importlib.metadata as m
print(" ".join(f"{p}=={m.version(p)}" for p in ("numpy", "numba", "llvmlite", "cffi", "flatbuffers")))')
"$python" -m pip download -q --only-binary=:all: --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    --python-version 3.11 --implementation cp --abi cp311 -d "$work/wheels" $pins "$@"
for w in "$work"/wheels/*.whl; do "$python" -m zipfile -e "$w" "$work/site"; done

rm -rf "$work/debs" "$work/wheels" "$out"
mv "$work" "$out"
