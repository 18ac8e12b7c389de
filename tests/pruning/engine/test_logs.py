"""Logs and test runs: the failing test whole, summaries, repeats folded."""

from __future__ import annotations

import json
import re

from sidecar.pruning.backends.heuristic import score_lines
from sidecar.pruning.engine.chunking import lowered
from sidecar.pruning.engine.kinds import detect_kind
from sidecar.pruning.engine.logs import error_lines, failure_blocks, json_lines_view, stamped_view
from tests.pruning.engine.samples import CODEX_HEADER, dpkg_listing, prune, pytest_run


def _offsets(lines: list[str]) -> list[int]:
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    return offsets


def _blocks(text: str) -> list[tuple[int, int, int]]:
    lines = text.split("\n")
    return failure_blocks(lines, lowered(text), _offsets(lines))


def test_the_failing_test_is_kept_whole_and_passes_are_folded() -> None:
    text = pytest_run()
    keep, out = prune(text, "The frequencies counts look wrong since my change; fix it\npytest -v", "logs")
    kept = set(out.split("\n"))
    for line in text.split("\n"):
        if line.startswith(("E ", "> ", ">  ", "FAILED", "=====", "tests/test_core.py:233")):
            assert line in kept, line
    assert ">       assert frequencies(data) == {'cat': 2, 'dog': 1}" in kept
    assert "tests/test_core.py::test_case_140 FAILED" + " " * 20 + "[ 46%]" in kept
    assert sum(1 for line in kept if line.endswith("%]") and "PASSED" in line) < 30
    assert len(out) < 0.35 * len(text)


def test_near_repeated_lines_fold_to_their_first_occurrences() -> None:
    links = [
        f"  Found link https://files.example.org/pkg-1.{k}.tar.gz (from https://pypi.org/simple/pkg/),"
        f" version: 1.{k}"
        for k in range(300)
    ]
    text = "\n".join(
        ["Collecting pkg==9.9", *links, "ERROR: No matching distribution found for pkg==9.9", ""]
    )
    _, out = prune(text, "why does the install fail?", "logs")
    kept = out.split("\n")
    assert "ERROR: No matching distribution found for pkg==9.9" in kept
    # The first occurrences and the tail (where a run ends) stay; the middle folds into one marker.
    assert sum(1 for line in kept if "Found link" in line) <= 30
    assert not any("pkg-1.150.tar.gz" in line for line in kept)
    assert any(line.startswith("... [") for line in kept)


def test_failure_blocks_of_other_runners() -> None:
    jest = (
        "PASS a.test.js\n  ● Suite › adds numbers\n\n    expect(received).toBe(expected)\n\n    Expected: 3\n"
    )
    jest += "    Received: 4\n\nTests:       1 failed, 9 passed, 10 total\n"
    ((start, focus, end),) = _blocks(jest)
    assert jest.split("\n")[start].strip().startswith("● Suite")
    go = "=== RUN   TestAdd\n--- FAIL: TestAdd (0.00s)\n    add_test.go:9: got 4, want 3\nFAIL\n"
    assert len(_blocks(go)) == 1
    cargo = (
        "---- tests::adds stdout ----\nthread 'tests::adds' panicked at src/lib.rs:9:5:\nassertion failed\n\n"
    )
    cargo += "failures:\n    tests::adds\n"
    ((start, focus, end),) = _blocks(cargo)
    assert "panicked" in cargo.split("\n")[focus]
    assert _blocks("all good\nnothing failed here? no: nothing\n") == []


