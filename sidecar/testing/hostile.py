"""A catalogue of hostile and odd inputs: what the reliability suite and ``bench/reliability.py`` send.

    chat_bodies()    deep, huge and odd JSON for the chat paths          [Case(name, body, prunable)]
    header_sets()    every request header and mode that changes the path  [(name, headers)]
    chat_paths()     the chat paths and a pass-through one                [(method, path)]
    raw_requests()   HTTP/1.1 oddities sent on a raw socket               [(name, bytes)]
    mcp_bodies()     JSON-RPC bodies for /sidecar/mcp and stdio           [(name, bytes)]

Every input carries the sentinels (``SENTINEL_KEY`` in credentials, ``SENTINEL_TEXT`` in prompt and
tool text): whatever the sidecar does with them, neither may appear in its log. What must hold for
each: no 5xx from the sidecar itself (an answer the upstream gave is relayed as it is), a body that is
not a prunable chat request forwarded byte-identical, the server still answering afterwards.
"""

from __future__ import annotations

import json

import msgspec

SENTINEL_KEY = "sk-SENTINEL-KEY-7c1e9a0b5d"
SENTINEL_TEXT = "SENTINEL-TEXT-4f2b8d"


class Case(msgspec.Struct, frozen=True):
    """One request body: its name, bytes, and whether the sidecar may rewrite it (a prunable chat)."""

    name: str
    body: bytes
    prunable: bool = False


def _chat(messages: list[object], **extra: object) -> bytes:
    return json.dumps({"model": "gpt-test", "messages": messages, **extra}).encode()


def _tool_output(lines: int, emoji: bool = False) -> str:
    mark = " 🚀✅😀" if emoji else ""
    rows = [f"2026-01-01 12:00:{i % 60:02d} INFO step {i} ok{mark} path=/api/items/{i}" for i in range(lines)]
    rows[lines // 2] = f"2026-01-01 12:00:00 ERROR {SENTINEL_TEXT} database timeout"
    return "\n".join(rows)


def _conversation(output: str, n: int = 1, arguments: str = '{"command":"make"}') -> list[object]:
    messages: list[object] = [{"role": "user", "content": f"why does it fail? {SENTINEL_TEXT}"}]
    for i in range(n):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": arguments}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": output})
    return messages


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    """A JSON value nested ``depth`` levels deep."""
    return open_ * depth + close * depth


def chat_bodies(*, huge: bool = True) -> list[Case]:
    """Deep, huge and odd bodies; ``huge=False`` leaves out the 10 and 30 MB ones."""
    deep = nested(1000)
    deep_obj = b'{"a":' * 1000 + b"1" + b"}" * 1000
    user = f"hello {SENTINEL_TEXT}"
    cases = [
        Case("deep array in an unknown field", b'{"model":"m","messages":[],"x":' + deep + b"}"),
        Case("deep object in an unknown field", b'{"model":"m","messages":[],"x":' + deep_obj + b"}"),
        Case(
            "deep array as tool content",
            b'{"model":"m","messages":[{"role":"tool","content":' + deep + b"}]}",
        ),
        Case("deep array as the model", b'{"model":' + deep + b',"messages":[]}'),
        Case(
            "deep JSON in tool arguments",
            _chat(_conversation(_tool_output(200), arguments=deep.decode())),
            prunable=True,  # the arguments are only a hint: the tool output is still pruned
        ),
        Case("100,000 levels deep", b'{"model":"m","messages":' + nested(100_000) + b"}"),
        Case("900 levels deep (under the limit)", b'{"model":"m","messages":[],"x":' + nested(900) + b"}"),
        Case(
            "invalid UTF-8 in a string",
            _chat([{"role": "user", "content": user}]).replace(b"hello", b"\xff\xfe"),
        ),
        Case(
            "lone surrogate escape", _chat([{"role": "user", "content": user}]).replace(b"hello", b"\\ud800")
        ),
        Case("NaN literal", b'{"model":"m","temperature":NaN,"messages":[]}'),
        Case("number past float range", b'{"model":"m","temperature":1e999,"messages":[]}'),
        Case("duplicate keys", b'{"model":"m","messages":[],"messages":{"role":"user"}}'),
        Case("byte order mark", b"\xef\xbb\xbf" + _chat([{"role": "user", "content": user}])),
        Case("top-level array", b"[" + _chat([]) + b"]"),
        Case("top-level string", b'"' + SENTINEL_TEXT.encode() + b'"'),
        Case("empty body", b""),
        Case("null", b"null"),
        Case("trailing garbage", _chat([{"role": "user", "content": user}]) + b"}}garbage"),
        Case("messages is an object", b'{"model":"m","messages":{"role":"user","content":"x"}}'),
        Case(
            "content is a number", _chat([{"role": "user", "content": 12}, {"role": "tool", "content": 3.5}])
        ),
        Case("NUL and control characters", _chat([{"role": "user", "content": "a\u0000b\u001b[31m" + user}])),
        Case("line separators", _chat([{"role": "user", "content": "a\u2028b\u2029" + user}])),
        Case("a 1 MB key", b'{"' + b"k" * 1_000_000 + b'":1,"model":"m","messages":[]}'),
        Case("100,000 empty messages", _chat([{}] * 100_000)),
        Case("tool output with emoji", _chat(_conversation(_tool_output(600, emoji=True))), prunable=True),
        Case("tool output, plain", _chat(_conversation(_tool_output(600))), prunable=True),
    ]
    if huge:
        cases += [
            Case("one 10 MB tool output", _chat(_conversation(_tool_output(160_000))), prunable=True),
            Case("one 30 MB user string", _chat([{"role": "user", "content": "x" * 30_000_000}])),
        ]
    return cases


