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