def _many_failures(failing: int = 40, passing: int = 200) -> str:
    """A ``pytest -v`` session where one bug fails ``failing`` tests, each with a two-frame traceback."""
    out = ["============================= test session starts ==============================", ""]
    total = failing + passing
    for i in range(total):
        status = "FAILED" if i % 6 == 0 and i // 6 < failing else "PASSED"
        out.append(f"tests/test_codec.py::test_roundtrip[{i}] {status} [{i * 100 // total:3d}%]")
    out += ["", "=================================== FAILURES ==================================="]
    for k in range(failing):
        out += [
            f"______________________________ test_roundtrip[{k * 6}] ______________________________",
            "",
            f"value = {k * 6}, codec = <pkg.codec.Codec object at 0x7f{k:04x}e79f6d0>",
            "",
            "    def test_roundtrip(value, codec):",
            "        encoded = codec.encode(value)",
            ">       assert codec.decode(encoded) == value",
            "",
            f"tests/test_codec.py:{40 + k}: ",
            "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ ",
            "src/pkg/codec.py:88: in decode",
            "    return self._unpack(data)",
            "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ ",
            "",
            f"self = <pkg.codec.Codec object at 0x7f{k:04x}e79f6d0>, data = b'\\x00\\x{k:02x}'",
            "",
            "    def _unpack(self, data):",
            "        header = data[:2]",
            "        width = int.from_bytes(header, 'little')",
            ">       return int.from_bytes(data[2 : 2 + width], 'big')",
            f"E       ValueError: width {k + 300} exceeds the payload",
            "",
            "src/pkg/codec.py:97: ValueError",
        ]
    out.append("=========================== short test summary info ============================")
    out += [
        f"FAILED tests/test_codec.py::test_roundtrip[{k * 6}] - ValueError: width {k + 300}..."
        for k in range(failing)
    ]  # noqa: E501
    out += [f"=================== {failing} failed, {passing} passed in 3.09s ===================", ""]
    return "\n".join(out)


CODEC_GOAL = "Values no longer round-trip through the codec; find what broke\npytest -v"


def test_many_failures_keep_every_failure_mark_and_fold_the_rest() -> None:
    text = _many_failures()
    lines = text.split("\n")
    keep, out = prune(text, CODEC_GOAL, "logs")
    # Every failure's marks, each occurrence: the ">" and "E" lines, file:line: locations.
    for i, line in enumerate(lines):
        if line.startswith(("> ", "E ", "FAILED ", "src/pkg/")) or re.match(r"tests/\S+:\d+: ", line):
            assert keep[i], (i, line)
    # The first failing tests are kept whole; later ones keep their skeleton, their locals fold.
    locals_kept = [keep[i] for i, line in enumerate(lines) if line.startswith("self = <pkg.codec")]
    assert all(locals_kept[:3]) and not any(locals_kept[3:])
    assert sum(keep[i] for i, line in enumerate(lines) if line.startswith("    def _unpack")) == 3
    # Seventy "FAILED [ 41%]" progress lines repeat the summary: they fold after the first few.
    progress = [keep[i] for i, line in enumerate(lines) if line.endswith("%]") and "FAILED" in line]
    assert sum(progress) <= 3
    assert out.count("\n... [") > 40  # what folded is marked, one marker per cut
    assert len(out) < 0.5 * len(text)


def test_a_few_failures_stay_whole() -> None:
    text = _many_failures(failing=3)
    lines = text.split("\n")
    keep, _ = prune(text, CODEC_GOAL, "logs")
    assert all(keep[i] for i, line in enumerate(lines) if line.startswith(("self = <", "    def _unpack")))


def test_skeleton_of_other_runners() -> None:
    """Past the first failures, jest and unittest blocks keep where and why they failed."""
    jest = ["FAIL src/a.test.js"]
    for k in range(8):
        jest += [
            f"  ● Parser › parses input {k}",
            "",
            "    expect(received).toEqual(expected) // deep equality",
            "",
            f"    Expected: {k}",
            f"    Received: {k + 1}",
            "",
            f"      {10 + k} |   const input = load({k});",
            f"    > {12 + k} |   expect(parse(input)).toEqual({k});",
            "",
            f"      at Object.<anonymous> (src/a.test.js:{12 + k}:15)",
            "      at Promise.then.completed (node_modules/jest-circus/build/utils.js:298:28)",
            "",
        ]
    jest += ["Tests:       8 failed, 100 passed, 108 total", ""]
    scores = _priors(jest)
    last = jest.index("  ● Parser › parses input 7")
    block = dict(zip(jest[last : last + 13], scores[last : last + 13], strict=True))
    top = block["  ● Parser › parses input 7"]
    for line in ("    Expected: 7", "    Received: 8", "    > 19 |   expect(parse(input)).toEqual(7);"):
        assert block[line] >= top, line
    assert block["      at Object.<anonymous> (src/a.test.js:19:15)"] >= top
    assert block["      at Promise.then.completed (node_modules/jest-circus/build/utils.js:298:28)"] < 0


def _priors(lines: list[str]) -> list[float]:
    """Return the heuristic's scores for a log with a goal that names nothing in it."""
    from sidecar.pruning.backends.heuristic import score_lines

    return score_lines(lines, "why does it fail", "logs")


