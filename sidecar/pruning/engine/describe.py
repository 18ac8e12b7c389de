"""``kubectl describe``: an object's fields, conditions and events, a few of which say what is wrong.

    is_describe(lines) -> bool          the text is ``kubectl describe`` output (one object or several)
    trouble_lines(lines) -> (lines, keys above)  the lines saying something is wrong; the keys over them

``kubectl describe pod`` prints ``Name:``, aligned ``Key:  value`` fields (each container's nested under
``Containers:``), a ``Conditions:`` table and an ``Events:`` table. A goal says "the pod is stuck", not
"ImagePullBackOff": read as code, the answer (``State: Waiting``, ``Reason: ImagePullBackOff``, the
``Warning  Failed`` event) matched no goal word and was cut. A line is trouble when

- a state field (``Status``, ``State``, ``Last State``, ``Reason``, ``Ready``, ``Exit Code``, ``Restart
  Count``, ...) holds something other than a healthy value (``Running``, ``True``, ``0``, ...);
- a condition row says ``False`` or ``Unknown`` (``True`` for a node's ``MemoryPressure``, ``DiskPressure``,
  ``NetworkUnavailable``);
- an event row's type is ``Warning``.

The fields above a troubled one (its container, ``Containers:``) say where it is: they come with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["is_describe", "trouble_lines"]

_NAME = re.compile(r"Name:\s+\S")
_TABLE = re.compile(r"(?:Events|Conditions):")
# A state field and its value ("    Last State:     Terminated"), by its key's words.
_FIELD = re.compile(
    r"\s*(Status|State|Last State|Reason|Ready|Phase|Exit Code|Restart Count|Message|Health|Signal):"
    r"\s+(\S.*?)\s*$"
)
_HEALTHY = frozenset(
    "running true ready succeeded completed normal active bound available healthy 0 <none> scheduled".split()
)
# A condition row ("  ContainersReady   False", a node's "  MemoryPressure   False   <time> ..."): a
# pressure or unavailability is wrong when True, any other condition when not True.
_CONDITION = re.compile(r"\s+(\w+)\s+(True|False|Unknown)\b")
_WARNING_EVENT = re.compile(r"\s+Warning\s+\w")  # "  Warning  Failed  10m (x4 over 12m)  kubelet  ..."
PARENT_REACH = 40  # lines searched above a troubled field for the keys it sits under


def is_describe(lines: Sequence[str]) -> bool:
    """Tell whether ``lines`` read as ``kubectl describe``: ``Name:`` first, a conditions or events table."""
    first = next((line for line in lines[:5] if line.strip()), "")
    return _NAME.match(first) is not None and any(_TABLE.match(line) for line in lines)


def trouble_lines(lines: Sequence[str]) -> tuple[list[int], list[int]]:
    """Return the lines saying something is wrong, and the keys they sit under (see the module doc)."""
    out: list[int] = []
    events = False
    for i, line in enumerate(lines):
        if not line[:1].isspace():
            events = line.startswith("Events:")
        m = _FIELD.match(line)
        if m is not None:
            if m.group(2).split()[0].lower() not in _HEALTHY:
                out.append(i)
        elif c := _CONDITION.match(line):
            if (c.group(2) == "True") == c.group(1).endswith(("Pressure", "Unavailable")):
                out.append(i)
        elif events and _WARNING_EVENT.match(line):
            out.append(i)
    above: list[int] = []
    for i in out:
        depth = _indent(lines[i])
        for k in range(i - 1, max(-1, i - PARENT_REACH), -1):
            line = lines[k]
            if line.strip() and _indent(line) < depth and line.rstrip().endswith(":"):
                above.append(k)
                depth = _indent(line)
                if not depth:
                    break
    return out, sorted(set(above) - set(out))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
