"""A fast fake generator and a stand-in descriptor function for the design-loop tests.

The fake maps conditions (target donor fraction ``ABS_f_D``, "straightness" ``CT_f_D_tort1``) to
thresholded seeded Gaussian noise on 32x32x8 voxels, with a systematic bias: the volumes' donor
fraction is ``0.75 * ABS_f_D + 0.05`` and the straightness enters squared, so conditioning directly
on the target misses it and a search over conditions is needed.
"""

from __future__ import annotations

import torch

from generators.protocol import Samples


class BiasedFakeGenerator:
    """Meets :class:`generators.protocol.Generator`; biased on purpose (see module docstring)."""

    condition_names = ("ABS_f_D", "CT_f_D_tort1")
    phases = 2
    shape = (32, 32, 8)
    name = "fake-biased"

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.bounds = torch.tensor([[0.1, 0.0], [0.9, 1.0]])
        self.calls = 0

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        self.calls += 1
        c = torch.as_tensor(conditions, dtype=torch.float32, device=self.device)
        m = c.shape[0]
        g = torch.Generator(device="cpu").manual_seed(0 if seed is None else int(seed))
        X, Y, Z = self.shape
        f = (0.75 * c[:, 0] + 0.05).clamp(0.02, 0.98).view(m, 1, 1, 1, 1)
        a = (c[:, 1] ** 2).clamp(0, 1).view(m, 1, 1, 1, 1)
        col = torch.randn(m, n, X, Y, 1, generator=g).to(self.device)
        vox = torch.randn(m, n, X, Y, Z, generator=g).to(self.device)
        field = a.sqrt() * col + (1 - a).sqrt() * vox
        thr = torch.special.ndtri(f)
        vols = torch.where(field < thr, 0, 1).to(torch.uint8).reshape(m * n, X, Y, Z)
        cond = c.repeat_interleave(n, dim=0)
        predicted = {
            "phi": cond[:, 0] * 0.9,
            "chi": 1.0 + cond[:, 1],
            "log_time": 2.0 + cond[:, 1],
        }
        return Samples(volumes=vols, conditions=cond, latents=None, predicted=predicted)


def fake_describe_batch(volumes: torch.Tensor, periodic: bool = False) -> dict[str, torch.Tensor]:
    """Stand-in for ``objectives.describe_batch``: donor fraction and a column fraction.

    ``CT_f_D_tort1`` here is the fraction of donor voxels whose whole (x, y) column is donor
    (a crude straight-path fraction, enough for the tests).
    """
    fake_describe_batch.devices.append(volumes.device.type)
    donor = volumes == 0
    f = donor.float().mean(dim=(1, 2, 3))
    full = donor.all(dim=-1, keepdim=True)
    cf = (donor & full).sum(dim=(1, 2, 3)).float() / donor.sum(dim=(1, 2, 3)).clamp(min=1)
    return {"ABS_f_D": f, "ABS_f_A": 1 - f, "CT_f_D_tort1": cf}


class FakeSimulator:
    """A fake Cahn-Hilliard generator over (phi, chi, time) consistent with the fake's recipe.

    :class:`BiasedFakeGenerator` predicts ``phi = 0.9 f``, ``chi = 1 + s``, ``log_time = 2 + s``;
    this simulator inverts that and generates what the fake would at ``(f, s)``.
    """

    condition_names = ("phi", "chi", "time")
    phases = 2
    shape = (32, 32, 8)

    def __init__(self, device: str = "cpu", shape=(32, 32, 8), phases: int = 2) -> None:
        assert tuple(shape) == self.shape and phases == 2, (shape, phases)
        self.bounds = torch.tensor([[0.0, 0.5, 1.0], [1.0, 3.0, 1e4]])
        self.last_conditions = None
        self._fake = BiasedFakeGenerator(device)

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        c = torch.as_tensor(conditions, dtype=torch.float32)
        self.last_conditions = c.clone()
        fs = torch.stack([c[:, 0] / 0.9, c[:, 1] - 1.0], dim=1)
        out = self._fake.sample(fs, n, seed)
        return Samples(volumes=out.volumes, conditions=c.repeat_interleave(n, 0))


fake_describe_batch.devices = []


class SpreadFakeGenerator(BiasedFakeGenerator):
    """The biased fake with a per-sample spread and a latent the design loop can screen.

    A latent row is ``(condition (2), offset (2), noise seed)``: the volume decoded from it has
    donor fraction ``0.75 * ABS_f_D + 0.05 + offset_0`` and straightness ``(CT_f_D_tort1 +
    offset_1)^2`` (offsets ``N(0, spread^2)``), so one condition gives volumes that differ by more
    than a tolerance. ``predict`` (the "feature predictor") knows the donor fraction exactly and the
    straightness only on its own scale (``CT_f_D_tort1 + offset_1``); :class:`BiasedFakeGenerator`'s
    recipe otherwise.
    """

    name = "fake-spread"
    predicted_names = ("ABS_f_D", "CT_f_D_tort1", "phi", "chi", "log_time")

    def __init__(self, device: str = "cpu", spread: float = 0.06) -> None:
        super().__init__(device)
        self.spread = spread
        self.decoded = 0

    def sample_latents(self, conditions, n: int = 1, seed: int | None = None):
        c = torch.as_tensor(conditions, dtype=torch.float64).cpu()
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        rows = c.repeat_interleave(n, dim=0)
        offset = torch.randn(rows.shape[0], 2, generator=g, dtype=torch.float64) * self.spread
        seeds = torch.randint(0, 2**31 - 1, (rows.shape[0], 1), generator=g).double()
        return torch.cat([rows, offset, seeds], dim=1), rows

    def predict(self, latents):
        lat = torch.as_tensor(latents, dtype=torch.float64)
        f = (0.75 * lat[:, 0] + 0.05 + lat[:, 2]).clamp(0.02, 0.98)
        return {"ABS_f_D": f, "CT_f_D_tort1": lat[:, 1] + lat[:, 3], "phi": lat[:, 0] * 0.9,
                "chi": 1.0 + lat[:, 1], "log_time": 2.0 + lat[:, 1]}

    def decode(self, latents):
        lat = torch.as_tensor(latents, dtype=torch.float64)
        self.decoded += lat.shape[0]
        X, Y, Z = self.shape
        out = []
        for row in lat:
            g = torch.Generator().manual_seed(int(row[4]))
            f = float((0.75 * row[0] + 0.05 + row[2]).clamp(0.02, 0.98))
            a = float((row[1] + row[3]).clamp(0, 1) ** 2)
            col = torch.randn(X, Y, 1, generator=g)
            vox = torch.randn(X, Y, Z, generator=g)
            field = a ** 0.5 * col + (1 - a) ** 0.5 * vox
            out.append(torch.where(field < torch.special.ndtri(torch.tensor(f)), 0, 1).to(torch.uint8))
        return torch.stack(out).to(self.device)

    def sample(self, conditions, n: int = 1, seed: int | None = None) -> Samples:
        self.calls += 1
        lat, rows = self.sample_latents(conditions, n, seed)
        return Samples(volumes=self.decode(lat), conditions=rows.float(), latents=lat,
                       predicted=self.predict(lat))
