"""The backend contract and the data that crosses it.

A backend decides which lines of a text to keep for a goal. It does not render markers,
cache, store originals or fall back: the manager (``sidecar.pruning.manager``) owns all of that.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

SourceType = Literal["code", "logs", "docs"]


class PruneOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How much to prune. ``keep_ratio`` wins over ``max_prune_ratio`` when set."""

    keep_ratio: float | None = None  # target share of tokens kept, measured on the output, markers included
    max_prune_ratio: float = 0.9  # at most this share of the lines is pruned
    min_keep_lines: int = 8  # never keep fewer lines than this (or the whole text, when shorter)
    timeout_ms: int = 1500  # a backend slower than this is abandoned (the manager falls back)
    annotate_lines: bool = False  # prefix kept lines with their original line numbers
    include_markers: bool = True  # replace each pruned run with one marker line


class PruneRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One pruning call, as a backend sees it."""

    text: str
    goal: str
    source_type: SourceType
    options: PruneOptions
    prune_id: str  # the id that markers will carry; backends need its length to budget markers


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """What a backend decided: one flag per line of ``text.split("\\n")``."""

    keep: list[bool]
    backend: str
    reranker_input_tokens: int = 0  # tokens sent to a paid reranker (cost is computed from this)
    warnings: list[str] = msgspec.field(default_factory=list)


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
