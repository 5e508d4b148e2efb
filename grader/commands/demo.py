"""`python -m grader demo [--db URL]`: fill an empty gradebook with the demo (the app does this
on its first start): the demo assignments, a small class, a handful of generated photos graded."""

from __future__ import annotations

import argparse
import sys

from grader import db
from grader.demo import seed_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")


def run(args: argparse.Namespace) -> int:
    report = seed_demo(db.open_engine(args.db))
    print(report.summary(), file=sys.stderr)
    return 0
