from __future__ import annotations

import itertools
import time

from sidecar.pruning.engine.terms import derived_root, goal_literals, goal_terms, match_lines, set_aside
from tests.pruning.engine.samples import prune


def _hits(lines: list[str], terms: dict[str, tuple[float, tuple[str, ...]]]) -> dict[str, list[int]]:
    """Match each term over ``lines`` as the scorer does: the lines (0-based) where it occurs."""
    text = "\n".join(lines)
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    return {lit: match_lines(text, text.lower(), offsets, lit, sufs) for lit, (_, sufs) in terms.items()}


def test_goal_terms_split_identifiers_and_drop_stop_words() -> None:
    terms = goal_terms("Allow None value for chunk_size in HTTPAdapter")
    assert {"chunk_size", "chunk", "siz", "http", "adapter", "httpadapter", "non"} <= set(terms)
    assert "for" not in terms and "in" not in terms


def test_term_matching_respects_identifier_parts_and_case() -> None:
    lines = [
        "X = MAX_COOKIES",
        "y = cookie_jar",
        "z = COOKIE",
        "w = cookieJar",
        "v = cookiesize",
        "u = CookieSize",
        "resize()",
        "sizeof(x)",
        "SIZE = 1",
    ]
    assert _hits(lines, goal_terms("cookies size")) == {"cook": [0, 1, 2, 3, 5], "siz": [5, 8]}


def test_links_hashes_and_stop_words_say_nothing() -> None:
    terms = goal_terms("Fix the parser\n\nSee https://x.org/y, 0123abcd4567 (cherry picked from commit)")
    assert set(terms) == {"fix", "parser"}


def test_subject_weighs_more_than_body_and_identifiers_weigh_fully() -> None:
    terms = goal_terms("Retry uploads\n\nThe client should retry; see HEADER_RE and proxyManager.")
    assert terms["retr"][0] == 1.0 and 0 < terms["client"][0] < 1.0
    assert terms["header_re"][0] >= 1.5 and terms["proxymanager"][0] >= 1.5


def test_inflections_match_but_other_words_do_not() -> None:
    lines = ["parse(x)", "parsed = 1", "parsing()", "parser", "sparse = 2", "PARSES", "parsnip"]
    assert _hits(lines, goal_terms("parsing")) == {"pars": [0, 1, 2, 3, 5]}


def test_stems_undo_doubled_consonants_and_ied() -> None:
    assert set(goal_terms("stopped")) == {"stop"} and set(goal_terms("copied")) == {"cop"}
    assert set(goal_terms("running")) == {"runn"}  # too short to undouble safely


def test_a_noun_in_ion_also_finds_its_verb_at_half_weight() -> None:
    lines = [
        "data = zlib.decompress(raw)",
        "d = Decompressor()",
        "def recurse(node):",
        "x = 1",
        "validate(form)",
        "validated = True",
        "valid = 2",
        "decompression_limit = 9",
    ]
    terms = goal_terms("Limit decompression; avoid recursion; form validation")
    assert terms["decompress"][0] == terms["decompression"][0] / 2
    hits = _hits(lines, terms)
    assert hits["decompress"] == [0, 1] and hits["decompression"] == [7]
    assert hits["recurs"] == [2]
    assert hits["valid"] == [4, 5]  # the verb's forms, not the adjective
    assert derived_root("option") is None and derived_root("versions") is None  # short words stay as they are


def test_identifier_tails_and_advisory_ids() -> None:
    terms = goal_terms("Use _UnsafeNoResource and max_form_parts (GHSA-g4mx-q9vg-27p4, CVE-2023-25577)")
    assert {"_unsafenoresource", "noresource", "max_form_parts", "form_parts"} <= set(terms)
    assert terms["noresource"][1] == terms["form_parts"][1] == ("", "s", "es", "ed", "d", "ing", "er", "ers")
    assert not {"ghsa", "g4mx", "p4", "cve"} & set(terms)


