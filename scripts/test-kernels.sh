#!/usr/bin/env bash
# Run tests under other numpy and torch kernels than this CPU would pick (`make test-kernels`).
#
#   scripts/test-kernels.sh PYTHON [pytest arguments...]
#
# numpy's SIMD dispatch is turned off (NPY_DISABLE_CPU_FEATURES: every dispatched feature numpy
# found on this CPU, read from numpy itself, so its baseline loops run) and torch's ATen runs its
# default, unvectorised kernels (ATEN_CPU_CAPABILITY=default). The tests compare with figures
# recorded on another processor within tests/tolerance.py; this run shows on the machine at hand
# that they hold under other kernels, and that no exact comparison depends on the kernel.
#
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are left as the environment sets them: some OpenBLAS builds
# compute wrong results or crash on some processors, and the rules of the machines CI runs on say
# not to change them in tests or CI.
set -euo pipefail

python=$1
shift

features=$("$python" - <<'EOF'
try:
    from numpy._core import _multiarray_umath as umath  # numpy 2
except ImportError:
    from numpy.core import _multiarray_umath as umath  # numpy 1
print(" ".join(f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)))
EOF
)
export NPY_DISABLE_CPU_FEATURES="$features" ATEN_CPU_CAPABILITY=default
# torch's LSTM and matrix products go through oneDNN (and MKL where it has them): their oldest
# x86 kernels too (an LSTM's output moves in the last bits with ONEDNN_MAX_CPU_ISA here).
export ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2
echo "test-kernels: NPY_DISABLE_CPU_FEATURES=\"$NPY_DISABLE_CPU_FEATURES\" ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA MKL_ENABLE_INSTRUCTIONS=$MKL_ENABLE_INSTRUCTIONS"

# What the tests will run with, from numpy and torch themselves; stop if either ignored the setting.
"$python" - <<'EOF'
import numpy
import torch

try:
    from numpy._core import _multiarray_umath as umath
except ImportError:
    from numpy.core import _multiarray_umath as umath

found = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
capability = torch.backends.cpu.get_cpu_capability()
print(f"test-kernels: numpy {numpy.__version__} SIMD baseline {umath.__cpu_baseline__}, "
      f"dispatched features still on: {found or 'none'}")
print(f"test-kernels: torch {torch.__version__} CPU capability {capability}")
if found or capability != "DEFAULT":
    raise SystemExit("test-kernels: the kernels were not switched; the run would prove nothing")
EOF

"$python" -m pytest "$@"
