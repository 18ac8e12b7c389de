from __future__ import annotations

from sidecar.pruning.render import marker_line, render

PID = "abcDEF0123456789abcDEF"


def test_marker_line_is_one_short_ascii_line_with_id_and_range() -> None:
    m = marker_line(PID, 120, 180, indent="    ")
    assert "\n" not in m and m.isascii()
    assert m.startswith("    ... [")
    assert "120-180" in m and f"prune_id={PID}" in m and "recover_text" in m
    assert len(m) < 90
    assert "line 7 pruned" in marker_line(PID, 7, 7)


def test_later_markers_name_only_their_range_the_id_is_the_first_markers() -> None:
    later = marker_line(PID, 120, 180, first=False)
    assert later == "... [120-180 pruned]"
    assert PID not in later and len(later) < len(marker_line(PID, 120, 180)) - len(PID)
    assert marker_line(PID, 7, 7, first=False) == "... [7 pruned]"


def test_render_keeps_lines_verbatim_and_one_marker_per_run() -> None:
    lines = [f"line {i}" for i in range(1, 11)]
    keep = [True, True, False, False, True, False, True, True, False, False]
    r = render(lines, keep, PID, annotate_lines=False, include_markers=True)
    out = r.text.split("\n")
    assert out[0] == "line 1" and out[1] == "line 2" and out[3] == "line 5"
    assert [(b.start_line, b.end_line, b.count) for b in r.blocks] == [(3, 4, 2), (6, 6, 1), (9, 10, 2)]
    assert out[2] == r.blocks[0].marker == marker_line(PID, 3, 4)
    # Only the first marker spells out the recovery and the id; the others carry their range.
    assert out[4] == r.blocks[1].marker == marker_line(PID, 6, 6, first=False)
    assert out[7] == r.blocks[2].marker == marker_line(PID, 9, 10, first=False)
    assert len(out) == 5 + 3


def test_render_without_markers_and_with_line_numbers() -> None:
    lines = ["a", "b", "c", "d"]
    r = render(lines, [True, False, False, True], PID, annotate_lines=True, include_markers=False)
    assert r.text == "1\ta\n4\td"
    assert r.blocks[0].marker == "" and r.blocks[0].count == 2


def test_render_keeps_crlf_and_trailing_newline() -> None:
    text = "a\r\nb\r\nc\r\nd\r\n"
    lines = text.split("\n")
    r = render(lines, [True, False, False, True, False], PID, annotate_lines=False, include_markers=True)
    assert r.text.endswith("d\r\n")
    assert r.text.split("\n")[1] == marker_line(PID, 2, 3) + "\r"
    everything = render(lines, [True] * 5, PID, annotate_lines=False, include_markers=True)
    assert everything.text == text and everything.blocks == []


def test_render_markers_are_not_indented() -> None:
    lines = ["def f():", "        x = 1", "        y = 2", "    return x"]
    r = render(lines, [True, False, False, True], PID, annotate_lines=False, include_markers=True)
    assert r.text.split("\n")[1] == marker_line(PID, 2, 3)


def test_rendered_size_matches_render_exactly() -> None:
    import random

    from sidecar.pruning.render import rendered_size

    rnd = random.Random(3)
    for trial in range(200):
        n = rnd.randint(1, 40)
        lines = [
            " " * rnd.randint(0, 8) + "x" * rnd.randint(0, 20) + ("\r" if trial % 3 == 0 else "")
            for _ in range(n)
        ]
        if trial % 4 == 0:
            lines.append("")
        keep = [rnd.random() < 0.5 for _ in lines]
        for annotate in (False, True):
            for markers in (False, True):
                want = len(render(lines, keep, PID, annotate_lines=annotate, include_markers=markers).text)
                got = rendered_size(lines, keep, PID, annotate_lines=annotate, include_markers=markers)
                assert got == want