def test_json_lines_keep_the_error_record_and_fold_the_rest() -> None:
    """A structured log (kubectl logs of a JSON-logging service) is pruned as the log it is."""
    records = [
        {"ts": f"2026-12-05T10:{i // 60:02d}:{i % 60:02d}Z", "level": "info", "logger": "api",
         "msg": ("cache hit", "request completed", "health check ok")[i % 3], "status": 200,
         "request_id": f"req-{i * 7919:x}"}
        for i in range(600)
    ]  # fmt: skip
    records[417].update(level="error", msg="database timeout while fetching orders", status=500)
    text = "\n".join(json.dumps(r) for r in records)
    kind = detect_kind(text)
    assert kind == "logs"
    keep, out = prune(text, "why did fetching orders fail with a database timeout?", kind)
    assert keep[417]
    assert len(out) < 0.2 * len(text)


def _docker(text: str) -> str:
    """``text`` as docker's json-file driver stores it: one record per line."""
    return "".join(
        json.dumps({"log": line + "\n", "stream": "stdout", "time": f"2026-12-06T10:00:{k % 60:02d}.0Z"})
        + "\n"
        for k, line in enumerate(text.splitlines())
    )


def test_json_lines_view_reads_each_record_as_its_log_line() -> None:
    records = [
        json.dumps({"log": "E   assert 1 == 2\n", "stream": "stderr", "time": "2026-12-06T10:00:00Z"}),
        json.dumps({"ts": 1.5, "level": "error", "msg": "db timeout\nretrying", "err": {"code": 57}}),
        json.dumps({"level": 30, "time": 1, "pid": 7}),  # no message: its fields
    ] * 5 + ["not a record", ""]
    view = json_lines_view(records)
    assert view is not None and len(view) == len(records)
    assert view[:3] + view[-2:] == [
        "E   assert 1 == 2",
        'db timeout retrying level=error err={"code":57}',
        "level=30 pid=7",
        "not a record",
        "",
    ]
    assert (
        json_lines_view(["plain log line"] * 3 + records[:6]) is None
    )  # a third of the lines are not records


def test_a_test_run_as_json_lines_keeps_what_the_plain_run_keeps() -> None:
    text = pytest_run()
    goal = "The frequencies counts look wrong since my change; fix it"
    keep, _ = prune(text, goal, "logs")
    wrapped = _docker(text)
    assert detect_kind(wrapped) == "logs"
    keep_json, out = prune(wrapped, goal, "logs")
    assert keep_json[: len(keep)] == keep  # the default policy budgets the lines the records stand for
    assert len(out) < 0.4 * len(wrapped)
    _, out = prune(wrapped, goal, "logs", keep=0.2)  # a keep ratio is the records' own share
    assert len(out) <= 0.2 * len(wrapped) and "assert frequencies(data)" in out


def test_json_lines_after_a_line_of_another_kind_are_still_read_as_records() -> None:
    text = 'Defaulted container "api" out of: api, istio-proxy\n' + _docker(pytest_run())
    goal = "The frequencies counts look wrong since my change; fix it"
    keep, out = prune(text, goal, "logs")
    assert "assert frequencies(data)" in out and len(out) < 0.4 * len(text)
    view = json_lines_view(text.split("\n"))
    assert view is not None and view[1:] == pytest_run().splitlines() + [""]
    assert score_lines(text.split("\n"), goal, "logs") == score_lines(view, goal, "logs")  # read as records


def test_json_lines_after_codex_s_header_are_read_as_records() -> None:
    text = CODEX_HEADER + _docker(pytest_run())  # Codex's exec output around `kubectl logs`
    view = json_lines_view(text.split("\n"))
    goal = "The frequencies counts look wrong since my change; fix it"
    assert view is not None and score_lines(text.split("\n"), goal, "logs") == score_lines(view, goal, "logs")
    assert detect_kind(text) == "logs"


def test_a_listing_keeps_the_rows_the_goal_names_and_its_header() -> None:
    text = dpkg_listing()
    keep, out = prune(text, "which version of openssl is installed?", "listing")
    assert "ii  openssl        3.0.19-1       amd64        Secure Sockets Layer toolkit" in out
    assert "||/ Name           Version        Architecture Description" in out  # the column header
    assert len(out) < 0.25 * len(text)
    find = "\n".join(f"/usr/lib/python3.11/pkg{k}/mod{j}.py" for k in range(200) for j in range(5))
    find += "\n/usr/lib/python3.11/tomllib/_parser.py\n"
    _, out = prune(find, "where is the TOML parser?", "listing")
    assert "/usr/lib/python3.11/tomllib/_parser.py" in out and len(out) < 0.1 * len(find)


