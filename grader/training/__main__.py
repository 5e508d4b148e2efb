"""The training data's command line: `python -m grader.training fetch|render|bundle|unbundle|words`.

fetch: the sources into the cache (grader.training.data); render: the generated training and
validation sets (grader.training.dataset); bundle/unbundle: the sources for a machine without
internet; words: the runtime's word lists. Training itself is `python -m grader.training.train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.charset import default_charset
from grader.paths import MODELS_DIR
from grader.training.data import SourcesMissing, bundle, fetch, require_sources, unbundle, write_word_lists
from grader.training.dataset import render_dataset_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.training")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download training sources into the cache")
    render = sub.add_parser("render", help="render the training set into memory-mapped arrays")
    render.add_argument("--scale", type=float, default=1.0)
    render.add_argument("--workers", type=int, default=2)
    render.add_argument("--seed", type=int, default=1, help="training-sample seed (not 2: validation)")
    render.add_argument("--train-only", action="store_true", help="keep the validation set already rendered")
    pack = sub.add_parser("bundle", help="pack the fetched sources (fonts subset to the charset) into a "
                                         "tar.xz for a machine without internet")
    pack.add_argument("out", type=Path)
    unpack = sub.add_parser("unbundle", help="unpack such a tar.xz into the cache")
    unpack.add_argument("archive", type=Path)
    word_lists = sub.add_parser("words", help="write the runtime's word lists (grader.words) from the fetched "
                                              "sources into a models folder")
    word_lists.add_argument("--out", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except SourcesMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.cmd == "fetch":
        fetch()
        require_sources()  # what fetch cannot bring (Debian packages), named before a render needs it
    elif args.cmd == "bundle":
        require_sources()  # a bundle without them would carry the gap to the machine it is for
        out = bundle(args.out, "".join(default_charset()))
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
    elif args.cmd == "unbundle":
        print(f"sources unpacked into {unbundle(args.archive)}")
    elif args.cmd == "words":
        for name, count in write_word_lists(args.out).items():
            print(f"{args.out / name}: {count} words")
    else:
        require_sources()
        render_dataset_cli(scale=args.scale, workers=args.workers, seed=args.seed, train_only=args.train_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
