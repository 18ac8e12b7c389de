"""One-line JSON laid out over lines: lossless, deterministic, only where long, never for non-JSON."""

from __future__ import annotations

import json
import re

import pytest

from sidecar.pruning.engine.layout import MAX_CHARS, MIN_CHARS, WIDTH, body_start, document, spread_json
from tests.pruning.engine.samples import CODEX_HEADER, releases_json

DOC = json.loads(releases_json())
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def squeeze(text: str) -> str:
    """The text with whitespace outside strings taken out: what a re-layout must leave unchanged."""
    return "".join(
        piece if piece.startswith('"') else re.sub(r"\s+", "", piece)
        for piece in re.split(f"({_STRING.pattern})", text)
    )


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_changes_only_whitespace_between_tokens(separators: tuple[str, str]) -> None:
    text = json.dumps(DOC, separators=separators)
    laid = spread_json(text)
    assert laid is not None and laid.count("\n") > 100
    assert json.loads(laid) == DOC
    assert squeeze(laid) == squeeze(text)
    assert spread_json(text) == laid  # deterministic


def test_long_containers_get_a_line_per_member_short_ones_stay_whole() -> None:
    laid = spread_json(json.dumps(DOC))
    assert laid is not None
    lines = laid.split("\n")
    assert lines[0] == "{" and lines[-1] == "}"
    assert lines[1] == '  "info": {"name": "example", "version": "2.39.0", "summary": "An example."},'
    assert all(
        len(line) <= WIDTH + 20 for line in lines if line.strip()[:1] in "{[" and len(line.strip()) > 2
    )
    assert '        "yanked": true,' in lines  # one value per line in a long record, indented by depth


def test_strings_holding_brackets_commas_and_escapes_are_left_alone() -> None:
    doc = [{"note": 'a, b [c] {d} \\"e\\" \\\\', "n": i, "é": "ü\\u00e9"} for i in range(80)]
    text = json.dumps(doc, ensure_ascii=False)
    laid = spread_json(text)
    assert laid is not None and json.loads(laid) == doc and squeeze(laid) == squeeze(text)
    assert laid.count("\n") == 81  # one element per line, the brackets on theirs


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,  # not JSON
        json.dumps(DOC)[:-1],  # truncated JSON
        json.dumps(DOC, indent=2),  # laid out already
        json.dumps({"a": [1, 2, 3]}),  # short
        json.dumps({"readme": "r" * MIN_CHARS}),  # one long member: nothing to choose among
        json.dumps("s" * MIN_CHARS),  # a string, not a container
        "[" * 3000 + "]" * 3000,  # nesting past the decoder's limit
        "[" + ",".join(["1"] * (MAX_CHARS // 2)) + "]",  # too big to lay out: kept whole as before
    ],
)
def test_returns_none_when_there_is_nothing_to_lay_out(text: str) -> None:
    assert spread_json(text) is None


def test_outer_whitespace_is_kept() -> None:
    text = "\n" + json.dumps(DOC) + "\n"
    laid = spread_json(text)
    assert laid is not None and laid.startswith("\n{\n") and laid.endswith("\n}\n")


def test_an_arrays_scalars_share_lines_of_about_the_width() -> None:
    doc = {
        "embedding": [i / 7 for i in range(1536)],
        "ids": [f"id-{i}" for i in range(300)],
        "rows": [[1, 2]] * 90,
    }
    text = json.dumps(doc)
    laid = spread_json(text)
    assert laid is not None and json.loads(laid) == doc and squeeze(laid) == squeeze(text)
    lines = laid.split("\n")
    assert len(lines) < 2 * len(json.dumps(doc["embedding"])) // WIDTH + 300 + 100  # not a line per number
    assert '    "id-7",' in lines  # strings keep a line each
    assert all(len(line) <= WIDTH + 40 for line in lines)
    assert lines.count("    [1, 2],") == 89  # containers keep a line each


