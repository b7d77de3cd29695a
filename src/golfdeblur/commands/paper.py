"""`golfdeblur paper`: rerun the paper's analyses (toy prior, Tables 3 and 4, convergence, learned gradient,
catastrophic forgetting)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from golfdeblur.atomic import atomic_write_text
from golfdeblur.errors import GolfdeblurError, shell_word
from golfdeblur.report_folder import building_report, claim_report_folder
from golfdeblur.user_path import path_argument

if TYPE_CHECKING:
    import torch

    from golfdeblur.data.validation import ValidationSet
    from golfdeblur.models.golf import GolfOptimizer

DEVICE_HELP = "auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps (default cpu)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _sizes(text: str) -> list[tuple[int, int]]:
    """'256x256,1280x720' (W x H) -> [(256, 256), (720, 1280)] as (height, width)."""
    sizes = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.lower().split("x"))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"image sizes are WIDTHxHEIGHT, got {item!r}") from exc
        if width < 1 or height < 1:
            raise argparse.ArgumentTypeError(f"image sizes must be positive, got {item!r}")
        sizes.append((height, width))
    return sizes


def _out(parser: argparse.ArgumentParser, files: str) -> None:
    parser.add_argument(
        "-o",
        "--out",
        type=path_argument,
        default=Path("docs/paper"),
        help=f"folder for {files} (default docs/paper, under the current folder)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "paper", help="rerun the paper's analyses (toy prior, tables, convergence, gradient, forgetting)"
    )
    commands = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    toy = commands.add_parser("toy", help="the appendix's two-pixel prior experiment (about 10 s on a 2-core CPU)")
    _out(toy, "toy.md and the PNG figures")
    toy.add_argument(
        "--iterations", type=_positive_int, default=4000, help="Adam steps per network (default 4000, the paper's)"
    )
    toy.add_argument(
        "--train-samples", type=_positive_int, default=16000, help="training pairs (default 16000, the paper's)"
    )
    toy.add_argument("--test-samples", type=_positive_int, default=1000, help="test pairs (default 1000, the paper's)")
    toy.add_argument(
        "--restarts",
        type=_positive_int,
        default=5,
        help="seeded restarts per network, the lowest training loss kept (default 5)",
    )
    toy.add_argument(
        "--low",
        type=_finite,
        default=0.0,
        help="sampling region [low, high]^2 (default 0); the sweep regions share low, so every --sweep-highs value "
        "(default 0.5,2,4) must exceed it",
    )
    toy.add_argument("--high", type=_finite, default=1.0, help="see --low (default 1)")
    toy.add_argument(
        "--step-size", type=_finite, default=1.0, help="eta of the discriminative update y - eta grad P(y) (default 1)"
    )
    toy.add_argument(
        "--sweep-highs",
        type=_floats,
        default=(0.5, 2.0, 4.0),
        help="highs of extra regions [low, high]^2 for the sensitivity table (default 0.5,2,4; empty: none)",
    )
    toy.add_argument(
        "--sweep-steps",
        type=_floats,
        default=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        help="values of eta at which the discriminative update is also measured "
        "(default 0.0001,0.0003,0.001,0.003,0.01,0.03,0.1,0.3,1)",
    )
    toy.add_argument("--grid", type=int, default=81, help="grid points per side for plots and integration (default 81)")
    toy.add_argument("--seed", type=int, default=0, help="seed of sampling, initialisation and batches (default 0)")
    toy.set_defaults(run=run_toy)

    tables = commands.add_parser("tables", help="Table 3 (model size) and Table 4 (runtime) on every device here")
    _out(tables, "tables.md")
    tables.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes("256x256,1280x720"),
        help="WxH list for Table 4 (default 256x256,1280x720)",
    )
    tables.add_argument("--warmup", type=int, default=1, help="untimed calls per size on the CPU (default 1)")
    tables.add_argument("--repeats", type=_positive_int, default=3, help="timed calls per size on the CPU (default 3)")
    tables.add_argument("--gpu-warmup", type=int, default=10, help="untimed calls per size on a GPU (default 10)")
    tables.add_argument(
        "--gpu-repeats", type=_positive_int, default=100, help="timed calls per size on a GPU (default 100)"
    )
    tables.add_argument("--g-width", type=_positive_int, default=32, help="width of G (default 32, the paper's)")
    tables.add_argument("--d-width", type=_positive_int, default=16, help="width of D (default 16, the paper's)")
    tables.add_argument("--iterations", type=int, default=3, help="T, the number of D steps (default 3)")
    tables.add_argument("--cpu-only", action="store_true", help="skip GPUs even when present")
    tables.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for torch (default: torch's)")
    tables.set_defaults(run=run_tables)

    convergence = commands.add_parser("convergence", help="PSNR/SSIM per D iteration t = 0..10 (needs trained weights)")
    convergence.add_argument("--weights", required=True, help="a .safetensors file with its model card, or a name")
    _out(convergence, "convergence.md/.png")
    convergence.add_argument(
        "--root",
        "--data-root",
        dest="data_root",
        type=path_argument,
        default=None,
        metavar="DIR",
        help="data folder holding eval/ (default: $GOLFDEBLUR_DATA or ../shared/data)",
    )
    convergence.add_argument(
        "--sets", default="validation,levin09", help="comma list of: validation, levin09 (default both)"
    )
    convergence.add_argument("--max-iterations", type=int, default=10, help="score t = 0..this (default 10)")
    convergence.add_argument("--limit", type=int, default=0, help="first N pairs of each set (default 0 = all)")
    convergence.add_argument(
        "--crop", type=int, default=None, help="centre crop of the validation pairs in px (default: none, whole)"
    )
    convergence.add_argument("--device", default="cpu", help=DEVICE_HELP)
    convergence.set_defaults(run=run_convergence)

    gradient = commands.add_parser(
        "gradient",
        help="the learned prior gradient R(x_t) = D(x_t) - x_t per iteration: its size, and its direction and "
        "length against the error x - x_t",
    )
    gradient.add_argument("--weights", required=True, help="a .safetensors file with its model card, or a name")
    _out(gradient, "prior_gradient.md/.png")
    gradient.add_argument(
        "--images",
        default="astronaut,chelsea,coffee",
        help="scikit-image photos, a comma list (default astronaut,chelsea,coffee)",
    )
    gradient.add_argument("--size", type=_positive_int, default=256, help="centre crop size in px (default 256)")
    gradient.add_argument(
        "--kernel-size", type=_positive_int, default=21, help="camera-shake kernel size, odd (default 21)"
    )
    gradient.add_argument("--iterations", type=_positive_int, default=6, help="number of D steps shown (default 6)")
    gradient.add_argument("--seed", type=int, default=0, help="seed of the blur (default 0)")
    gradient.add_argument("--device", default="cpu", help=DEVICE_HELP)
    gradient.set_defaults(run=run_gradient)

    forgetting = commands.add_parser(
        "forgetting",
        help="Golf vs one recurrent network, trained for the same number of optimiser steps (the recurrent arm "
        "computes more per step)",
    )
    _out(forgetting, "forgetting.md/.png")
    forgetting.add_argument("--steps", type=_positive_int, default=2000, help="optimiser steps per arm (default 2000)")
    forgetting.add_argument(
        "--g-fraction", type=_finite, default=0.5, help="share of the Golf steps spent on G (default 0.5)"
    )
    forgetting.add_argument("--batch-size", type=_positive_int, default=4, help="training batch size (default 4)")
    forgetting.add_argument(
        "--crop-size", type=_positive_int, default=128, help="training crop side in px (default 128)"
    )
    forgetting.add_argument("--g-width", type=_positive_int, default=32, help="width of Golf's G (default 32)")
    forgetting.add_argument("--d-width", type=_positive_int, default=16, help="width of Golf's D (default 16)")
    forgetting.add_argument(
        "--recurrent-width", type=_positive_int, default=32, help="width of the recurrent network (default 32)"
    )
    forgetting.add_argument(
        "--t-train", type=_positive_int, default=3, help="supervised iterates T, both arms (default 3)"
    )
    forgetting.add_argument(
        "--t-eval", type=_positive_int, default=8, help="evaluate t = 0..this, at least --t-train (default 8)"
    )
    forgetting.add_argument(
        "--eval-every", type=_positive_int, default=100, help="validate every N steps (default 100)"
    )
    forgetting.add_argument(
        "--validation-count",
        type=_positive_int,
        default=8,
        help="held-out pairs, dead leaves training never sees (default 8)",
    )
    forgetting.add_argument(
        "--validation-crop", type=_positive_int, default=None, help="their side in px (default: --crop-size)"
    )
    forgetting.add_argument(
        "--save-weights",
        type=path_argument,
        default=None,
        help="folder for golf/recurrent.safetensors (default: not saved)",
    )
    forgetting.add_argument(
        "--lr", type=_positive_float, default=1e-4, help="Adam's first learning rate (default 1e-4)"
    )
    forgetting.add_argument(
        "--lr-end",
        type=_positive_float,
        default=1e-5,
        help="the last learning rate, reached by exponential decay over each network's steps (default 1e-5)",
    )
    forgetting.add_argument(
        "--sharp-dir",
        type=path_argument,
        default=None,
        help="sharp images to train on (default: the embedded scikit-image photos and dead leaves)",
    )
    forgetting.add_argument(
        "--relu-before-add",
        action="store_true",
        help="every BasicBlock's last ReLU before the shortcut's addition, as the paper's text (default: after it, "
        "torchvision's order, as the shipped weights)",
    )
    forgetting.add_argument("--seed", type=int, default=0, help="seed of initialisation and data (default 0)")
    forgetting.add_argument("--device", default="cpu", help=DEVICE_HELP)
    forgetting.set_defaults(run=run_forgetting)
    for analysis in (toy, tables, convergence, gradient, forgetting):
        analysis.add_argument("--overwrite", action="store_true", help="replace this analysis' files already in --out")


# The files each analysis writes into --out: claimed before the work (report_folder.claim_report_folder), so an
# earlier result, e.g. the committed docs/paper, is never replaced unless --overwrite says so; then written into a
# hidden folder there and moved in whole (report_folder.building_report), the Markdown page last, so that a write
# failing part-way (a full disk) leaves neither part of a report nor a folder made for it.
TOY_FILES = ("toy_fig10_discriminative_softmax.png", "toy_fig11_descent_comparison.png",
             "toy_fig12_discriminative_logit.png", "toy_fig13_learned_prior.png", "toy_fig14_analytic_prior.png",
             "toy_sweep.png", "toy_training.png", "toy.md")  # fmt: skip
CONVERGENCE_FILES = ("convergence.png", "convergence.md")
GRADIENT_FILES = ("prior_gradient.png", "prior_gradient.md")
FORGETTING_FILES = ("forgetting.png", "forgetting.md")
FORGETTING_WEIGHTS = ("golf.safetensors", "golf.json", "recurrent.safetensors")
# The settings toy.md's "Made by" line spells out.
TOY_SETTINGS = ["out", "iterations", "train_samples", "test_samples", "restarts", "low", "high", "step_size",
                "sweep_highs", "sweep_steps", "grid", "seed"]  # fmt: skip


def _command_line(args: argparse.Namespace, names: list[str]) -> str:
    """The full command, every setting spelled out, so the output says exactly how to remake it: numbers exactly
    (repr, not 6 significant digits), an empty list as ``--flag=`` and a value starting with "-" as ``--flag=-1e-05``
    (written apart, argparse would read either as a missing value), and anything a shell would split quoted
    (``shell_word``: a name with a newline or undecodable bytes as bash's ``$'...'``: one line, the same bytes)."""
    parts = ["golfdeblur", "paper", args.analysis]
    for name in names:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            parts += [flag] if value else []
            continue
        if isinstance(value, tuple):
            text = ",".join(repr(v) for v in value)
        elif name == "sizes":
            text = ",".join(f"{w}x{h}" for h, w in value)
        else:
            text = repr(value) if isinstance(value, float) else str(value)
        if not text or text.startswith("-"):
            parts.append(f"{flag}={shell_word(text) if text else ''}")
        else:
            parts += [flag, shell_word(text)]
    return " ".join(parts)


def run_toy(args: argparse.Namespace) -> int:
    from golfdeblur.paper.toy_prior import ToyConfig, plot_toy, run_toy, toy_markdown

    try:
        config = ToyConfig(
            train_samples=args.train_samples,
            test_samples=args.test_samples,
            iterations=args.iterations,
            low=args.low,
            high=args.high,
            step_size=args.step_size,
            restarts=args.restarts,
            sweep_highs=args.sweep_highs,
            sweep_steps=args.sweep_steps,
            grid=args.grid,
            seed=args.seed,
        )
    except ValueError as exc:
        raise GolfdeblurError(f"paper toy: {exc}") from exc
    if not args.sweep_steps:
        raise GolfdeblurError("paper toy: --sweep-steps needs at least one step size")
    args.out = claim_report_folder(args.out, TOY_FILES, args.overwrite)  # with "~" expanded
    report = run_toy(config)
    with building_report(args.out, TOY_FILES, overwrite=args.overwrite) as building:
        figures = plot_toy(report, building)
        atomic_write_text(building / "toy.md", toy_markdown(report, _command_line(args, TOY_SETTINGS)))
    main = report.main
    print(
        f"toy: accuracy {main.classifier_accuracy:.4f}, update MSE: no update {main.mse_no_update:.4g}, "
        f"discriminative logits {main.mse_discriminative_logit:.4g}, softmax {main.mse_discriminative_softmax:.4g}, "
        f"learned gradient {main.mse_learned_gradient:.4g} (paper: logits 0.4849)"
    )
    print(f"wrote {args.out / 'toy.md'} and {len(figures)} figures")
    return 0


def run_tables(args: argparse.Namespace) -> int:
    import torch

    from golfdeblur.models.golf import GolfConfig
    from golfdeblur.paper.tables import (
        available_devices,
        model_size_rows,
        runtime_conditions,
        runtime_markdown,
        runtime_rows,
        size_markdown,
    )

    if args.iterations < 0 or args.warmup < 0 or args.gpu_warmup < 0:
        raise GolfdeblurError("paper tables: --iterations and --warmup values must be >= 0")
    config = GolfConfig(g_width=args.g_width, d_width=args.d_width, iterations=args.iterations)
    args.out = claim_report_folder(args.out, ["tables.md"], args.overwrite)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.cpu_only else available_devices()
    sizes_text = size_markdown(model_size_rows(config), config)
    print(sizes_text)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = runtime_rows(
        args.sizes,
        config,
        devices,
        cpu_warmup=args.warmup,
        cpu_repeats=args.repeats,
        gpu_warmup=args.gpu_warmup,
        gpu_repeats=args.gpu_repeats,
    )
    runtime_text = runtime_markdown(rows)
    print(runtime_text)
    names = [
        "out", "sizes", "warmup", "repeats", "gpu_warmup", "gpu_repeats", "g_width", "d_width", "iterations",
        "cpu_only",
    ]  # fmt: skip
    names += ["threads"] if args.threads is not None else []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    page = (
        "# Tables 3 and 4 regenerated\n\n"
        f"Made by `{_command_line(args, names)}` with torch {torch.__version__}; 1-minute load average "
        f"{load_before:.1f} before and {load:.1f} after timing (a busy machine reads slower).\n\n"
        "## Table 3: model size\n\n" + sizes_text + "\n"
        f"## Table 4: runtime per image ({runtime_conditions(rows)})\n\n" + runtime_text
    )
    with building_report(args.out, ["tables.md"], overwrite=args.overwrite) as building:
        atomic_write_text(building / "tables.md", page)
    print(f"wrote {args.out / 'tables.md'}")
    return 0


def _load_model(weights: str, device: str) -> tuple[GolfOptimizer, torch.device]:
    """The model on ``device`` and the torch.device: the name is checked first (a one-line DeviceError), the weights
    are loaded on the CPU and then moved, as `golfdeblur eval` does."""
    from golfdeblur.device import resolve_device
    from golfdeblur.models.weights_io import load_golf

    torch_device = resolve_device(device)
    return load_golf(weights, map_location="cpu").to(torch_device), torch_device


def run_convergence(args: argparse.Namespace) -> int:
    from golfdeblur.data.validation import Levin09, levin09, validation_set
    from golfdeblur.paper.convergence import convergence_curve, convergence_markdown, plot_convergence
    from golfdeblur.train.config import SSIM_WINDOW

    if args.max_iterations < 0 or args.limit < 0:
        raise GolfdeblurError("paper convergence: --max-iterations and --limit must be >= 0")
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in ("validation", "levin09")]
    if unknown or not names:
        raise GolfdeblurError(f"paper convergence: --sets takes validation and/or levin09, got {args.sets!r}")
    if args.crop is not None and args.crop < SSIM_WINDOW:
        raise GolfdeblurError(
            f"paper convergence: --crop must be at least {SSIM_WINDOW} (SSIM's window), got {args.crop}"
        )
    args.out = claim_report_folder(args.out, CONVERGENCE_FILES, args.overwrite)
    model, device = _load_model(args.weights, args.device)
    curves, notes = [], []
    for name in names:
        data: ValidationSet | Levin09
        if name == "validation":
            data = validation_set(args.data_root, crop_size=args.crop)
            if data.is_fallback:
                notes.append("validation: CBSD68/Kodak24 not found, dead-leaves fallback used (not comparable)")
            label = "validation (dead leaves fallback)" if data.is_fallback else _validation_label(data, args.limit)
        else:
            data, label = levin09(args.data_root), "Levin09"
        curve = convergence_curve(model, data, args.max_iterations, label, device, args.limit)
        curves.append(curve)
        print(f"{label}: PSNR per t {', '.join(f'{v:.2f}' for v in curve.psnr)}")
    names_used = ["out", "weights", "sets", "max_iterations", "limit", "crop", "device", "data_root"]
    command = _command_line(args, [n for n in names_used if getattr(args, n) is not None])
    page = (
        f"# Convergence over D iterations\n\nMade by `{command}`.\n\n"
        + "".join(f"Note: {note}\n\n" for note in notes)
        + convergence_markdown(curves)
        + "\n![convergence](convergence.png)\n"
    )
    with building_report(args.out, CONVERGENCE_FILES, overwrite=args.overwrite) as building:
        plot_convergence(curves, building / "convergence.png")
        atomic_write_text(building / "convergence.md", page)
    print(f"wrote {args.out / 'convergence.md'} and convergence.png")
    return 0


