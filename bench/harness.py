"""What the benchmark scripts share: free ports, waiting for a listener, processes that always stop,
and a process's CPU time (steadier than throughput on a shared machine)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


class Procs(ExitStack):
    """Start processes and always stop them (terminate, then kill after 10 s)."""

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

        def stop() -> None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            out.close()

        self.callback(stop)
        return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def load_eval() -> ModuleType:
    """Import the shared scorer ../shared/bench/prune_eval.py by path (the repo sits beside shared/)."""
    for base in (REPO.parent / "shared" / "bench", Path("/work/shared/bench")):
        path = base / "prune_eval.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location("prune_eval", path)
            assert spec and spec.loader
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise SystemExit("prune_eval.py not found beside the repo (../shared/bench)")