def test_ls_recursive_keeps_the_heading_of_each_kept_row() -> None:
    sections = [f"./pkg/mod{k}:\n" + "\n".join(f"file{j}.py" for j in range(30)) for k in range(40)]
    sections[23] += "\ntomllib_parser.py"
    text = "\n\n".join(sections) + "\n"
    assert detect_kind(text) == "listing"
    _, out = prune(text, "where is the TOML parser?", "listing")
    kept = out.split("\n")
    assert "tomllib_parser.py" in kept and "./pkg/mod23:" in kept  # the row, and where it is
    assert len(out) < 0.15 * len(text)


def test_a_tree_keeps_the_parent_directories_of_each_kept_row() -> None:
    rows = ["/srv/app"]
    for k in range(30):
        rows.append(f"├── pkg{k}")
        rows += [f"│\xa0\xa0 ├── file{j}.py" for j in range(8)]
        if k == 17:
            rows += ["│\xa0\xa0 ├── engine", "│\xa0\xa0 │\xa0\xa0 └── layout.py"]
    rows += ["", "31 directories, 241 files"]
    text = "\n".join(rows) + "\n"
    assert detect_kind(text) == "listing"
    _, out = prune(text, "where is the JSON layout module?", "listing")
    kept = out.split("\n")
    assert {"├── pkg17", "│\xa0\xa0 ├── engine", "│\xa0\xa0 │\xa0\xa0 └── layout.py"} <= set(kept)
    assert len(out) < 0.15 * len(text)
    claude_ls = "- /srv/app/\n" + "".join(
        f"  - pkg{k}/\n" + "".join(f"    - file{j}.py\n" for j in range(8)) for k in range(30)
    )  # Claude Code's LS tool
    claude_ls = claude_ls.replace("  - pkg17/\n", "  - pkg17/\n    - engine/\n      - layout.py\n")
    assert detect_kind(claude_ls) == "listing"
    _, out = prune(claude_ls, "where is the JSON layout module?", "listing")
    assert {"  - pkg17/", "    - engine/", "      - layout.py"} <= set(out.split("\n"))


def junit_report() -> str:
    """``pytest --junitxml`` of 125 passing tests and one failing on setup, pretty-printed."""
    passed = [
        f'    <testcase classname="test_shop" name="test_cart_total[{n}]" time="0.001"/>' for n in range(120)
    ]
    passed += [
        f'    <testcase classname="test_shop" name="test_country[{c}]" time="0.000"/>'
        for c in "DE FR IT ES".split()
    ]
    return "\n".join(
        [
            '<?xml version="1.0" ?>',
            "<testsuites>",
            '  <testsuite name="pytest" errors="1" failures="0" skipped="0" tests="126" time="0.093">',
            *passed[:60],
            '    <testcase classname="test_shop" name="test_orders_saved" time="0.000">',
            '      <error message="failed on setup with &quot;ConnectionError: could not connect to postgres'
            ' at 127.0.0.1:5432&quot;">@pytest.fixture',
            "    def db():",
            "&gt;       raise ConnectionError(&quot;could not connect to postgres at 127.0.0.1:5432&quot;)",
            "E       ConnectionError: could not connect to postgres at 127.0.0.1:5432",
            "",
            "test_shop.py:16: ConnectionError</error>",
            "    </testcase>",
            *passed[60:],
            "  </testsuite>",
            "</testsuites>",
            "",
        ]
    )


def test_a_junit_report_is_read_as_a_test_run() -> None:
    report = junit_report()
    for hint in (None, "docs", "code"):  # `cat report.xml`, a .xml file read
        assert detect_kind(report, hint) == "logs"
    pom = (
        '<?xml version="1.0"?>\n<project>\n'
        + "  <dependency><artifactId>junit</artifactId></dependency>\n" * 40
    )
    assert detect_kind(pom + "</project>\n") != "logs"  # XML that is no report
    lines = report.split("\n")
    error = next(i for i, line in enumerate(lines) if "<error message" in line)
    for keep in (None, 0.3):
        kept, out = prune(report, "Which test failed in the JUnit report and why?", "logs", keep)
        assert all(kept[error : error + 6]), keep  # the error element whole, its traceback with it
        assert sum(kept) < 0.5 * len(lines)  # the passing test cases fold


