"""Command-line entry point: ``roomrec run``, ``roomrec generate`` and friends."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from roomrec import __version__

logger = logging.getLogger("roomrec")

DESCRIPTION = """\
roomrec recommends chat rooms to users from behavioural logs (room visits and dwell
time) with implicit-feedback ALS on Spark. The pipeline is a sequence of parameterized
notebooks run with papermill.

first steps:
  roomrec run --params params/default.yaml   run every notebook on the built-in data
  roomrec params                             list every parameter, its type and default
  roomrec generate --size tiny               write the built-in sample logs
"""


def _run(args: argparse.Namespace) -> int:
    from roomrec import params as P
    from roomrec import runner

    overrides = dict(P.parse_override(item) for item in args.set)
    try:
        plan = runner.plan_run(
            Path(args.params) if args.params else None,
            overrides,
            runs_dir=Path(args.runs_dir),
            run_id=args.run_id,
            notebooks_dir=Path(args.notebooks_dir) if args.notebooks_dir else None,
        )
    except (P.ParamsError, FileNotFoundError, FileExistsError) as error:
        logger.error("%s", error)
        return 2
    logger.info("run %s: %d notebooks, output in %s", plan.run_id, len(plan.notebooks),
                plan.run_dir)
    try:
        runner.execute(plan, kernel_name=args.kernel, progress_bar=not args.no_progress)
    except runner.NotebookError as error:
        logger.error("%s", error)
        logger.error("manifest: %s", plan.run_dir / "manifest.json")
        return 1
    logger.info("run %s succeeded; results in %s", plan.run_id, plan.run_dir)
    metrics = plan.artifacts_dir / "metrics.json"
    if metrics.is_file():
        logger.info("metrics: %s", metrics)
    return 0


def _params(args: argparse.Namespace) -> int:
    from roomrec import params as P
    from roomrec import runner

    notebooks_dir = Path(args.notebooks_dir) if args.notebooks_dir else None
    for notebook in runner.list_notebooks(notebooks_dir or runner.default_notebooks_dir()):
        sys.stdout.write(f"{notebook.stem}\n")
        for name, info in P.notebook_parameters(notebook).items():
            sys.stdout.write(f"  {name}: {info['type']} = {info['default']!r}")
            sys.stdout.write(f"  # {info['help']}\n" if info["help"] else "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomrec",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roomrec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the notebook sequence with papermill",
        description="Run notebooks/01_*.ipynb .. 05_*.ipynb in order. Executed notebooks, "
        "HTML copies, artifacts/ and manifest.json go to RUNS_DIR/RUN_ID/. Parameters "
        "are checked against the notebooks' parameters cells before anything runs.",
    )
    run.add_argument("--params", metavar="YAML",
                     help="params file, for example params/default.yaml; keys are "
                     "notebook parameter names (see 'roomrec params'); default: the "
                     "notebooks' own defaults, which use the tiny built-in data")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one parameter, value read as YAML (repeatable), "
                     "for example --set rank=16")
    run.add_argument("--run-id", default="",
                     help="name of the run folder (default: UTC time and params file name)")
    run.add_argument("--runs-dir", default="runs", help="folder for run folders (default: runs)")
    run.add_argument("--notebooks-dir", default="",
                     help="folder with the numbered notebooks (default: the installed ones)")
    run.add_argument("--kernel", default="python3",
                     help="Jupyter kernel name (default: python3)")
    run.add_argument("--no-progress", action="store_true",
                     help="hide papermill's per-cell progress bar")
    run.set_defaults(handler=_run)

    params = commands.add_parser("params", help="list the notebooks' parameters and defaults")
    params.add_argument("--notebooks-dir", default="")
    params.set_defaults(handler=_params)

    # Listed for --help only: main() hands these to their own modules' parsers.
    commands.add_parser("generate", help="write the built-in sample logs")
    commands.add_parser("export-zeppelin", help="turn the notebooks into Zeppelin notes")
    commands.add_parser("emr", help="print or run the AWS EMR cluster and step commands")
    return parser


DELEGATED = {"generate": "generate", "export-zeppelin": "zeppelin", "emr": "emr"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Delegated commands parse their own options; the top-level parser would reject
    # them, so they bypass it.
    if argv and argv[0] in DELEGATED:
        _configure_logging(verbose=False)
        import importlib

        return importlib.import_module(f"roomrec.{DELEGATED[argv[0]]}").main(argv[1:])
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    return args.handler(args)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("papermill").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