# curl -i after an "Expect: 100-continue": two heads, CRLF line ends, HTTP/2's status line without a reason.
HEAD = (
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/2 200 \r\ncontent-type: application/json\r\nx-ratelimit-remaining: 4999\r\n\r\n"
)


def test_an_http_response_head_stays_as_it_is_and_the_body_is_laid_out() -> None:
    body = json.dumps(DOC, separators=(",", ":"))
    assert body_start(HEAD + body) == len(HEAD) and body_start(body) == 0
    laid = spread_json(HEAD + body)
    assert laid is not None and laid == HEAD + spread_json(body)
    html = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n<html>" + "<p>x</p>" * 400
    assert spread_json(html) is None
    assert spread_json("HTTP/1.1 200 OK\n\n" + json.dumps(DOC, indent=2)) is None  # laid out already


def test_a_few_lines_of_warnings_before_the_document_stay_as_they_are() -> None:
    body = json.dumps(DOC, separators=(",", ":"))
    warning = "npm warn config production Use `--omit=dev` instead.\n"
    assert body_start(warning + body) == len(warning)
    laid = spread_json(warning + body)
    assert laid is not None and laid == warning + spread_json(body)
    assert body_start("w\n" * 8 + body) == 16 and body_start("w\n" * 9 + body) == 0  # a few lines only
    assert body_start("x" * 1_000 + "\n" + body) == 0
    assert spread_json(CODEX_HEADER + body) == CODEX_HEADER + spread_json(
        body
    )  # Codex's header before `curl -s`
    assert spread_json("int main()\n{ return 0; }\n" + body) is None  # what follows must parse


# `curl -sv URL 2>&1` (curl 7.88 against Python's http.server): its trace before the answer.
CURL_TRACE = (
    "*   Trying 127.0.0.1:8765...\n"
    "* Connected to 127.0.0.1 (127.0.0.1) port 8765 (#0)\n"
    "> GET /a.json HTTP/1.1\r\n> Host: 127.0.0.1:8765\r\n> User-Agent: curl/7.88.1\r\n> Accept: */*\r\n> \r\n"
    "* HTTP 1.0, assume close after body\n"
    "< HTTP/1.0 200 OK\r\n< Content-type: application/json\r\n< Content-Length: 7059\r\n< \r\n"
    "{ [7059 bytes data]\n"
)
CLOSE = "* Closing connection 0\n"


def test_curl_verbose_trace_stays_around_the_laid_out_answer() -> None:
    body = json.dumps(DOC, separators=(",", ":"))
    laid = spread_json(body)
    assert laid is not None and not laid.endswith("\n")
    assert body_start(CURL_TRACE + body) == len(CURL_TRACE)
    # The closing note glued to an answer with no final newline goes on its own line.
    assert spread_json(CURL_TRACE + body + CLOSE) == CURL_TRACE + laid + "\n" + CLOSE
    assert spread_json(CURL_TRACE + body + "\n" + CLOSE) == CURL_TRACE + laid + "\n" + CLOSE
    # Written where stdout's buffer was flushed, inside a string: it follows the answer.
    cut = 4096
    assert spread_json(CURL_TRACE + body[:cut] + CLOSE + body[cut:]) == CURL_TRACE + laid + "\n" + CLOSE
    # An agent printing stderr after stdout: the whole trace after the answer.
    after = CURL_TRACE + "* Connection #0 to host 127.0.0.1 left intact\n"
    assert spread_json(body + "\n" + after) == laid + "\n" + after
    assert document(body + "\n" + after) == (0, len(body) + 1, body + "\n")
    # Without a trace, such a line is the text's own: nothing is taken out.
    assert document(body[:cut] + CLOSE + body[cut:])[2] == body[:cut] + CLOSE + body[cut:]
    assert spread_json("* a Markdown bullet\n* and another\nthen prose " + body) is None  # must parse