def header_sets() -> list[tuple[str, dict[str, str]]]:
    """Request headers that send a chat request down each path of the sidecar."""
    auth = {"Authorization": f"Bearer {SENTINEL_KEY}", "Content-Type": "application/json"}
    return [
        ("plain", auth),
        ("x-api-key", {"x-api-key": SENTINEL_KEY, "Content-Type": "application/json"}),
        ("strip", {**auth, "X-Sidecar-Strip": "on"}),
        ("output code", {**auth, "X-Sidecar-Output": "code"}),
        (
            "output json,no-prose + strip",
            {**auth, "X-Sidecar-Output": "json,no-prose", "X-Sidecar-Strip": "1"},
        ),
        ("mode fast", {**auth, "X-Sidecar-Mode": "fast"}),
        ("mode double-check", {**auth, "X-Sidecar-Mode": "double-check"}),
        ("goal", {**auth, "X-Sidecar-Goal": f"why {SENTINEL_TEXT}"}),
        ("prune off", {**auth, "X-Sidecar-Prune": "off"}),
        ("gzip declared", {**auth, "Content-Encoding": "gzip"}),
        ("bad traceparent", {**auth, "traceparent": "00-" + "z" * 32 + "-" + "0" * 16 + "-01"}),
    ]


def transforms(headers: dict[str, str]) -> bool:
    """Tell whether these headers ask the sidecar to change a request (strip, output, mode)."""
    return any(h in headers for h in ("X-Sidecar-Strip", "X-Sidecar-Output", "X-Sidecar-Mode"))


def chat_paths() -> list[tuple[str, str]]:
    """The paths a chat body goes to (the sidecar's rewrites differ per protocol), and a pass-through."""
    return [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/embeddings"),
    ]


def raw_requests() -> list[tuple[str, bytes]]:
    """HTTP/1.1 oddities; each must be answered with a 4xx (or the upstream's answer), or closed."""
    key, text = SENTINEL_KEY.encode(), SENTINEL_TEXT.encode()
    body = _chat([{"role": "user", "content": SENTINEL_TEXT}])
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
    return [
        ("absolute-form target", b"GET http://evil.example/v1/models HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
        ("asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("authority target", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "control byte in a header",
            head + b"Authorization: Bearer " + key + b"\x01\r\nContent-Length: 2\r\n\r\n{}",
        ),
        (
            "64 KiB header",
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: " + key + b"A" * 66_000 + b"\r\n\r\n",
        ),
        ("bytes after a short Content-Length", head + b"Content-Length: 10\r\n\r\n" + body),
        ("request line of prompt text", text + b" " + key + b"\r\n\r\n"),
        ("header name with DEL", b"GET / HTTP/1.1\r\nHost: x\r\nX-" + key + b"\x7f: v\r\n\r\n"),
        ("bad chunk size", head + b"Transfer-Encoding: chunked\r\n\r\n" + text + b"\r\n0\r\n\r\n"),
        (
            "Content-Length and chunked",
            head + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        ("two Content-Lengths", head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
        ("negative Content-Length", head + b"Content-Length: -1\r\n\r\n{}"),
        ("HTTP/1.0 without Host", b"GET /sidecar/healthz HTTP/1.0\r\n\r\n"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("TLS client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64),
        ("pipelined requests", b"GET /sidecar/healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20),
        ("request line over 64 KiB", b"GET /" + text * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("400 headers", b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 400 + b"\r\n"),
        ("path traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("sidecar path with dots", b"GET /sidecar/../v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "upgrade to websocket",
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
    ]


def mcp_bodies() -> list[tuple[str, bytes]]:
    """JSON-RPC bodies that must each get an error reply (never a 5xx, never silence)."""
    deep = nested(1000)
    call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"prune_text","arguments":'
    recover = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"recover_text","arguments":'
    one_range = b'{"start_line":1,"end_line":1000}'
    return [
        ("deep array", deep),
        ("deep params", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + deep + b"}"),
        ("deep arguments", call + deep + b"}}"),
        ("deep batch item", b'[{"jsonrpc":"2.0","id":1,"method":"ping","x":' + deep + b"}]"),
        ("not JSON", SENTINEL_TEXT.encode()),
        ("empty batch", b"[]"),
        ("batch of junk", b"[1, null, \"x\", {}]"),
        ("wrong types", b'{"jsonrpc":2,"id":{"a":1},"method":["x"]}'),
        ("unknown tool", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm -rf"}}'),
        ("bad arguments", call + b'{"text":1,"goal_hint":null,"options":{"min_keep_lines":-1}}}}'),
        ("recover unknown id", recover + b'{"prune_id":"' + SENTINEL_TEXT.encode() + b'"}}}'),
        ("3000 ranges", recover + b'{"prune_id":"x","ranges":[' + b",".join([one_range] * 3000) + b"]}}}"),
    ]  # fmt: skip
