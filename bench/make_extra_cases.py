#!/usr/bin/env python3
"""Build held-out pruning cases from Debian patch series (no git history needed).

Each Debian source package carries ``debian/patches/*.patch`` with a DEP-3 header
(``Description:``/``Subject:``: what the patch does) and a diff against upstream files. Applying
the series in order, each patch gives cases exactly like ``../shared/bench/make_prune_cases.py``:
goal = the patch description, text = a source file just before the patch, gold = the lines the
patch changed (for a pure insertion, the line before it), trivial lines excluded, 150-2500 lines,
1-30 gold lines, test files skipped, at most 3 files per patch.

usage: make_extra_cases.py UPSTREAM.tar.gz DEBIAN.debian.tar.xz NAME > cases.jsonl

Inputs used for bench/data/extra_cases.jsonl (upstream from `pip download --no-binary :all:` or the
Debian .orig tarball, debian/ from `apt-get source --download-only`, bookworm):
flask 2.2.2, werkzeug 2.2.2, jinja2 3.1.2, urllib3 1.26.12, tornado 6.2, sphinx 5.3.0, markdown 3.4.1,
ansible-core 2.14.18, twisted 22.4.0, paramiko 2.12.0, sqlalchemy 1.4.46, pip 23.0.1, cryptography
38.0.4, mercurial 6.3.2. bench/data/extra_cases2.jsonl (built last, judged after tuning): gunicorn 20.1.0,
botocore 1.29.27, pymysql 1.0.2, xmltodict 0.13.0.
bench/data/extra_cases3.jsonl (18 cases, built by the second tuning round to check its changes on
code it never saw): lxml 4.9.2, pillow 9.4.0, python-multipart 0.0.5, sqlparse 0.4.2, pyjwt 2.6.0,
waitress 2.1.2 (bookworm security updates; upstream from the .orig tarball or PyPI's sdist).

bench/data/extra_cases4.jsonl (26 cases, built for issue 15 and scored once, after its tuning on the
other sets): Debian bookworm patch series of golang-golang-x-net 0.7.0, node-express 4.18.2,
node-handlebars 4.7.7, node-marked 4.2.3, node-tar 6.1.13, node-ua-parser-js 0.8.1 (upstream: the Debian
.orig tarball) and python-flask-cors 3.0.10 (upstream: PyPI's sdist): JavaScript, Go and Python.

bench/data/heldout/extra_cases5.jsonl (48 cases, built 2026-12-05 by someone who ran no pruner on it, scored
once, never tuned on): the first 4 cases of each of 26 Debian patch series (bookworm, or trixie where
bookworm's debian/ tarball was not on the mirror; upstream from the .orig tarball, PyPI's sdist or npm's
tarball of the same version): python-django, reportlab, aiohttp, pyramid, eventlet, ecdsa, pypdf, h11,
idna, pyyaml, httplib2, webob, asyncssh, node-babel7, node-webpack, npm, node-tar-fs, node-undici,
node-shell-quote, node-jquery, pdf.js, node-form-data, node-xterm, gin, runc, suricata (its Rust files):
24 Python, 15 JavaScript/TypeScript, 5 Go, 4 Rust.

bench/data/heldout/extra_cases6.jsonl (50 cases, built the same way later that day, after the -ion
rule, scored once): 33 Debian patch series, the first case of each Python package and the first 4 of
each Go or JavaScript one: prometheus, containerd, containers-image, etcd, syncthing, gh, docker.io,
rclone, nodejs, bootstrap 3, node-set-value, node-tmp, nbconvert, glance, nova, keystone, horizon, swift,
virtualenv, authlib, trio, jwcrypto, ironic, pdfminer, pyasn1, pymongo, internetarchive, oslo.messaging,
python-sql, starlette, tryton-server, suricata-update, electrum: 24 Python, 21 Go, 5 JavaScript.

bench/data/heldout/extra_cases7.jsonl (50 cases, built later that day by someone who ran no pruner on
it, never scored while building): 27 Debian patch series of packages in no earlier set, the first 2 cases
of each Python, Go and JavaScript package (packages taken in alphabetical order until the language's
share is reached) and the first 4 of each Rust one: astropy, beets, black, cairosvg, crmsh, cyborg,
deepdiff, djoser, fpdf2, gdown, mailman3, numpy, caddy, crowdsec, delve, docker-registry, git-lfs, incus,
kubernetes, angular.js, gettext.js, gnome-shell, node-nodeunit, polari, uglifyjs, firefox-esr (its Rust
files), rustc-web: 21 Python, 12 Go, 10 JavaScript, 7 Rust. The tool's other 220 cases for the packages
tried are in heldout/extra7_rest.jsonl (see extra_cases7.SOURCES.txt).

bench/data/heldout/extra_cases8.jsonl (50 cases, built later that day by someone who ran no pruner on
it, never scored while building): 28 Debian patch series of packages in no earlier set (bookworm-security,
bookworm, or trixie where bookworm's files were missing), the first 4 cases of each Rust and JavaScript
package and the first 2 of each Go and Python one (Python in alphabetical order until 50): 389-ds-base (its
Rust file), sccache, swayosd, golang-github-evanw-esbuild (its JS file), node-tap, bettercap, debos,
golang-github-klauspost-compress, golang-golang-x-tools, golang-google-protobuf, golang-gopkg-yaml.v3,
miniflux, privatebin-cli, prometheus-postgres-exporter, snapd, ansible, avahi, calibre, capstone, ceph,
emscripten, fail2ban, fonttools, freecad, gensim, glogic, hovercraft, hplip: 22 Python, 17 Go, 8 Rust,
3 JavaScript (few JS patches on the mirror gave cases). The tool's other 160 cases for these and the
other producing packages are in heldout/extra8_rest.jsonl (see extra_cases8.SOURCES.txt).

bench/data/heldout/extra_cases9.jsonl (46 cases, built later that day by someone who ran no pruner on it,
never scored while building): 34 Debian patch series of packages in no earlier set (bookworm-security,
bookworm, trixie, or bullseye's +deb11uN updates where the newer files were missing from the mirror), the
first 4 cases of each JavaScript package and the first 2 of each Go and Python one: grunt, lemonldap-ng,
node-cookiejar, node-object-path, request-tracker5, gobgp, golang-check.v1,
golang-github-disintegration-imaging, golang-github-fxamacker-cbor,
golang-github-google-certificate-transparency, golang-github-hashicorp-serf,
golang-github-mattn-go-runewidth, golang-github-minio-minio-go-v7, golang-github-opencontainers-specs,
golang-github-prometheus-client-golang, golang-github-prometheus-common, golang-github-prometheus-procfs,
golang-github-seccomp-libseccomp-golang, golang-github-xeipuuv-gojsonschema, golang-gvisor-gvisor,
dask.distributed, django-allauth, errands, flask-security, ganeti, grass, hdmi2usb-mode-switch, pandas,
python-django-imagekit, python-scrapy, python-websockets, pyx3, ros-ros-comm, spf-engine: 21 Python, 18 Go,
7 JavaScript, no Rust (no Rust package on the mirror gave a case). The tool's other 20 cases for these
packages are in heldout/extra9_rest.jsonl (see extra_cases9.SOURCES.txt).

bench/data/heldout/extra_cases10.jsonl (50 cases, built later that day by someone who ran no pruner on it,
never scored while building): 32 Debian patch series of packages in no earlier set (bookworm or trixie, every
upstream the Debian .orig), every source package not excluded asked in alphabetical order, the first 4 cases
of each Rust and JavaScript package and the first 2 of each Go and Python one (Go until 10 Go cases, Python
until 50): hx, node-es5-shim, node-eslint-plugin-requirejs, virtuoso-opensource, acmetool, cosign, gitaly,
golang-github-avast-apkverifier, golang-github-charmbracelet-bubbles, golang-github-charmbracelet-x,
golang-github-containers-toolbox, android-platform-external-boringssl, angrydd, arden, ardentryst,
astrometry.net, aubio, ayatana-webmail, blender-doc, bottleneck, busco, dm-tree, droidlysis, errbot, fasttext,
firmware-microbit-micropython, flask-paginate, fonts-monoid, freedict-tools, glances: 30 Python, 10 Go, 7
JavaScript, 3 Rust. The tool's other 25 cases for the packages tried are in heldout/extra10_rest.jsonl (see
extra_cases10.SOURCES.txt).

bench/data/heldout/extra_cases11.jsonl (50 cases, built later that day by someone who ran no pruner on it,
never scored while building): 37 Debian patch series of packages in no earlier set (bookworm or trixie, every
upstream the Debian .orig), continuing extra_cases10's alphabetical order (Go after
golang-github-hashicorp-go-checkpoint until 12 Go cases, Python after libsbml until 50), the first 2 cases of
each package (no JavaScript or Rust candidate was left to ask): golang-github-komkom-toml,
golang-github-protonmail-go-crypto, golang-github-roaringbitmap-roaring, golang-github-schollz-progressbar,
golang-github-thedevsaddam-gojsonq, golang-github-vmware-govmomi, golang-github-xenolf-lego, gomuks, pebble,
restic-rest-server, libvigraimpex, linphone, mapnik, metaphlan, microbegps, micropython, mockldap,
mongo-cxx-driver-legacy, nanolyse, neuron, nmap, ontospy, openems, openmm, openni, openshot-qt, pacparser,
pagekite, php-codeigniter-framework, pikepdf, pqconnect, psi4, psutils, py-macaroon-bakery, pygame, pymodbus,
pymol: 38 Python, 12 Go. The tool's other 21 cases for these packages are in heldout/extra11_rest.jsonl (see
extra_cases11.SOURCES.txt).

bench/data/heldout/extra_cases12.jsonl (50 cases, built later that day by someone who ran no pruner on it,
never scored while building): 35 Debian patch series of packages in no earlier set (bookworm or trixie,
upstream the Debian .orig, or PyPI's sdist of the same version where the .orig was not on the mirror),
continuing extra_cases11's order (Go after restic-rest-server: tftp-proxy and victoriametrics, the last two Go
candidates, gave 0 cases; Python first the four never run before libsbml, then after pymol until 50), the
first 2 cases of each package: pyside2, pysvn, python-apptools, python-asn1, python-casacore, python-fints,
python-fonticon-fontawesome6, python-fs, python-imapclient, python-iptables, python-jedi, python-mailer,
python-maxminddb, python-msmb-theme, python-pdbfixer, python-pyxs, pytroll-schedule,
qtdeclarative-opensource-src, re2, rocsparse, s3cmd, scid, sentencepiece, siconos, solaar, sortedcollections,
system-config-printer, telepathy-logger, termbox, transtermhp, tweepy, unhide, uwsgi, verilator,
virt-firmware: 50 Python. This exhausts extra_cases10's candidate pool. The tool's other 21 cases for the
packages run are in heldout/extra12_rest.jsonl (see extra_cases12.SOURCES.txt).

bench/data/self_cases.jsonl comes from this repository's own history, built with the shared builder
(`make_prune_cases.py .git sidecar/self 60 7`), minus the cases on the pruning engine's own files.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

EXTS = (".py", ".js", ".ts", ".rs", ".go")
PER_PATCH = 3
FIELDS = re.compile(
    r"^(Origin|Bug|Bug-Debian|Bug-Ubuntu|Author|From|Forwarded|Last-Update|Applied-Upstream|"
    r"Reviewed-by|Acked-by|Signed-off-by|Date|Index|Co-authored-by|CVE|Backported-by|Comment)"
    r"\s*:",
    re.I,
)


def trivial(line: str) -> bool:
    s = line.strip()
    return len(s) < 4 or not re.search(r"[A-Za-z0-9]", s) or s.startswith(("#", "//", "*", "/*", '"""'))