def _cargo_run(thread: str) -> str:
    """``cargo test`` with one failing test among forty; ``thread`` as rustc prints the panicking thread."""
    out = ["   Compiling portparse v0.1.0 (/home/dev/portparse)", "", "running 40 tests"]
    out += [f"test tests::parses_port_{k} ... ok" for k in range(39)]
    out += [
        "test tests::rejects_negative ... FAILED",
        "",
        "failures:",
        "",
        "---- tests::rejects_negative stdout ----",
    ]
    out += [
        f"{thread} panicked at src/lib.rs:197:9:",
        "assertion `left == right` failed",
        "  left: Err(Syntax)",
        " right: Err(Range)",
        "stack backtrace:",
    ]
    for k, frame in enumerate(
        ("__rustc::rust_begin_unwind", "core::panicking::panic_fmt", "core::panicking::assert_failed")
    ):
        out += [
            f"   {k}: {frame}",
            f"             at /rustc/59807616e1fa/library/core/src/panicking.rs:{80 + k}:5",
        ]
    out += ["", "failures:", "    tests::rejects_negative", ""]
    out += [
        "test result: FAILED. 39 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.42s",
        "",
    ]
    return "\n".join(out)


def test_a_panic_with_the_thread_id_of_newer_rustc_is_the_failing_line() -> None:
    # rustc >= 1.9x: "thread 'x' (27674) panicked at"; the old form without the id still works.
    for thread in ("thread 'tests::rejects_negative' (27674)", "thread 'tests::rejects_negative'"):
        text = _cargo_run(thread)
        ((start, focus, end),) = _blocks(text)
        assert text.split("\n")[focus].startswith(thread + " panicked")
        _, out = prune(text, "Why does the rejects_negative test fail?\ncargo test", "logs", keep=0.3)
        assert f"{thread} panicked at src/lib.rs:197:9:" in out.split("\n")


def _go_verbose_run() -> str:
    """``go test -v ./...``: t.Errorf messages come before their test's ``--- FAIL:``, passes follow."""
    out = []
    for k in range(12):
        out += [f"=== RUN   TestStoreCase{k}", f"--- PASS: TestStoreCase{k} (0.0{k % 10}s)"]
    out += ["PASS", "ok  \texample.com/shop/internal/store\t0.112s"]
    out += [
        "=== RUN   TestHandlerAuth",
        "=== RUN   TestHandlerAuth/rejects_expired_token",
        "=== RUN   TestHandlerAuth/accepts_fresh_token",
        "    handler_test.go:88: status = 401, want 200",
        '    handler_test.go:89: body = {"error":"token expired"}',
        "--- FAIL: TestHandlerAuth (0.01s)",
        "    --- PASS: TestHandlerAuth/rejects_expired_token (0.00s)",
        "    --- FAIL: TestHandlerAuth/accepts_fresh_token (0.00s)",
    ]
    for k in range(14):
        out += [f"=== RUN   TestHandlerCase{k}", f"--- PASS: TestHandlerCase{k} (0.0{k % 10}s)"]
    out += ["FAIL", "FAIL\texample.com/shop/internal/httpapi\t0.412s", "FAIL", ""]
    return "\n".join(out)


def test_go_test_verbose_failure_block_holds_its_messages_and_stops_at_the_next_test() -> None:
    text = _go_verbose_run()
    lines = text.split("\n")
    message = lines.index("    handler_test.go:88: status = 401, want 200")
    blocks = _blocks(text)
    assert len(blocks) == 2  # the test and its failing subtest
    for start, focus, end in blocks:
        assert start < message == focus and lines[start].startswith("=== RUN   TestHandlerAuth")
        assert not any(line.startswith("--- PASS: TestHandlerCase") for line in lines[start:end])
    _, out = prune(text, "Why does the TestHandlerAuth test fail?\ngo test -v ./...", "logs", keep=0.3)
    kept = out.split("\n")
    assert lines[message] in kept and lines[message + 1] in kept
    assert "    --- FAIL: TestHandlerAuth/accepts_fresh_token (0.00s)" in kept


