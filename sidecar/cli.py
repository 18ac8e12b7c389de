"""The ``sidecar`` command line. Subcommands import their module lazily so start-up stays fast."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Protocol

from sidecar import __version__
from sidecar.errors import ConfigError
from sidecar.logsafe import install_log_filters


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# subcommand -> (module implementing configure/run, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("sidecar.cli", "run the proxy"),
    "prune": ("sidecar.pruning.cli", "prune a file or stdin against a goal and print the result"),
    "mcp": ("sidecar.mcpserver.stdio", "run the MCP pruner server on stdio"),
    "demo": ("sidecar.testing.demo", "run an agent conversation through the sidecar and a fake upstream"),
    "fake-upstream": ("sidecar.testing.commands", "run the fake LLM provider (test double)"),
    "fake-deepinfra": ("sidecar.testing.fake_deepinfra", "run the fake DeepInfra reranker (test double)"),
}
PLAN_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("sidecar.plan.cli", "run a plan.json through the sidecar, independent steps in parallel"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sidecar serve`` options."""
    parser.add_argument("--host", help="address to bind (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default from config: 8787)")
    parser.add_argument("--upstream", help="upstream base URL (overrides SIDECAR_UPSTREAM_URL and config)")
    parser.add_argument("--config", help="config.toml path (default: $SIDECAR_CONFIG, then ./config.toml)")


def run(args: argparse.Namespace) -> int:
    """Run ``sidecar serve``."""
    import msgspec

    from sidecar.config import Config, load_config, shown_value
    from sidecar.jsontypes import error_path
    from sidecar.server import serve

    config: Config = load_config(args.config)
    server = config.server
    if args.host is not None or args.port is not None:
        server = msgspec.structs.replace(
            server,
            host=args.host if args.host is not None else server.host,
            port=args.port if args.port is not None else server.port,
        )
    upstream = config.upstream
    if args.upstream:
        check = {"upstream": {"url": args.upstream}}
        try:
            msgspec.convert(check, Config)
        except msgspec.ValidationError as exc:
            raise ConfigError(
                f"--upstream: {error_path(exc).reason} (got {shown_value(args.upstream)!r})"
            ) from exc
        upstream = msgspec.structs.replace(upstream, url=args.upstream)
    config = msgspec.structs.replace(config, server=server, upstream=upstream)
    try:
        run_loop(serve(config))
    except KeyboardInterrupt:
        pass
    return 0


def run_loop(main: Coroutine[object, object, None]) -> None:
    """Run ``main`` on uvloop when it is installed (about a third more proxy throughput), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def _load(module: str) -> _Command:
    if module == "sidecar.cli":
        return sys.modules[__name__]
    loaded: _Command = importlib.import_module(module)
    return loaded


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """Build the argument parser and the table of subcommand runners."""
    parser = argparse.ArgumentParser(
        prog="sidecar", description="A reverse proxy for coding agents that prunes bulky tool output."
    )
    parser.add_argument("--version", action="version", version=f"sidecar {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("SIDECAR_LOG_LEVEL", "WARNING"),
        help="DEBUG, INFO, WARNING, ERROR",
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    argv = sys.argv[1:]
    for name, (module, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (keeps `sidecar prune` start-up fast).
        if name in argv or "-h" in argv or "--help" in argv:
            command = _load(module)
            command.configure(sub)
            runners[name] = command.run
    plan = subs.add_parser("plan", help="run plans of code-generation steps", description="plan runner")
    plan_subs = plan.add_subparsers(dest="plan_command", metavar="PLAN_COMMAND")
    for name, (module, help_text) in PLAN_COMMANDS.items():
        sub = plan_subs.add_parser(name, help=help_text, description=help_text)
        if "plan" in argv:
            command = _load(module)
            command.configure(sub)
            runners[f"plan {name}"] = command.run
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sidecar`` console script."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser, runners = build_parser()
    args = parser.parse_args()
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_filters()
    key = args.command
    if key == "plan":
        if not args.plan_command:
            try:
                parser.parse_args(["plan", "--help"])  # prints the plan commands
            except SystemExit:
                pass
            return 2  # a missing subcommand is a usage error, like a bare `sidecar`
        key = f"plan {args.plan_command}"
    if key is None:
        parser.print_help()
        return 2
    try:
        return runners[key](args)
    except ConfigError as exc:
        print(f"sidecar: config error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``sidecar prune big.log | head``): stop quietly, as a Unix filter
        # killed by SIGPIPE would, and keep Python's flush at exit from raising a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
