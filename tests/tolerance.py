"""How close a figure computed now must come to one recorded on another machine.

Floating point gives the same bits only for the same computation on one machine: the same
processor, library versions and thread count. Another processor makes numpy dispatch other SIMD
loops (AVX-512, AVX2 or its baseline, whose exp and log round differently in the last bit),
OpenBLAS, MKL and oneDNN other kernels, and scikit-learn or pandas may sum in another order: a
figure recorded there differs here in its last bits (a forecast of 14474.556449973034 recorded
as ...032, 1.4e-16 apart). Tests that compare with recorded figures do it within these
tolerances. Bit-for-bit checks stay where the bits are the same by construction: an artifact
written and read back in one process, one computation repeated in one process, prices of two
decimals.

``make test-kernels`` runs the model tests again under numpy's baseline loops and torch's default
kernels, to show on the machine at hand that the recorded figures hold under other kernels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# float64 figures that pass through numpy's SIMD loops, BLAS or a library's summation. Another
# processor moves them by about 1e-16 relative per operation (4e-15 measured on the classifier's
# probabilities, fitted and predicted on two processors); a change to a method moves them by far
# more than 1e-9 (the smallest change these tests must see, a gap span of 1,000 in place of 500,
# moves a forecast by 9e-5).
RTOL = 1e-9

# Figures that pass through torch's float32 network (the LSTM's correction z * vol): float32 keeps
# 7 digits, and its kernels sum in another order on another processor. The correction is at most a
# few tenths of a percent of the forecast, so even a 1e-5 relative error in it moves a forecast by
# less than 1e-7 relative (running the same network in float64 moves them by 8e-11).
RTOL_FLOAT32 = 1e-7


def assert_close(actual: ArrayLike, expected: ArrayLike, rtol: float = RTOL) -> None:
    """``actual`` equals ``expected`` within ``rtol``, relative to each expected value (no absolute
    floor: the figures compared are prices, probabilities and AUCs, none of them near zero)."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0.0)
