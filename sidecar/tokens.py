"""The token estimator used for every figure the sidecar reports.

Providers' tokenizers differ, and the sidecar must not ship one per model. It estimates
``ceil(chars / 4)`` over the text's characters (newlines included): the usual rule of thumb for
English and code under BPE tokenizers (cl100k and o200k average 3.5-4.5 characters a token on
source code). Every figure uses this one function, so ratios and savings are consistent.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` (ceil of chars / 4)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