def _match_lines_by_case(
    text: str, low: str, offsets: list[int], literal: str, suffixes: tuple[str, ...]
) -> list[int]:
    """The reference: the case of what follows a match is always compared."""
    import bisect

    out: list[int] = []
    n, size = len(text), len(literal)
    pos = low.find(literal)
    while pos >= 0:
        ok = True
        if pos > 0:
            prev, cur = text[pos - 1], text[pos]
            if prev.isalnum():
                ok = (
                    (prev.islower() or prev.isdigit())
                    and cur.isupper()
                    or (prev.isupper() and cur.isupper() and pos + 1 < n and text[pos + 1].islower())
                )
        if ok:
            end = pos + size
            same = str.isupper if text[pos:end].isupper() else str.islower
            k = end
            while k < n and k - end < 4 and same(text[k]):
                k += 1
            if k < n and same(text[k]) or low[end:k] not in suffixes:
                ok = False
        if ok:
            out.append(bisect.bisect_right(offsets, pos) - 1)
        pos = low.find(literal, pos + size)
    return out


def test_match_lines_matches_the_case_comparing_scan() -> None:
    import random

    from sidecar.pruning.engine.chunking import lowered

    pieces = [
        "pool",
        "Pool",
        "POOL",
        "pools",
        "POOLs",
        "poolⅰ",
        "pool_",
        "xPool",
        "X",
        "s",
        "ing",
        " ",
        "\n",
        "é",
        "-",
        "1",
    ]
    for seed in range(300):
        rnd = random.Random(seed)
        text = "".join(rnd.choices(pieces, k=rnd.randint(1, 40)))
        lines = text.split("\n")
        low = lowered(text)
        offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
        for literal, (_, sufs) in goal_terms("fix the pooling of pool").items():
            assert match_lines(text, low, offsets, literal, sufs) == _match_lines_by_case(
                text, low, offsets, literal, sufs
            )


def test_a_hex_number_is_one_term() -> None:
    terms = goal_terms("what does arcsinh give for 0x3f800000? (not 0x00)")
    assert "0x3f800000" in terms and "x3f800000" not in terms and "0x00" not in terms
    text = "np.float32,0x3f7fffff,0x3f61a1b2,2\nnp.float32,0x3f800000,0x3f61a1b3,2\n"
    assert match_lines(text, text.lower(), [0, 35, 70], "0x3f800000", terms["0x3f800000"][1]) == [1]


def test_a_number_the_goal_names_is_a_term_matched_whole() -> None:
    terms = goal_terms("Why did order 1187 fail with a 502 on port 8000? (Python 3.11, v2, 10.0.1.12)")
    assert {"1187", "502", "8000"} <= terms.keys()
    assert not {"3", "11", "311", "10", "12", "2"} & terms.keys()  # versions, addresses, short numbers
    text = "GET /a 502 12ms\nGET /b 5020 8ms\nGET /c 1502 4ms\nid=502\n"
    offsets = [0, 16, 32, 48, 55]
    assert match_lines(text, text.lower(), offsets, "502", terms["502"][1]) == [0, 3]


def test_how_a_user_writes_a_goal_does_not_lose_its_terms() -> None:
    assert "502" in goal_terms("any 502s?") and "b904" in goal_terms("Fix all B904s")
    assert {"502", "504"} <= goal_terms("bad gateway and gateway timeout errors on checkout").keys()
    assert (
        not {"don", "doesn", "won", "isn"}
        & goal_terms("why don't they match? it doesn't, won't, isn't").keys()
    )
    # The word as typed is found: "dropped" searches "drop" and "dropped", not "dropp".
    sufs = goal_terms("when was 3.7 dropped?")["drop"][1]
    text = "## Dropped\n- Dropped Python 3.7\n- drop the old API\n"
    assert match_lines(text, text.lower(), [0, 11, 31, 49], "drop", sufs) == [0, 1, 2]


def test_what_a_question_sets_aside_is_no_goal_term() -> None:
    goal, spans = set_aside("flake8 is red. ignoring the long lines, is there anything real in there?")
    assert "long" not in goal and [lit for lit, _ in spans[0]] == ["long", "lin"]
    assert "black" not in goal_terms("pre-commit fails. Ignore black, we reformat later: what else to fix?")
    assert [
        [lit for lit, _ in s] for s in set_aside("Apart from line length, what errors are there?")[1]
    ] == [["lin", "length"]]
    # The other order: "Leaving X aside, ...".
    goal, spans = set_aside("Leaving line length aside, what does markdownlint flag in the FAQ page?")
    assert goal.startswith("Leaving aside,") and [[lit for lit, _ in s] for s in spans] == [["lin", "length"]]
    # A change about ignoring something, a program that ignores something, an `except` clause: kept.
    for kept in (
        "Ignore case in header names",
        "why does pip ignore my pins?",
        "our `except TypeError` around click.style() no longer catches bad colors. Which commit?",
    ):
        assert set_aside(kept) == (kept, []), kept


