"""`python -m grader adapt [--db URL] [--minutes N] [--min-crops N] [--json] [--rollback]`

Fine-tunes the gradebook's current recogniser on its labelled crops (answers the teacher marked
correct or typed, and very sure automatic verdicts) with generated replay, holds back a share of
the students to check the result, and adopts the new version only when it reads them at least as
well and keeps the shipped validation figures (grader.training.adapt). The versions live in the
gradebook's data folder, never over models/. `--rollback` returns to the previous version.
Exit status 0 when a version was adopted (or rolled back), 3 when the current model was kept."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from grader import db, model_versions
from grader.teacher_labels import label_counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--minutes", type=float, default=5.0, help="time budget (default 5)")
    parser.add_argument("--min-crops", type=int, default=50,
                        help="labelled crops needed to adapt (default 50)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop training after this many steps (default: the time budget)")
    parser.add_argument("--passes", type=float, default=None,
                        help="passes over the labelled crops at most (default 3; 0: until the time budget)")
    parser.add_argument("--seed", type=int, default=0, help="which students are held back")
    parser.add_argument("--rollback", action="store_true",
                        help="return to the previous model version instead")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    if args.rollback:
        with db.write_session(engine) as session:
            now = model_versions.rollback(session)
        print(json.dumps({"current": now}) if args.json else f"the gradebook now reads with {now}")
        return 0
    from grader.training.adapt import AdaptConfig, adapt  # torch: only when adapting

    cfg = AdaptConfig(minutes=args.minutes, min_crops=args.min_crops, seed=args.seed,
                      **({"max_steps": args.steps} if args.steps else {}),
                      **({"max_passes": args.passes} if args.passes is not None else {}))
    with db.read_session(engine) as session:
        counts = label_counts(session)
    if not args.json:
        print(f"labelled crops: {_counts(counts) or 'none yet'}", file=sys.stderr)
    bar = tqdm(total=100, unit="%", file=sys.stderr, disable=args.no_progress, desc="adapting")

    def progress(fraction: float, message: str) -> None:
        bar.n = round(100 * fraction)
        bar.set_postfix_str(message, refresh=True)

    try:
        report = adapt(engine, cfg, progress)
    finally:
        bar.close()
    print(json.dumps(report.as_json(), ensure_ascii=False, indent=2) if args.json else report.summary())
    return 0 if report.adopted else 3


def _counts(counts: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{kind} " + ", ".join(f"{n} {source}" for source, n in by.items() if n)
                     for kind, by in counts.items())