def goal_of(header: str) -> str:
    """Return the Description/Subject text of a DEP-3 or git format-patch header, other fields dropped."""
    out: list[str] = []
    field = ""
    for line in header.splitlines():
        m = re.match(r"^([A-Za-z][\w-]*):\s*(.*)", line)
        if m and not line[:1].isspace():
            field = m.group(1).lower()
            if field in ("description", "subject"):
                out.append(re.sub(r"^\[PATCH[^\]]*\]\s*", "", m.group(2)))
            continue
        if line.startswith("---"):
            break
        text = line.strip()
        if field in ("description", "subject") and not FIELDS.match(text):
            out.append("" if text == "." else text)
    goal = "\n".join(out).strip()
    goal = re.sub(r"\n{3,}", "\n\n", goal)
    return goal[:600]


def gold_lines(old: list[str], new: list[str]) -> list[int]:
    gold: set[int] = set()
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, _j1, _j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        rng = range(i1 + 1, i2 + 1) if i2 > i1 else [max(i1, 1)]
        for ln in rng:
            if 1 <= ln <= len(old) and not trivial(old[ln - 1]):
                gold.add(ln)
    return sorted(gold)


def extract(tar: str, dest: Path, strip_top: bool) -> None:
    with tarfile.open(tar) as tf:
        for m in tf.getmembers():
            parts = Path(m.name).parts
            if strip_top:
                parts = parts[1:]
            if not parts or ".." in parts or not (m.isfile() or m.isdir()):
                continue
            m.name = str(Path(*parts))
            tf.extract(m, dest, filter="data")