def test_go_test_without_verbose_keeps_its_messages_after_the_fail_line() -> None:
    text = "--- FAIL: TestAdd (0.00s)\n    add_test.go:9: got 4, want 3\n--- FAIL: TestSub (0.00s)\n"
    text += "    sub_test.go:4: got 1, want -1\nFAIL\nFAIL\texample.com/calc\t0.01s\n"
    assert [(s, e) for s, _, e in _blocks(text)] == [(0, 2), (2, 4)]


def test_rustc_locations_in_a_build_log_are_not_near_repeats_of_each_other() -> None:
    # A long build log (not a diagnostic list): each warning's "--> path" names a different file;
    # masked to one shape they were folded as repeats of the first and scored below every other line.
    out = [f"   Compiling dep{k} v0.{k}.0" for k in range(80)]
    for k, name in enumerate(("cart", "money", "orders", "auth", "db", "api")):
        out += [f"warning: unused variable: `v{k}`", f"  --> src/{name}/handler.rs:{10 + k}:9", "   |", ""]
    out += ["   Compiling shop v0.1.0 (/home/dev/shop)"] + ["    Finished `dev` profile in 9.1s", ""]
    text = "\n".join(out)
    assert detect_kind(text, "logs") == "logs"
    lines = text.split("\n")
    scores = score_lines(lines, "Which unused variables does the build warn about?\ncargo build", "logs")
    locations = [i for i, line in enumerate(lines) if line.startswith("  --> ")]
    assert min(scores[i] for i in locations) >= scores[locations[0]] - 1e-9


def test_file_names_in_a_log_are_neither_errors_nor_its_outcome() -> None:
    # `pip show -f aiohttp` (hinted as logs by its command): fields, then the package's files. The files
    # named "*exceptions*" read as error lines and the last ones as the run's outcome, above `Requires:`.
    files = [f"  aiohttp/{name}.py" for name in "abc base_protocol client client_exceptions".split()]
    files += [f"  aiohttp/{m}{k}.py" for k in range(40) for m in ("http_", "web_")]
    files += ["  aiohttp/http_exceptions.py", "  aiohttp/web_exceptions.py", "  aiohttp/worker.py"]
    text = "\n".join(
        [
            "Name: aiohttp",
            "Version: 3.14.5",
            "Summary: Async http client/server framework (asyncio)",
            "Location: /home/dev/sidecar/.venv/lib/python3.11/site-packages",
            "Requires: aiohappyeyeballs, aiosignal, attrs, frozenlist, multidict, propcache, yarl",
            "Required-by: pytest-aiohttp, sidecar",
            "Files:",
            *files,
            "",
        ]
    )
    goal = "Where is aiohttp installed and which packages does it require?\npip show -f aiohttp"
    for keep in (None, 0.3, 0.1):
        _, out = prune(text, goal, "logs", keep)
        assert "Location: /home/dev" in out and "Requires: aiohappyeyeballs" in out, keep
        assert "web_exceptions.py" not in out, keep


def _errors(text: str) -> set[int]:
    lines = text.split("\n")
    return error_lines(lines, lowered(text), _offsets(lines))


def test_an_error_word_inside_a_name_is_no_error() -> None:
    # `npm outdated --all`: packages named "http-errors" or depending on it are rows like the others;
    # read as error lines they filled a short budget before the row the goal asks about.
    def row(name: str, by: str) -> str:
        return f"{name:<22} 1.1.{len(name)}    1.1.{len(name)}   2.0.1  node_modules/{name:<18} {by}"

    rows = [row(f"pkg{k:02d}", "storefront") for k in range(40)]
    rows[10:10] = [
        row("http-errors", "body-parser"),
        row("depd", "http-errors"),
        row("statuses", "http-errors"),
    ]
    rows[30:30] = [row("jsonwebtoken", "storefront"), row("jws", "jsonwebtoken")]
    rows += [row("toidentifier", "http-errors"), row("setprototypeof", "http-errors")]
    text = "\n".join(
        ["Package                Current  Wanted  Latest  Location                    Depended by", *rows, ""]
    )
    assert not _errors(text)
    named = [
        "tests/test_error_pages.py::test_404 PASSED",
        "ignore_errors = true",
        "pkg/errors",
        "if self.errors:",
    ]
    real = [
        "npm error code ERESOLVE",
        "E   TypeError: 'NoneType'",
        "[ERROR] build failed",
        "FAILED tests/x.py",
        "  Applying crm.0003_customer_email_unique...Traceback (most recent call last):",  # an ellipsis
    ]
    assert _errors("\n".join(named + real)) == set(range(len(named), len(named) + len(real)))
    _, out = prune(text, "what's the newest jsonwebtoken I could move to?\nnpm outdated --all", "logs", 0.1)
    assert rows[30] in out.split("\n")


