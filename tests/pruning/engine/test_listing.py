"""Listings: where each row is (its ls -R heading, its parent rows in a tree) is found and kept."""

from __future__ import annotations

from sidecar.pruning.engine.keepstate import KeepState
from sidecar.pruning.engine.listing import anchors
from sidecar.pruning.engine.orient import orient
from sidecar.pruning.types import PruneOptions, PruneRequest
from tests.pruning.engine.samples import prune

NPM_LS = """/usr/lib
├── corepack@0.34.6
└─┬ npm@11.19.1
  ├─┬ @npmcli/arborist@9.9.1
  │ ├── @gar/promise-retry@1.0.3
  │ └── semver@7.8.5 deduped
  └── which@6.0.1"""


def test_anchors_of_trees_sections_and_flat_rows() -> None:
    assert anchors(NPM_LS.split("\n")) == [-1, 0, 0, 2, 3, 3, 2]
    tree = ["/srv", "├── pkg", "│\xa0\xa0 └── a.py", "└── b.py", "", "2 directories, 2 files"]
    assert anchors(tree) == [-1, 0, 1, 0, -1, -1]
    ls_r = ["./a:", "x.py", "y.py", "", "./a/b:", "z.py"]
    assert anchors(ls_r) == [-1, 0, 0, -1, -1, 4]
    assert anchors(["/usr/lib/a.py", "/usr/lib/b.py"]) == [-1, -1]  # find: rows stand alone


def test_a_kept_row_keeps_its_parents_under_a_tight_ratio() -> None:
    rows = ["/usr/lib", "└─┬ npm@11.19.1"]
    for k in range(60):
        rows.append(f"  ├─┬ dep{k}@1.{k}.0")
        rows += [f"  │ ├── leaf{k}x{j}@2.{j}.0 deduped" for j in range(5)]
        if k == 41:
            rows.append("  │ └─┬ minipass@7.1.2")
            rows.append("  │   └── yallist@5.0.0")
    text = "\n".join(rows) + "\n"
    for keep in (0.2, None):  # scored up with their row; kept by orientation under the default policy
        _, out = prune(text, "which yallist version is installed?", "listing", keep=keep)
        kept = set(out.split("\n"))
        assert "  │   └── yallist@5.0.0" in kept
        assert {"  │ └─┬ minipass@7.1.2", "  ├─┬ dep41@1.41.0", "└─┬ npm@11.19.1"} <= kept


def test_orientation_keeps_where_each_kept_row_is() -> None:
    lines = NPM_LS.split("\n")
    state = KeepState(len(lines), [len(line) + 1 for line in lines], 0)
    state.add(5)  # "  │ └── semver@7.8.5 deduped"
    request = PruneRequest(
        text=NPM_LS, goal="semver", source_type="listing", options=PruneOptions(), prune_id="x" * 26
    )
    added = orient(lines, state, request, 10_000, [0.0] * len(lines))
    assert added == {3, 2, 0} and [i for i, k in enumerate(state.keep) if k] == [0, 2, 3, 5]


def test_a_goal_naming_no_row_keeps_the_listing_whole() -> None:
    find = "\n".join(f"./src/pkg{k}/mod{j}.py" for k in range(40) for j in range(5)) + "\n"
    keep, out = prune(find, "look around the repository and tell me how it is organised", "listing")
    assert all(keep) and out == find  # exploring: nothing stands out, nothing to cut


def test_a_flat_listings_rows_stand_alone() -> None:
    # git branch -vv: "* master" is the current branch, not the parent of the rows below it, and a
    # matching row's neighbours are unrelated branches: each row scores on its own words.
    rows = [f"  feature-{k:02d}{' ' * 20}{k:07x}a [origin/feature-{k:02d}] wip on {k}" for k in range(40)]
    for k in (5, 17, 29):
        rows[k] = rows[k].replace(
            f"[origin/feature-{k:02d}]", f"[origin/feature-{k:02d}: behind {k % 4 + 1}]"
        )
    rows[12] = "* master" + rows[12][8:]
    lines = rows + [""]
    assert anchors(lines) == [-1] * len(lines)
    for keep in (None, 0.3):
        kept, _ = prune(
            "\n".join(lines), "Which of my local branches are behind their upstream?", "listing", keep
        )
        assert all(kept[k] for k in (5, 17, 29)), keep
        assert sum(kept) < 0.4 * len(lines), keep
