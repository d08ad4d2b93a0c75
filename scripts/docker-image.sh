#!/usr/bin/env bash
# Build the container modes' image (docker/Dockerfile) with no image registry: a Debian base made
# with debootstrap, and a wheelhouse that pip installs offline. Prints the seconds of each part.
#
#   eval "$(scripts/dockerd.sh start)"; scripts/docker-image.sh [TAG]     (default taiex:latest)
#
# Cached under TAIEX_DOCKER_CACHE (default /tmp/taiex-docker-cache): the base's tarball, and the
# dependencies' wheels per pyproject.toml; a rerun rebuilds only the taiex layer.
#   TAIEX_DEBIAN_MIRROR   Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   TAIEX_TORCH_SPEC      what pip installs for torch (default torch==2.13.0, from PIP_FIND_LINKS
#                         or PyTorch's CPU index: the script stops if a CUDA build came along)
#   PYTHON                the Python 3.11 whose pip makes the wheelhouse (default python3)
# Needs debootstrap and docker.io (Debian packages), a running engine, and root for debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-taiex:latest}
BASE=taiex-base:bookworm
CACHE=${TAIEX_DOCKER_CACHE:-/tmp/taiex-docker-cache}
MIRROR=${TAIEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TORCH=${TAIEX_TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}
IMAGE_PYTHON=3.11.2  # bookworm's python3, what the image installs into (docker/constraints.txt)
mkdir -p "$CACHE"

timed() {  # timed LABEL COMMAND...: run, then print how long it took
  local label=$1 start=$SECONDS; shift
  "$@"
  echo "docker-image: $label: $((SECONDS - start)) s" >&2
}

base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then return; fi
  if [ ! -s "$CACHE/base.tar" ]; then
    local root; root=$(mktemp -d "$CACHE/root.XXXXXX")
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$CACHE/base.tar.tmp" . && mv "$CACHE/base.tar.tmp" "$CACHE/base.tar"
    rm -rf "$root"
  fi
  docker import "$CACHE/base.tar" "$BASE" >/dev/null
}

wheels() {
  # Keyed by what the image installs (the dependencies and the two drivers' extras), not by
  # the rest of pyproject.toml: a new dev tool does not download the wheelhouse again.
  local key; key=$("$PYTHON" -c '
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
print(sorted(project["dependencies"]), extras["mysql"], extras["postgres"], sys.argv[1],
      open("docker/constraints.txt").read())
' "$TORCH" | sha256sum | cut -c1-16)
  DEPS=$CACHE/deps-$key
  if [ ! -f "$DEPS/.complete" ]; then
    rm -rf "$DEPS"; mkdir -p "$DEPS"
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$DEPS" -c docker/constraints.txt \
      "$TORCH" ".[mysql,postgres]"
    rm -f "$DEPS"/taiex-*.whl
    check_requires_python "$DEPS"
    if ls "$DEPS" | grep -q -E '^nvidia_|^triton'; then
      echo "docker-image: the wheelhouse has CUDA packages; give a CPU torch (TAIEX_TORCH_SPEC)" >&2
      exit 1
    fi
    touch "$DEPS/.complete"
  fi
}

check_requires_python() {  # every wheel of $1 must install on the image's Python
  "$PYTHON" - "$1" "$IMAGE_PYTHON" <<'PY'
import sys, zipfile
from pathlib import Path
from pip._vendor.packaging.specifiers import SpecifierSet

folder, version = Path(sys.argv[1]), sys.argv[2]
refused = []
for wheel in sorted(folder.glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        for line in archive.read(name).decode("utf-8", "replace").splitlines():
            if line.lower().startswith("requires-python:"):
                spec = line.split(":", 1)[1].strip()
                if version not in SpecifierSet(spec):
                    refused.append(f"{wheel.name} (Requires-Python {spec})")
if refused:
    sys.exit(f"docker-image: the image's Python {version} cannot install: {', '.join(refused)}; "
             "cap them in docker/constraints.txt")
PY
}

CONTEXT=""
trap 'if [ -n "$CONTEXT" ]; then rm -rf "$CONTEXT"; fi' EXIT

build() {
  CONTEXT=$(mktemp -d "$CACHE/context.XXXXXX")
  local context=$CONTEXT
  mkdir "$context/taiex" "$context/deps"
  cp -l "$DEPS"/*.whl "$context/deps/"  # hard links: the context costs no copy
  "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$context/taiex" .
  docker build --quiet --network none -f docker/Dockerfile -t "$TAG" "$context" >/dev/null
}

timed "base $BASE" base
timed "wheelhouse" wheels
timed "build $TAG" build
docker run --rm --network none --user 50000 "$TAG" --version >/dev/null
echo "docker-image: $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
