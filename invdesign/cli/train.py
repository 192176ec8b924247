"""`invdesign train vae|fp|denoiser|all`: train a compact latent diffusion model on HDF5 shards."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from invdesign.cli.errors import user_errors


class Stage(str, Enum):
    vae = "vae"
    fp = "fp"
    denoiser = "denoiser"
    all = "all"


def register(app: typer.Typer) -> None:
    """Add ``train`` to the app."""

    @app.command()
    def train(
        stage: Stage = typer.Argument(..., help="Which network to train: vae, fp, denoiser, or all in order."),
        data: Path = typer.Option(..., "--data", help="Directory of HDF5 shards (or one shard)."),
        out: Path = typer.Option(..., "--out", help="Output directory (checkpoints, then the model directory)."),
        config: Path | None = typer.Option(None, "--config", help="JSON training config (merged over --preset)."),
        preset: str | None = typer.Option(None, "--preset", help="tiny, ch2-default or ch3-default."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        steps: int | None = typer.Option(None, "--steps", help="Optimiser steps per stage (overrides the config)."),
        epochs: float | None = typer.Option(None, "--epochs", help="Passes over the training set per stage (instead of --steps)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoints in --out."),
        limit: int | None = typer.Option(None, "--limit", help="Read at most this many samples."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    ) -> None:
        """Train the VAE (crops), the feature predictor (frozen latents) and the conditional denoiser;
        after the denoiser, OUT is a model directory for `generators.load`. Prints a JSON summary."""
        from generators.diffusion.data import load_shards
        from generators.diffusion.presets import load_train_config
        from generators.diffusion.training import train as run

        with user_errors():
            if steps is not None and epochs is not None:
                raise ValueError("give --steps or --epochs, not both")
            if config is None and preset is None:
                raise ValueError("give --preset NAME (tiny, ch2-default, ch3-default) or --config FILE")
            if device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    raise ValueError("--device cuda but no CUDA device is available")
            cfg = load_train_config(config, preset)
            volumes = load_shards(data, limit=limit)
            stage_names = ("vae", "fp", "denoiser") if stage.value == "all" else (stage.value,)
            if epochs is not None:
                if epochs <= 0:
                    raise ValueError(f"--epochs must be positive, got {epochs}")
                n_train = len(volumes) - max(1, round(cfg["val_fraction"] * len(volumes)))
                for s in stage_names:
                    b = cfg[f"{s}_train"]["batch"]
                    cfg[f"{s}_train"]["steps"] = max(1, int(round(epochs * n_train / b)))
            result = run(stage.value, volumes, cfg, out, device=device, steps=steps, resume=resume,
                         progress=not quiet)
        summary = {k: ({"steps": v["steps"], "last": v["history"][-1] if v["history"] else None}
                       if isinstance(v, dict) else v) for k, v in result.items()}
        typer.echo(json.dumps(summary, indent=2))
