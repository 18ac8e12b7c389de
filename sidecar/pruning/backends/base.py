"""The backend contract and the data that crosses it.

A backend decides which lines of a text to keep for a goal. It does not render markers,
cache, store originals or fall back: the manager (``sidecar.pruning.manager``) owns all of that.
"""

from __future__ import annotations

from typing import Protocol

from sidecar.pruning.types import PruneRequest, Selection


class Backend(Protocol):
    """A pruning backend.

    Contract:
    - ``prune`` returns a Selection whose ``keep`` has exactly one flag per line of
      ``request.text.split("\\n")``; it may keep everything, never invents lines.
    - It may raise ``sidecar.errors.BackendError`` (or be cancelled); any other exception
      is treated the same way by the manager. It must never log or raise with the text
      or the goal in the message: metadata only.
    - It must be safe to call concurrently.
    """

    name: str

    async def prune(self, request: PruneRequest) -> Selection: ...

    async def aclose(self) -> None: ...