def _validation_label(data: ValidationSet, limit: int) -> str:
    """The set's label, naming only the folders whose images are scored, e.g. "validation (CBSD68 + Kodak24)" or
    "validation (Kodak24)": validation_set takes whichever of eval/cbsd68 and eval/kodak24 it finds, and --limit
    scores only the first pairs."""
    names = {"cbsd68": "CBSD68", "kodak24": "Kodak24"}
    used = {name.split("/")[0] for name in data.names[: limit or None]}
    return f"validation ({' + '.join(names.get(folder, folder) for folder in sorted(used))})"


def run_gradient(args: argparse.Namespace) -> int:
    from golfdeblur.paper.prior_gradient import (
        ALIGNMENT_DEFINITIONS,
        bundled_blurry_images,
        plot_residuals,
        residual_markdown,
        residual_trace,
    )

    if args.kernel_size % 2 == 0:
        raise GolfdeblurError(f"paper gradient: --kernel-size must be odd, got {args.kernel_size}")
    names = tuple(name.strip() for name in args.images.split(",") if name.strip())
    if not names:
        raise GolfdeblurError(f"paper gradient: --images names no image, got {args.images!r}")
    args.out = claim_report_folder(args.out, GRADIENT_FILES, args.overwrite)
    model, device = _load_model(args.weights, args.device)
    images = bundled_blurry_images(names, args.size, args.kernel_size, args.seed)
    traces = [residual_trace(model, blurry, args.iterations, name, sharp) for name, blurry, sharp in images]
    table = residual_markdown(traces)
    print(table)
    names_used = ["out", "weights", "images", "size", "kernel_size", "iterations", "seed", "device"]
    page = (
        f"# The learned prior gradient R(x_t) = D(x_t) - x_t\n\nMade by `{_command_line(args, names_used)}` "
        f"(trained T = {model.config.iterations}). Each image is a centre crop of up to {args.size} px of a "
        f"scikit-image photo, blurred by a {args.kernel_size} px camera-shake kernel drawn from (seed, name), rounded "
        "to 8 bits, with no noise; x_0 = G(y) and x_(t+1) = x_t + R(x_t).\n\n"
        + ALIGNMENT_DEFINITIONS
        + "\n\n"
        + table
        + "\n![R(x_t) per iteration](prior_gradient.png)\n"
    )
    with building_report(args.out, GRADIENT_FILES, overwrite=args.overwrite) as building:
        plot_residuals(traces, building / "prior_gradient.png")
        atomic_write_text(building / "prior_gradient.md", page)
    print(f"wrote {args.out / 'prior_gradient.md'} and prior_gradient.png")
    return 0