def main() -> None:
    upstream, debian, name = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        root.mkdir()
        extract(upstream, root, strip_top=True)
        extract(debian, root, strip_top=False)
        series = root / "debian" / "patches" / "series"
        if not series.exists():
            return
        for entry in series.read_text().splitlines():
            entry = entry.split("#")[0].strip().split(" ")[0]
            if not entry:
                continue
            patch = root / "debian" / "patches" / entry
            body = patch.read_text(errors="replace")
            cut = re.search(r"^(---\s|diff |Index: )", body, re.M)
            header = body[: cut.start()] if cut else ""
            goal = goal_of(header)
            paths = sorted(
                {
                    p
                    for p in re.findall(r"^\+\+\+ (?:b/)?(\S+)", body, re.M)
                    if p.endswith(EXTS) and "test" not in p.lower() and "/doc" not in p
                }
            )
            before = {p: (root / p).read_text(errors="replace") for p in paths if (root / p).exists()}
            res = subprocess.run(
                ["patch", "-p1", "-N", "--batch", "-s", "-i", str(patch)],
                cwd=root,
                capture_output=True,
                text=True,
            )
            if res.returncode != 0 or len(goal) < 15:
                continue
            taken = 0
            for p, old in before.items():
                if taken >= PER_PATCH:
                    break  # spread cases over patches, as make_prune_cases.py spreads them over files
                new = (root / p).read_text(errors="replace")
                lines = old.splitlines()
                if not (150 <= len(lines) <= 2500):
                    continue
                gold = gold_lines(lines, new.splitlines())
                if not (1 <= len(gold) <= 30):
                    continue
                taken += 1
                print(
                    json.dumps(
                        {
                            "id": f"debian/{name}:{entry}:{p}",
                            "repo": f"debian/{name}",
                            "commit": entry,
                            "path": p,
                            "goal": goal,
                            "text": old,
                            "gold_lines": gold,
                        }
                    )
                )


if __name__ == "__main__":
    main()
