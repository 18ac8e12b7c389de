"""``sidecar plan run``: the command line of the plan runner.

    argv ──▶ configure (argparse) ──▶ run: --mode checked against the config's [modes]
         ──▶ RunOptions ──▶ asyncio.run(run_plan) ──▶ one summary line on stdout, exit code

Exit codes: 0 when every step is done, 1 when a step failed (its dependents are skipped, the others
run), 2 for an invalid plan, an unknown ``--mode`` or a bad config, 130 on Ctrl-C (the steps in
flight are cancelled and a partial ``summary.json`` is written first). Progress goes to stderr: a
live view on a terminal, one plain line per event otherwise.

``--mode`` is case-insensitive (``FAST``, ``build``, ``Double_Check``) and may name any mode of the
config the user has, found the way ``sidecar serve`` finds it (``--config``, then
``$SIDECAR_CONFIG``, then ``./config.toml``), so a mode added under ``[modes]`` works. The config is
read only when ``--mode`` is given: without it the runner needs none.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sidecar.config import find_config_file, load_config, normalize_mode
from sidecar.plan.model import PlanError
from sidecar.plan.progress import LineProgress, Progress, TtyProgress
from sidecar.plan.results import SUMMARY_FILE
from sidecar.plan.runner import DEFAULT_BASE_URL, DEFAULT_MODEL, RunOptions, run_plan

DEFAULT_OUT = "plan-out"


def _header_arg(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME:VALUE")
    return name.strip(), content.strip()


def _int_at_least(lowest: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {lowest}, got {value!r}") from None
        if number < lowest:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {lowest}, got {value}")
        return number

    return parse


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value!r}") from None
    if not 0 < number < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return number


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar plan run`` arguments."""
    parser.add_argument("plan", help="plan.json path, or - to read stdin")
    parser.add_argument(
        "--mode",
        metavar="MODE",
        help="sent as X-Sidecar-Mode: FAST, BUILD, DOUBLE-CHECK or any mode of the config's [modes] "
        "(case-insensitive); without it the sidecar uses its upstream as is",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config.toml whose [modes] --mode may name (default: $SIDECAR_CONFIG, then ./config.toml)",
    )
    parser.add_argument(
        "--streaming", action="store_true", help="start steps while the plan is still being written"
    )
    parser.add_argument("--sequential", action="store_true", help="run one step at a time")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL", help="default: %(default)s")
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="outputs and summary.json (%(default)s); a re-run skips the steps done",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name in each request (%(default)s)")
    parser.add_argument(
        "--api-key", metavar="KEY", help="bearer token (default: $SIDECAR_API_KEY, then $OPENAI_API_KEY)"
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header_arg,
        metavar="NAME:VALUE",
        help="extra request header, repeatable (e.g. 'X-Sidecar-Strip: on')",
    )
    parser.add_argument(
        "--max-parallel", type=_int_at_least(1), default=16, metavar="N", help="steps in flight (%(default)s)"
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=600.0, metavar="S", help="per request (%(default)g s)"
    )
    parser.add_argument(
        "--retries",
        type=_int_at_least(0),
        default=1,
        metavar="N",
        help="on 429/502/503/504 and connection errors (%(default)s)",
    )
    parser.add_argument(
        "--no-output-constraint",
        dest="constrain_output",
        action="store_false",
        help="let steps answer with prose (no X-Sidecar-Output, no code/JSON-only line)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="with --streaming: give up on a plan that stops growing (%(default)g s)",
    )


def check_mode(value: str, config_path: str | None = None) -> str:
    """Return ``value`` normalized if the user's config knows that mode; ValueError naming the valid ones.

    ConfigError (from :func:`sidecar.config.load_config`) when the config itself is invalid.
    """
    modes = load_config(config_path).modes
    mode = normalize_mode(value)
    if mode in modes:
        return mode
    path = find_config_file(config_path, os.environ)
    origin = f"the modes of {path}" if path else "the default modes; add others under [modes] in config.toml"
    valid = ", ".join(sorted(modes))
    raise ValueError(f"unknown mode {value.strip()!r}; valid modes: {valid} ({origin})")


def options_from_args(args: argparse.Namespace, mode: str | None) -> RunOptions:
    """Build the run's options from the parsed arguments (the API key from the environment if not given)."""
    api_key = args.api_key or os.environ.get("SIDECAR_API_KEY") or os.environ.get("OPENAI_API_KEY")
    return RunOptions(
        out_dir=args.out,
        base_url=args.base_url,
        mode=mode,
        streaming=args.streaming,
        sequential=args.sequential,
        max_parallel=args.max_parallel,
        model=args.model,
        api_key=api_key,
        extra_headers=dict(args.header),
        timeout_s=args.timeout,
        retries=args.retries,
        constrain_output=args.constrain_output,
        idle_timeout_s=args.idle_timeout,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``sidecar plan run``: 0 all done, 1 a step failed, 2 invalid plan or mode, 130 interrupted."""
    mode: str | None = None
    if args.mode is not None:
        try:
            mode = check_mode(args.mode, args.config)
        except ValueError as exc:
            print(f"sidecar plan run: --mode: {exc}", file=sys.stderr)
            return 2
    options = options_from_args(args, mode)
    progress: Progress = TtyProgress(sys.stderr) if sys.stderr.isatty() else LineProgress(sys.stderr)
    summary_path = Path(args.out) / SUMMARY_FILE
    try:
        summary = asyncio.run(run_plan(args.plan, options, progress=progress))
    except PlanError as exc:
        print("plan: invalid plan:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"plan: cancelled; partial summary in {summary_path}", file=sys.stderr)
        return 130
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
    print(f"plan {summary.status} in {summary.duration_s or 0:.2f}s ({counts}); summary: {summary_path}")
    return 0 if summary.status == "succeeded" else 1
