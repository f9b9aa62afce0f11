"""Command line: ``python -m radgazegen {run,check,status,book,ledger,course,screenshots,bench} ...``.

Examples::

    python -m radgazegen run --profile smoke
    python -m radgazegen run --profile teach --only 01 -p n_example_images=6
    python -m radgazegen run --profile full -p reflacx_root=/data/reflacx
    python -m radgazegen check --profile full
    python -m radgazegen book --profile smoke
    python -m radgazegen book --published
    python -m radgazegen ledger --profile lesson --run runs/lesson
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import radgazegen  # noqa: F401  (torchvision shim before anything imports torchvision)
from radgazegen.study.runner import RunnerError, Study


def preflight(study: Study, args) -> bool:
    """Print (and keep in ``<run_dir>/preflight.txt``) the profile's external resources; True
    when something stops the run (``radgazegen.study.preflight.blocking``)."""
    from radgazegen.study import preflight as pf
    from radgazegen.core.io import write_text

    steps = study.resolve(args.profile, args.param)
    rows = pf.check(Study.needed(steps, getattr(args, "only", [])), study.run_dir(args.profile))  # what the run may execute
    text = pf.report(args.profile, rows)
    stops = pf.blocking(rows, args.allow_stand_ins)
    print(text, file=sys.stderr if stops else sys.stdout)
    if stops and args.profile == "full":
        print(f"error: {len(stops)} resource(s) above stop the full run before any chapter: provide them, or run "
              "with --allow-stand-ins to use the study's stand-ins (labelled in the book)", file=sys.stderr)
    elif args.command == "run":
        write_text(study.run_dir(args.profile) / "preflight.txt", text + "\n")
    return bool(stops)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m radgazegen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a profile's notebooks with papermill (stale ones only)")
    run.add_argument("--profile", required=True, help="smoke | lesson | teach | full")
    run.add_argument("--only", nargs="+", default=[], metavar="NOTEBOOK",
                     help="run only these notebooks (name or prefix, e.g. 01) and their stale upstream")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (YAML value); NOTEBOOK.KEY=VALUE for one notebook")
    run.add_argument("--force", action="store_true", help="re-run even up-to-date notebooks")
    run.add_argument("--runs", default=None, metavar="DIR", help="folder of the run directories (default: runs/)")
    run.add_argument("--wait", action="store_true",
                     help="if another runner holds this profile's run directory, wait for it (default: refuse)")
    run.add_argument("--allow-stand-ins", action="store_true",
                     help="full: run even where a paper component is absent, with the study's stand-in (labelled in the book)")
    ck = sub.add_parser("check", help="preflight: every external resource a profile needs, found or missing")
    ck.add_argument("--profile", required=True)
    ck.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    ck.add_argument("--allow-stand-ins", action="store_true")
    st = sub.add_parser("status", help="which notebooks of a profile are current, or stale and why")
    st.add_argument("--profile", required=True)
    st.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    bk = sub.add_parser("book", help="build the Jupyter Book from a profile's executed notebooks")
    which = bk.add_mutually_exclusive_group(required=True)
    which.add_argument("--profile", help="one profile's chapters (its run here, else book/<profile>/)")
    which.add_argument("--published", action="store_true",
                       help="the published edition: per chapter the richest complete run committed in book/<profile>/ "
                            "(full, teach, lesson, smoke), then incomplete ones, else the smoke run here")
    bk.add_argument("--source", default=None, help="folder of executed notebooks (default: the run, else book/<profile>)")
    lg = sub.add_parser("ledger", help="write an imported run's claims ledger, book/<profile>/claims.json (make *-import)")
    lg.add_argument("--profile", required=True)
    lg.add_argument("--run", default=None, help="the run directory whose results/ to check (default: runs/<profile>, "
                                                "none with --notebook)")
    lg.add_argument("--notebook", default=None,
                    help="an executed chapter 14 whose glued ledger to keep where the run's results/ did not travel")
    lg.add_argument("--out", default=None, help="default: book/<profile>/claims.json")
    co = sub.add_parser("course", help="write the student edition (exercises stubbed, checks kept) and its zip")
    co.add_argument("--out", default=None, help="folder of the student notebooks (default: _build/course)")
    co.add_argument("--profile", default="smoke", help="the run the student notebooks read (default: smoke)")
    sh = sub.add_parser("screenshots", help="every page of the built book through headless Chromium, into _build/screenshots")
    sh.add_argument("--out", default="_build/screenshots")
    bn = sub.add_parser("bench", help="print benchmark figures (CPU: cohort, controls, Rad-CN training, smoke job; --gpu: SD v1.5 size)")
    bn.add_argument("--images", type=int, default=200)
    bn.add_argument("--skip-main-job", action="store_true")
    bn.add_argument("--gpu", action="store_true", help="only the GPU benchmarks at Stable Diffusion v1.5 size")
    args = ap.parse_args(argv)
    processes = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if args.command == "run" and processes > 1:
        # under `accelerate launch` every process would be a runner: the run lock refuses all but one,
        # whose kernel then waits for the others at accelerate's rendezvous; say so instead of hanging
        print(f"error: the runner is one process per run directory, not {processes} (WORLD_SIZE={processes}: started by "
              "accelerate launch or torchrun?); run it without a launcher (README: 'Training on one or several GPUs')",
              file=sys.stderr)
        return 2
    try:
        if args.command in ("run", "check"):
            study = Study(runs=Path(args.runs)) if getattr(args, "runs", None) else Study()
            checked = args.command == "check" or args.profile == "full"  # run: full's first step
            if checked and preflight(study, args) and args.profile == "full":
                return 2  # something stops a full run (check on another profile only lists)
        if args.command == "run":
            study.run(args.profile, args.only, args.param, force=args.force, wait=args.wait)
        elif args.command == "status":
            for name, state in Study().status(args.profile, args.param):
                print(f"{name:32s} {state}")
        elif args.command == "book":
            from radgazegen.study.publish import build_book

            print(f"book: {build_book(None if args.published else args.profile, source=args.source)}")
        elif args.command == "ledger":
            from radgazegen.metrics.ledger import BOOK, LEDGER_FILE, import_ledger

            run_dir = Path(args.run) if args.run else None if args.notebook else Study().run_dir(args.profile)
            written = import_ledger(args.profile, Path(args.out) if args.out else BOOK / args.profile / LEDGER_FILE,
                                    run_dir, args.notebook)
            print(f"claims ledger: {written}" if written else
                  f"no claims ledger for {args.profile}: no results/ in the run ({run_dir or 'none given'}) and no "
                  f"executed chapter 14 ({args.notebook or 'none given'})")
        elif args.command == "course":
            from radgazegen.study.course import build_course

            print(f"course: {build_course(Path(args.out) if args.out else None, profile=args.profile)}")
        elif args.command == "screenshots":
            from radgazegen.study.screenshots import book_pages, shoot, wide_elements

            shots = shoot(book_pages(), Path(args.out))
            print(f"screenshots: {len(shots)} pages in {args.out}")
            for page, wide in wide_elements(book_pages()).items():  # what a reader scrolls sideways
                print(f"wider than the column in {page}: " + "; ".join(wide))
        elif args.command == "bench":
            from radgazegen.study.bench import gpu_main, main as bench

            gpu_main() if args.gpu else bench(args.images, run_main_job=not args.skip_main_job)
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a stack of tracebacks (the progress log names the chapter)
        log = Path(args.runs or "runs") / args.profile / "progress.log" if args.command == "run" else None
        where = f" ({log} names the chapter that stopped)" if log else ""
        print(f"interrupted{where}: what finished is kept; run the same command again to go on", file=sys.stderr)
        if log:  # what the stopped kernel's client still reports while Python exits goes to the run's log, not here
            sys.stderr.flush()
            log.parent.joinpath("logs").mkdir(parents=True, exist_ok=True)
            with open(log.parent / "logs" / "runner.log", "a", encoding="utf-8") as fh:
                os.dup2(fh.fileno(), 2)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
