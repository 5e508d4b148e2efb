"""Command line: `python -m grader <command> ...`.

Each subcommand lives in grader/commands/<name>.py with two functions:
`add_arguments(parser)` and `run(args) -> int` (the exit status). They are imported
lazily so `--help` stays fast and one command's heavy imports do not slow another.
GraderError raised by a command becomes a one-line message on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from grader.errors import GraderError

# name -> (module, one-line help). Order is the order `--help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "worksheet": ("grader.commands.worksheet", "render a printable worksheet (PDF, PNG pages)"),
    "crop": ("grader.commands.crop", "register photos and write the per-question crops"),
    "recognize": ("grader.commands.recognize", "read handwriting in crop images"),
    "grade": ("grader.commands.grade", "grade photos against an answer key and store results"),
    "regrade": ("grader.commands.regrade", "rescore stored answers after a key edit"),
    "review": ("grader.commands.review", "list the answers to review (student, question, reading)"),
    "override": ("grader.commands.override", "record a teacher's verdict on one answer"),
    "adapt": ("grader.commands.adapt", "fine-tune the recogniser on this gradebook's labelled crops"),
    "export": ("grader.commands.export", "write an assignment's or the term's gradebook (CSV, "
               "Canvas, Google Classroom, XLSX)"),
    "feedback": ("grader.commands.feedback", "write the students' marked sheets as PDF"),
    "backup": ("grader.commands.backup", "copy an SQLite gradebook safely (online backup)"),
    "serve-api": ("grader.commands.serve_api", "serve the REST API"),
    "demo": ("grader.commands.demo", "fill an empty gradebook with the demo the app opens on"),
}


def _available_commands() -> dict[str, tuple[str, str]]:
    """Commands whose module exists in this checkout."""
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Offline handwriting-aware homework grader.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in _available_commands().items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except GraderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
