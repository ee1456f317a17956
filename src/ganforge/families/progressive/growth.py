"""The progressive-growing schedule (ProGAN and StyleGAN): level of detail and fade-in weight as pure
functions of the number of images shown, as the official ``training_schedule`` computes them.

Training starts at ``initial_resolution``. Each *phase* lasts ``training + transition`` images: first
``training`` images at the current resolution, then ``transition`` images during which the next
level fades in linearly. After the last level has faded in, training stays at full resolution.

In official terms the schedule is one fractional number, ``lod_frac = L0 - phase - max(t - T, 0) / F``
clamped at 0 (L0 = log2(resolution / initial_resolution), t the images into the current phase, T and
F the two durations). Here it is split into the integer level of detail of the newest level in use,
``lod = floor(lod_frac)``, and that level's fade-in weight ``alpha = 1 - (lod_frac - lod)``; at the
very first image of a transition (``lod_frac`` still an integer) the old level is the newest one with
alpha 1, which is the same network output as the new level with weight 0.

``stage`` numbers the pieces of the schedule: 0 while training at the initial resolution, 1 during
the first fade, 2 at the next plateau, ..., 2 * L0 once fully grown. It changes exactly when the
floor or the ceiling of ``lod_frac`` changes, which is when the official loop resets the Adam
moments (``reset_opt_for_new_lod``): at the start and at the end of every fade.

Durations are counted in whole images (kimg * 1000, rounded), so boundaries are exact integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GrowthSchedule:
    """Args: resolution: the final (dataset) resolution; initial_resolution: where training starts;
    training_kimg / transition_kimg: durations of a plateau and of a fade, in thousands of images."""

    resolution: int
    initial_resolution: int = 4
    training_kimg: float = 600.0
    transition_kimg: float = 600.0

    def __post_init__(self) -> None:
        for name in ("resolution", "initial_resolution"):
            r = getattr(self, name)
            if r < 4 or r & (r - 1):
                raise ValueError(f"{name} must be a power of two >= 4, got {r}")
        if self.initial_resolution > self.resolution:
            raise ValueError(f"initial_resolution {self.initial_resolution} exceeds the resolution {self.resolution}")
        if self.training_nimg < 0 or self.transition_nimg < 0 or self.training_nimg + self.transition_nimg == 0:
            raise ValueError("training_kimg and transition_kimg must be >= 0 and not both 0")

    @property
    def training_nimg(self) -> int:
        return int(round(self.training_kimg * 1000))

    @property
    def transition_nimg(self) -> int:
        return int(round(self.transition_kimg * 1000))

    @property
    def initial_lod(self) -> int:
        """L0: levels to grow (0 when training starts at full resolution)."""
        return int(math.log2(self.resolution // self.initial_resolution))

    @property
    def grown_nimg(self) -> int:
        """Images after which training is at full resolution with alpha 1."""
        return self.initial_lod * (self.training_nimg + self.transition_nimg)

    def _phase(self, nimg: int) -> tuple[int, int]:
        """(phase index, images into the phase)."""
        if nimg < 0:
            raise ValueError(f"nimg must be >= 0, got {nimg}")
        dur = self.training_nimg + self.transition_nimg
        return nimg // dur, nimg % dur

    def lod_alpha(self, nimg: int) -> tuple[int, float]:
        """(lod, alpha) before a step that starts after ``nimg`` images."""
        phase, into = self._phase(nimg)
        lod = self.initial_lod - phase
        if lod <= 0:
            return 0, 1.0
        fading = into - self.training_nimg
        if fading <= 0 or self.transition_nimg == 0:
            return lod, 1.0
        return lod - 1, fading / self.transition_nimg

    def lod(self, nimg: int) -> int:
        return self.lod_alpha(nimg)[0]

    def alpha(self, nimg: int) -> float:
        return self.lod_alpha(nimg)[1]

    def lod_frac(self, nimg: int) -> float:
        """The official fractional level of detail, lod + 1 - alpha."""
        lod, alpha = self.lod_alpha(nimg)
        return lod + (1.0 - alpha) if alpha < 1 else float(lod)

    def stage(self, nimg: int) -> int:
        lod, alpha = self.lod_alpha(nimg)
        return 2 * (self.initial_lod - lod) - (1 if alpha < 1 else 0)

    def current_resolution(self, nimg: int) -> int:
        """Resolution of the newest level in use."""
        return self.resolution >> self.lod(nimg)
