"""``sidecar prune``: prune a file (or stdin) for a goal and print the result.

    sidecar prune [--goal TEXT | --goal-file F] [--keep-ratio R]
                  [--source-type code|logs|docs|json|search|diff|listing] [--backend heuristic|deepinfra]
                  [--json] [--annotate-lines] [--config FILE] [FILE|-]

Prints the pruned text: kept lines verbatim, one marker line per pruned run, no line numbers
unless ``--annotate-lines``. ``--json`` prints the full ``prune_text`` result (prune_id,
pruned_text, annotations, warnings, stats). Bytes that are not UTF-8 pass through unchanged.
Exit codes: 0 done, 2 bad usage or configuration (one line on stderr).

Start-up is kept short (the quality benchmark runs it once per case): heavy modules are imported
inside ``run``, and nothing touches the network unless the DeepInfra backend is selected.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar.config import Config
    from sidecar.pruning.types import PruneOutcome

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # round-trips any byte, so kept lines stay byte-identical


def _ratio(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {raw!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar prune`` arguments to ``parser``."""
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--goal", default=None, help="what the reader needs from the text")
    goal.add_argument("--goal-file", default=None, metavar="F", help="read the goal from file F")
    parser.add_argument(
        "--keep-ratio",
        type=_ratio,
        default=None,
        metavar="R",
        help="target share of the text's tokens to keep, markers included (default: the pruner chooses)",
    )
    parser.add_argument(
        "--source-type", choices=("code", "logs", "docs", "json", "search", "diff", "listing"), default=None
    )
    parser.add_argument("--backend", choices=("heuristic", "deepinfra"), default=None)
    parser.add_argument("--json", action="store_true", help="print the full prune_text result as JSON")
    parser.add_argument("--annotate-lines", action="store_true", help="prefix kept lines with line numbers")
    parser.add_argument("--config", default=None, metavar="FILE", help="config file (default: config.toml)")
    parser.add_argument(
        "file", nargs="?", default="-", metavar="FILE|-", help="text to prune (default: stdin)"
    )


def _read(path: str) -> str:
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    return data.decode(_ENCODING, _ERRORS)


def run(args: argparse.Namespace) -> int:
    """Prune and print; return the exit code."""
    import asyncio
    import logging

    import msgspec

    from sidecar.config import load_config
    from sidecar.errors import ConfigError

    logging.basicConfig(level=logging.WARNING, format="sidecar: %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.config)
        goal = args.goal or ""
        if args.goal_file is not None:
            goal = _read(args.goal_file).strip()
        text = _read(args.file)
    except ConfigError as exc:
        print(f"sidecar prune: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sidecar prune: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.backend is not None:
        config = msgspec.structs.replace(
            config, pruning=msgspec.structs.replace(config.pruning, backend=args.backend)
        )
    outcome_json, pruned_text = asyncio.run(_prune(config, text, goal, args))
    out = sys.stdout.buffer
    if args.json:
        out.write(outcome_json + b"\n")
    else:
        out.write(pruned_text.encode(_ENCODING, _ERRORS))
        if pruned_text and not pruned_text.endswith("\n"):
            out.write(b"\n")
    out.flush()
    return 0


async def _prune(config: Config, text: str, goal: str, args: argparse.Namespace) -> tuple[bytes, str]:
    import msgspec

    from sidecar.pruning.manager import PruningBackendManager
    from sidecar.pruning.service import Pruner

    # One prune and nothing else on the loop: a worker thread would only add its hand-over and back
    # (about a millisecond in a fresh process: the thread's start, the loop's wake-up).
    pruner = Pruner(config, manager=PruningBackendManager(config, thread_min_chars=None))
    options = pruner.default_options()
    if args.keep_ratio is not None:
        options = msgspec.structs.replace(options, keep_ratio=args.keep_ratio)
    if args.annotate_lines:
        options = msgspec.structs.replace(options, annotate_lines=True)
    await pruner.start()
    try:
        outcome = await pruner.prune(text, goal, source_type=args.source_type, options=options)
    finally:
        await pruner.aclose()
    # surrogateescape'd bytes cannot go into JSON as UTF-8; they become U+FFFD there.
    encoded = msgspec.json.encode(_json_safe(outcome))
    return msgspec.json.format(encoded, indent=2), outcome.pruned_text


def _json_safe(outcome: PruneOutcome) -> PruneOutcome:
    import msgspec

    def clean(s: str) -> str:
        return s.encode(_ENCODING, _ERRORS).decode(_ENCODING, "replace")

    return msgspec.structs.replace(
        outcome,
        pruned_text=clean(outcome.pruned_text),
        annotations=[msgspec.structs.replace(a, marker=clean(a.marker)) for a in outcome.annotations],
    )


if __name__ == "__main__":  # pragma: no cover - for `python -m sidecar.pruning.cli` before cli.py wires it
    _parser = argparse.ArgumentParser(prog="sidecar prune")
    configure(_parser)
    sys.exit(run(_parser.parse_args()))