def test_lines_holding_what_is_set_aside_rank_below_the_rest() -> None:
    # flake8 over a project: fifty long lines and the one finding that matters; the goal names neither.
    tree = ("httpie", "tests")
    rows = [
        f"{tree[k % 2]}/m{k // 3}.py:{k + 3}:101: E501 line too long ({101 + k} > 100 characters)"
        for k in range(50)
    ]
    real = "tests/utils/__init__.py:213:5: F811 redefinition of unused 'command' from line 208"
    rows.insert(31, real)
    text = "\n".join(rows) + "\n"
    goal = "flake8 is red. ignoring the long lines, is there anything real in there?\nflake8 httpie tests"
    for keep in (None, 0.1):
        _, out = prune(text, goal, "search", keep)
        assert real in out.split("\n"), keep


def test_a_long_word_after_a_cue_is_read_in_linear_time() -> None:
    # A goal is the user's text: a word the span pattern could split many ways once backtracked for
    # seconds (75 characters: ~1.5 s, 120: ~10 s), holding the pruner. Checked short first, then long.
    started = time.perf_counter()
    assert set_aside("why? ignore " + "a" * 75 + " b c d e f g")[1] == []
    assert time.perf_counter() - started < 0.5
    assert set_aside("why? ignore " + "a" * 100_000 + " b c d e f g")[1] == []
    assert set_aside("why? leaving " + "a " * 100_000)[1] == []


def test_goal_terms_of_a_huge_goal_take_linear_time() -> None:
    # A goal pasted whole (the MCP tool's goal_hint, the CLI's --goal): links and addresses were
    # looked for from every character, rescanning a long word to its end each time (50 KB: 8 s).
    started = time.perf_counter()
    for goal in ("a" * 200_000, "a." * 100_000, "@" * 200_000, "a@" * 100_000, "x" * 200_000 + "://"):
        goal_terms(goal)
    assert time.perf_counter() - started < 5.0
    # Links and e-mail addresses still say nothing; a scoped npm package is no address.
    assert "example" not in goal_terms("see https://example.org/a and write to bob@example.org")
    assert "librar" in goal_terms("npm install @testing-library/react@14.0.0 fails")


def test_a_set_aside_file_name_is_no_literal() -> None:
    assert goal_literals("flake8 fails. ignoring setup.py, what else is there?") == []
    assert goal_literals("what fails in setup.py?") == ["setup.py"]


def test_many_lines_set_aside_leave_the_rest_no_larger_a_share() -> None:
    # markdownlint over 30 pages: three line-length findings per page, two others; the goal wants one
    # page's others. Pushed far down, the line-length rows (the majority) made every other row stand
    # out at the default policy (kept 0.46 of the real output); just below the rest, they do not.
    fence = "MD040/fenced-code-language Fenced code blocks should have a language specified"
    blank = "MD031/blanks-around-fences Fenced code blocks should be surrounded by blank lines"
    rows = []
    for k in range(30):
        page = "faqs" if k == 17 else f"page{k:02d}"
        rows += [
            f"docs/{page}.md:{n} MD013/line-length Line length [Expected: 80; Actual: {90 + n}]"
            for n in (3, 9)
        ]
        rows += [
            f"docs/{page}.md:14 {fence}",
            f"docs/{page}.md:27 MD013/line-length Line length",
            f"docs/{page}.md:33 {blank}",
        ]
    text = "\n".join(rows) + "\n"
    goal = "Leaving line length aside, what does markdownlint flag in the FAQ page?\nmarkdownlint docs"
    _, out = prune(text, goal, "search")
    assert f"docs/faqs.md:14 {fence}" in out.split("\n")
    assert len(out) < 0.3 * len(text)
