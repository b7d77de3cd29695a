"""The README's numbers come from the code: Table 3 is regenerated; its commands and options exist."""

import shlex
from pathlib import Path

from golfdeblur.cli import build_parser
from golfdeblur.models import GolfConfig
from golfdeblur.paper.tables import model_size_rows, size_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_table3_in_readme_matches_the_code():
    text = README.read_text()
    begin = text.index("\n", text.index("<!-- table3:begin")) + 1
    end = text.index("<!-- table3:end -->")
    assert text[begin:end] == size_markdown(model_size_rows(), GolfConfig())


def test_readme_gives_the_two_commands_and_real_subcommands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    examples = [line for line in text.splitlines() if line.startswith("golfdeblur ")]
    assert len(examples) >= 10
    for line in examples:
        argv = shlex.split(line, comments=True)[1:]
        assert argv[0] in subcommands, line
        build_parser().parse_args(argv)  # every option the README shows exists (argparse exits on one that does not)


def python_blocks() -> list[str]:
    text = README.read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_readme_python_examples_run_as_written(tmp_path: Path, monkeypatch):
    """The two Python blocks, executed as they stand on a photo.png (and the exported golf.onnx they open)."""
    import numpy as np
    import PIL.Image
    import torch

    from golfdeblur.export import export_onnx
    from golfdeblur.infer import deblur_tensor, prepare_model

    blocks = python_blocks()
    assert len(blocks) == 2 and "from_pretrained" in blocks[0] and "onnxruntime" in blocks[1]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    PIL.Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save("photo.png")
    names: dict = {}
    exec(blocks[0], names)  # noqa: S102 - the README's own example
    assert names["sharp"].shape == (40, 48, 3) and names["sharp"].dtype == np.uint8
    assert names["picture"].size == (48, 40) and len(names["iterates"]) == 6
    export_onnx("golf.onnx", weights="golf-synthetic-v1", check=False)
    names = {}
    exec(blocks[1], names)  # noqa: S102
    # the comment under it: equal to deblur_tensor on the prepared model, untiled, to float error
    expected = deblur_tensor(
        torch.from_numpy(names["blurry"]), prepare_model(weights="golf-synthetic-v1", device="cpu"), tile=0
    )
    assert np.abs(names["deblurred"] - expected.numpy()).max() < 1e-4