def access_log(n: int, status: dict[int, int]) -> list[str]:
    """nginx's combined format, ``n`` GETs answered 200 but for the rows in ``status``."""
    return [
        f'10.0.{k % 7}.{k % 200} - - [06/Dec/2026:03:{k % 60:02d}:00 +0000] "GET /api/items/{k} HTTP/1.1" '
        f'{status.get(k, 200)} {512 + k} "-" "python-requests/2.32.3"'
        for k in range(n)
    ]


def test_the_number_the_goal_names_finds_its_rows() -> None:
    # An nginx access log: the goal asks about a status code, nothing else in it names those rows.
    rows = access_log(400, dict.fromkeys((61, 140, 233, 377), 502))
    text = "\n".join(rows) + "\n"
    for keep in (None, 0.3):
        _, out = prune(
            text, "Which requests got a 502 from the upstream?\ntail -n 400 access.log", "logs", keep
        )
        assert all(rows[k] in out.split("\n") for k in (61, 140, 233, 377)), keep


def test_an_access_logs_server_errors_are_error_lines() -> None:
    # "Which requests errored?": no row says "error"; the status says it.
    rows = access_log(300, {61: 503, 233: 503})
    text = "\n".join(rows) + "\n"
    _, out = prune(text, "Which requests errored in the access log?", "logs")
    assert rows[61] in out.split("\n") and rows[233] in out.split("\n")


JEST = """\
FAIL src/cart.test.js
  applyCoupon
    ✓ no coupon (1 ms)
    ✕ fixed coupon never goes below zero (1 ms)
  total
    ✓ german VAT
    ✕ country without VAT (1 ms)

  ● applyCoupon › fixed coupon never goes below zero

    expect(received).toBe(expected) // Object.is equality

    Expected: 0
    Received: -100

    > 22 |   test("fixed coupon never goes below zero", () => expect(applyCoupon(200, coupon)).toBe(0));
         |                                                                                      ^

      at Object.toBe (src/cart.test.js:22:108)

  ● total › country without VAT

    expect(received).toEqual(expected) // deep equality

    - Expected  - 2
    + Received  + 2

      Object {
    -   "gross": 3399,
    +   "gross": NaN,
        "net": 3399,
    -   "tax": 0,
    +   "tax": NaN,
      }

    > 34 |     expect(total({ items, country: "US" })).toEqual({ net: 3399, tax: 0, gross: 3399 });
         |                                             ^

      at Object.toEqual (src/cart.test.js:34:45)

PASS src/format.test.js
  ✓ formats euros (1 ms)
  ✓ formats dollars
  ✓ pluralizes

Test Suites: 1 failed, 1 passed, 2 total
Tests:       2 failed, 14 passed, 16 total
Snapshots:   0 total
Time:        0.386 s
Ran all test suites.
"""


def test_the_failing_test_the_goal_names_goes_first_and_ends_at_the_next_suite() -> None:
    lines = JEST.split("\n")
    named = lines.index("  ● total › country without VAT")
    blocks = _blocks(JEST)
    assert [(s, e) for s, _, e in blocks][-1] == (named, lines.index("PASS src/format.test.js"))
    kept, _ = prune(JEST, "Why does the 'country without VAT' test fail?\nnpx jest --ci", "logs")
    assert all(kept[lines.index(s)] for s in ('    +   "gross": NaN,', '    +   "tax": NaN,'))


def test_a_stamped_ci_log_is_read_without_its_timestamps() -> None:
    # `gh run view --log-failed`: job, step and time before each line of a pytest run.
    run = pytest_run().split("\n")
    prefix = "test (3.12, ubuntu-latest)\tRun pytest -v\t2026-12-05T14:02:{:02d}.{:07d}Z "
    text = "\n".join(prefix.format(k % 60, k * 7919 % 10**7) + line for k, line in enumerate(run))
    lines = text.split("\n")
    assert stamped_view(lines) == run
    assert stamped_view(run) is None
    assert detect_kind(text) == "logs" and detect_kind(text, "docs") == "logs"
    plain, _ = prune("\n".join(run), "why does the test fail?", "logs")
    stamped, _ = prune(text, "why does the test fail?", "logs")
    assert stamped == plain  # the same lines, read through their prefix
