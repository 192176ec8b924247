"""``load_pack`` on real files: round trips, and clear errors for wrong, broken or unsafe files."""

from __future__ import annotations

import json

import pytest
import torch

from generators.microgen3d import PACKS, PackConfig, build_fp, build_modules, build_vae, load_pack
from generators.microgen3d.formula import formula_state_dict
from generators.microgen3d.weights import load_into
from tests.microgen3d_tiny import tiny_pack

from tests.reference_data import MICROGEN3D as FIXTURES

TINY = tiny_pack(T=20)


class _Marker:
    """A pickle payload that creates a file when unpickled (a stand-in for arbitrary code)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture()
def tiny_files(tmp_path):
    torch.manual_seed(0)
    vae, fp, den = build_modules(TINY)
    paths = {}
    for role, mod in (("vae", vae), ("fp", fp), ("ddpm", den)):
        paths[role] = tmp_path / f"{role}.pt"
        torch.save(mod.state_dict(), paths[role])
    return paths, (vae, fp, den)


def test_round_trip_from_files(tiny_files):
    paths, mods = tiny_files
    gen = load_pack(TINY, vae=str(paths["vae"]), fp=paths["fp"], ddpm=paths["ddpm"])
    for loaded, orig in zip((gen.vae, gen.fp, gen.denoiser), mods):
        a, b = loaded.state_dict(), orig.state_dict()
        assert list(a) == list(b)
        for k in a:
            assert a[k].dtype == torch.float32 and a[k].device.type == "cpu"
            assert torch.equal(a[k], b[k]), k
    assert gen.condition_names == ("a", "b") and gen.fp_names == ("a", "b", "c")
    assert gen.pack is TINY and not gen.denoiser.training and not gen.fp.training


def test_loads_in_float64(tiny_files):
    paths, _ = tiny_files
    gen = load_pack(TINY, vae=paths["vae"], fp=paths["fp"], ddpm=paths["ddpm"], dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in gen.denoiser.parameters())
    assert gen.denoiser.alpha_t.dtype == torch.float64


def test_swapped_file_names_file_and_keys(tiny_files):
    paths, _ = tiny_files
    with pytest.raises(ValueError) as info:
        load_pack(TINY, vae=paths["fp"], fp=paths["fp"], ddpm=paths["ddpm"])
    msg = str(info.value)
    assert str(paths["fp"]) in msg
    assert "missing keys: encoder.conv_layers.0.weight" in msg
    assert "unexpected keys: fc1.weight" in msg
    assert "fp.pt" in msg


def test_inserted_and_removed_keys_are_named(tiny_files, tmp_path):
    paths, (vae, fp, den) = tiny_files
    sd = den.state_dict()
    sd["nn_model.extra.weight"] = torch.zeros(3)
    del sd["sqrtab"]
    bad = tmp_path / "ddpm_bad.pt"
    torch.save(sd, bad)
    with pytest.raises(ValueError) as info:
        load_pack(TINY, vae=paths["vae"], fp=paths["fp"], ddpm=bad)
    msg = str(info.value)
    assert str(bad) in msg and "missing keys: sqrtab" in msg and "unexpected keys: nn_model.extra.weight" in msg


def test_shape_mismatch_names_first_key(tiny_files, tmp_path):
    paths, (vae, fp, den) = tiny_files
    other = PackConfig(**{**TINY.__dict__, "condition_names": ("a", "b", "c")})
    _, _, den3 = build_modules(other)
    bad = tmp_path / "ddpm_3ctx.pt"
    torch.save(den3.state_dict(), bad)
    with pytest.raises(ValueError, match=r"ddpm_3ctx\.pt.*shape mismatch at 'nn_model\.contextembed1\.model\.0\.weight'"):
        load_pack(TINY, vae=paths["vae"], fp=paths["fp"], ddpm=bad)


def test_other_packs_fp_file_is_refused(tmp_path):
    with open(FIXTURES / "keys_ch_2phase.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    path = tmp_path / "ch2_fp.pt"
    torch.save(formula_state_dict(spec, "fp", dtype=torch.float32), path)
    with pytest.raises(ValueError, match=r"ch2_fp\.pt.*shape mismatch at 'fc1\.weight': expected \(256, 512\), got \(512, 1024\)"):
        load_into(build_fp(PACKS["experimental"], "meta"), path, "fp")
    # ... while the right pack takes it.
    fp = load_into(build_fp(PACKS["ch_2phase"], "meta"), path, "fp")
    assert fp.fc3.out_features == 7


def test_other_packs_vae_state_dict_is_refused():
    # Shapes only: the ch_2phase layout on the meta device, given to the experimental pack.
    sd = build_vae(PACKS["ch_2phase"], "meta").state_dict()
    with pytest.raises(ValueError, match=r"vae state dict \(in memory\).*'encoder\.conv_layers\.12\.weight'.*\(1, 512, 1, 1, 1\).*\(4, 512, 1, 1, 1\)"):
        load_pack("experimental", vae=sd, fp={}, ddpm={})


def test_truncated_file(tiny_files, tmp_path):
    paths, _ = tiny_files
    data = paths["vae"].read_bytes()
    cut = tmp_path / "vae_cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"vae_cut\.pt.*cannot be read"):
        load_pack(TINY, vae=cut, fp=paths["fp"], ddpm=paths["ddpm"])


def test_random_bytes_file(tiny_files, tmp_path):
    paths, _ = tiny_files
    junk = tmp_path / "junk.pt"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"junk\.pt"):
        load_pack(TINY, vae=paths["vae"], fp=junk, ddpm=paths["ddpm"])


def test_malicious_pickle_is_refused_and_not_run(tiny_files, tmp_path):
    paths, (_, fp, _) = tiny_files
    marker = tmp_path / "pwned"
    sd = fp.state_dict()
    sd["fc1.weight"] = _Marker(str(marker))  # type: ignore[assignment]
    evil = tmp_path / "evil_fp.pt"
    torch.save(sd, evil)
    with pytest.raises(ValueError, match=r"evil_fp\.pt.*refused by safe loading \(weights_only=True\)"):
        load_pack(TINY, vae=paths["vae"], fp=evil, ddpm=paths["ddpm"])
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, pattern",
    [
        ([1, 2, 3], "expected a state dict"),
        (torch.zeros(3), "expected a state dict"),
        ({"fc1.weight": 1.0}, "not: 'fc1.weight'"),
        ({"state_dict": {"fc1.weight": torch.zeros(1)}, "epoch": 3}, "training checkpoint"),
    ],
)
def test_not_a_plain_state_dict(tiny_files, tmp_path, payload, pattern):
    paths, _ = tiny_files
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=pattern) as info:
        load_pack(TINY, vae=paths["vae"], fp=path, ddpm=paths["ddpm"])
    assert str(path) in str(info.value)


def test_missing_file_and_bad_arguments(tiny_files, tmp_path):
    paths, _ = tiny_files
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_pack(TINY, vae=tmp_path / "nope.pt", fp=paths["fp"], ddpm=paths["ddpm"])
    with pytest.raises(ValueError, match="is a directory"):
        load_pack(TINY, vae=tmp_path, fp=paths["fp"], ddpm=paths["ddpm"])
    with pytest.raises(ValueError, match="unknown MicroGen3D pack 'ch_4phase'"):
        load_pack("ch_4phase", vae=paths["vae"], fp=paths["fp"], ddpm=paths["ddpm"])
    with pytest.raises(ValueError, match="dtype"):
        load_pack(TINY, vae=paths["vae"], fp=paths["fp"], ddpm=paths["ddpm"], dtype=torch.int32)