def run_forgetting(args: argparse.Namespace) -> int:
    from golfdeblur.device import resolve_device
    from golfdeblur.paper.forgetting import ForgettingConfig, forgetting_markdown, plot_forgetting, run_forgetting

    try:
        config = ForgettingConfig(
            g_width=args.g_width,
            d_width=args.d_width,
            recurrent_width=args.recurrent_width,
            t_train=args.t_train,
            t_eval=args.t_eval,
            steps=args.steps,
            g_fraction=args.g_fraction,
            batch_size=args.batch_size,
            crop_size=args.crop_size,
            learning_rate=args.lr,
            learning_rate_end=args.lr_end,
            eval_every=args.eval_every,
            validation_count=args.validation_count,
            validation_crop=args.validation_crop,
            seed=args.seed,
            relu_before_add=args.relu_before_add,
        )
    except ValueError as exc:
        raise GolfdeblurError(f"paper forgetting: {exc}") from exc
    device = resolve_device(args.device)
    args.out = claim_report_folder(args.out, FORGETTING_FILES, args.overwrite)
    if args.save_weights is not None:
        args.save_weights = claim_report_folder(
            args.save_weights, FORGETTING_WEIGHTS, args.overwrite, option="--save-weights"
        )
    names = [
        "out", "steps", "g_fraction", "batch_size", "crop_size", "g_width", "d_width", "recurrent_width", "t_train",
        "t_eval", "eval_every", "validation_count", "validation_crop", "lr", "lr_end", "seed", "device",
        "relu_before_add",
    ]  # fmt: skip
    names += ["save_weights"] if args.save_weights is not None else []
    names += ["sharp_dir"] if args.sharp_dir is not None else []
    # The weights too are moved in whole, once the report is: never one arm beside an earlier run's other, nor
    # weights whose report failed to be written.
    with contextlib.ExitStack() as saving:
        weights_dir = None
        if args.save_weights is not None:
            weights_dir = saving.enter_context(
                building_report(args.save_weights, FORGETTING_WEIGHTS, overwrite=args.overwrite)
            )
        result = run_forgetting(config, device=device, sharp_dir=args.sharp_dir, weights_dir=weights_dir)
        page = forgetting_markdown(result, _command_line(args, names)) + "\n![forgetting](forgetting.png)\n"
        with building_report(args.out, FORGETTING_FILES, overwrite=args.overwrite) as building:
            plot_forgetting(result, building / "forgetting.png")
            atomic_write_text(building / "forgetting.md", page)
    print(page)
    return 0
