"""Goals that name a kind of change rather than its lines: the idioms such a change touches.

"Port to Python 3", "Make waflib compatible with Python 3.11" or "Fix CVE-2025-64486" names no line
of the file, yet a reader who knows the kind of change knows where to look:

- a move to Python 3: the Python 2 idioms that lib2to3's fixers rewrite (``print x``,
  ``except E, e:``, ``dict.has_key``, ``urllib2``);
- a move to a newer Python 3: the APIs a release removed or now warns about
  (``inspect.getargspec`` in 3.11, ``distutils`` in 3.12, a ``"\\d"`` escape in a plain string);
- a security fix: the sinks a reviewer reads first, code run from data (``eval``, a shell,
  ``pickle``, ``yaml.load``) and paths built from it (``os.path.join``, ``extractall``, ``..``).

Each family of idioms counts as one more goal term, with the same rarity weighting as the goal's
words: an idiom on three lines of a file points at them; one on every line (``print`` in a script
that prints) says little. A family's lines are found by substring (``str.find``, for the names the
text holds at all), then checked with its pattern line by line.

Only a goal that names such a change turns this on (``goal_families``); any other goal costs three
regular-expression searches of the goal. A text that already runs on both Pythons gets no Python 2
idioms: its ``if PY2:`` branches are kept on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sidecar.pruning.engine.chunking import keyword_lines

# A goal about Python 2 -> 3 ("Port to Python 3", "Use 2to3", "py3: fix ...", "python3 compatibility").
_PORT_GOAL = re.compile(r"\b(?:python\s?3|py3k?|2to3|python\s?2|py2|python3)(?![.\d])", re.I)
# A goal about a newer Python 3 release, or about what releases remove and warn about.
_NEWER_GOAL = re.compile(
    r"\b(?:python\s?3\.\d+|py\s?3\.?\d+|python3\.\d+|newer python|new python|distutils|deprecat\w*"
    r"|syntaxwarning|removed in python|invalid escape)",
    re.I,
)

# A goal about a security fix: an advisory id, or the words advisories use.
_SECURITY_GOAL = re.compile(
    r"\bCVE-\d|\bGHSA-|\bRUSTSEC-|secur|vulnerab|exploit|inject|travers|\bXSS\b|CSRF|\bDoS\b"
    r"|denial of service|overflow|saniti|\bRCE\b|redos",
    re.I,
)

# Python 2 idioms, by lib2to3 fixer family (``fix_print``, ``fix_except``, ...): the lowercase
# substrings that find candidate lines fast (``str.find`` on the lowered text), and the pattern (case
# as written) a candidate line must match.
_Family = tuple[tuple[str, ...], str]
# Python 2 modules renamed or gone in 3 (``fix_imports``, ``fix_urllib``): imported or used as ``m.``.
_MODULES_2 = (
    "urllib2 urlparse cPickle cStringIO StringIO ConfigParser Queue Tkinter tkMessageBox tkFileDialog "
    "httplib cookielib Cookie BaseHTTPServer SimpleHTTPServer SocketServer HTMLParser htmlentitydefs "
    "xmlrpclib commands __builtin__ copy_reg anydbm dbhash popen2"
).split()


def _modules(names: list[str]) -> _Family:
    """Return the family of modules ``names``: imported (``import m``, ``from m ``) or used (``m.``)."""
    needles = tuple(n for m in map(str.lower, names) for n in (f"import {m}", f"from {m} ", f"{m}."))
    return needles, r"(?<![\w.])(?:" + "|".join(names) + r")\b"


_BUILTINS_2 = (
    "xrange unicode basestring raw_input execfile unichr long cmp apply buffer intern coerce reload file"
).split()
_PORT: dict[str, _Family] = {
    "print": (("print",), r"^\s*print(?:\s+[^\s(=.,)]|\s*>>|\s*$)"),
    "except": (("except",), r"^\s*except\s+[^:]+,\s*\w+\s*:"),
    "raise": (("raise",), r"^\s*raise\s+[\w.]+\s*,"),
    "exec": (("exec",), r"^\s*exec\s+[\"'\w]"),
    "repr": (("`",), r"`[^`]+`"),
    "ne": (("<>",), r"\w\s*<>\s*\w"),
    "unicode_literals": (("u'", 'u"'), r"(?<![\w\"'])[uU][rR]?[\"']"),
    "has_key": ((".has_key(",), ""),
    "dict": ((".iteritems(", ".iterkeys(", ".itervalues(", ".viewitems(", ".viewkeys(", ".viewvalues("), ""),
    "builtins": (
        tuple(f"{b}(" for b in _BUILTINS_2) + ("basestring", "unicode)"),
        r"(?<![\w.])(?:" + "|".join(_BUILTINS_2) + r")\b(?!\s*=)",
    ),
    "next": ((".next()",), ""),
    "attrs": (
        (".func_", ".im_"),
        r"\.(?:func_(?:name|code|defaults|globals|closure|doc|dict)|im_(?:func|self|class))\b",
    ),
    "sys": (
        ("sys.maxint", "sys.exc_type", "sys.exc_value", "sys.exc_clear", "setdefaultencoding", "getcwdu"),
        "",
    ),
    "dunder": (
        ("__nonzero__", "__unicode__", "__div__", "__idiv__", "__cmp__", "__metaclass__", "__getslice__"),
        "",
    ),
    "string": (
        ("string.",),
        r"(?<![\w.])string\.(?:letters|lowercase|uppercase|maketrans|join|split|replace|atoi|atof|strip|find|lower|upper)\b",
    ),
    "modules": _modules(_MODULES_2),
    "itertools": (
        ("izip", "imap(", "ifilter", "urllib.url", "urllib.quote", "urllib.unquote"),
        r"\b(?:izip|imap|ifilter|izip_longest)\b|\burllib\.(?:url|quote|unquote)",
    ),
    "codecs": (
        ("code('hex", 'code("hex', "string_escape", "string-escape", "code('base64", 'code("base64'),
        "",
    ),
    "types": (("types.",), r"\btypes\.\w+Type\b"),
    "message": ((".message",), r"\b(?:e|exc|err|ex|error|exception)\.message\b"),
}

# APIs that Python 3 releases removed (3.8-3.13) or warn about, and the syntax they now warn of.
_MODULES_3 = (
    "distutils imp asynchat asyncore smtpd cgi cgitb pipes crypt nntplib telnetlib uu xdrlib msilib audioop "
    "aifc imghdr mailcap nis ossaudiodev sndhdr spwd sunau pkg_resources formatter binhex lib2to3"
).split()
_APIS_3 = (
    "getargspec formatargspec time.clock linux_distribution platform.dist cgi.escape encodestring "
    "decodestring isAlive getchildren getiterator readPlist writePlist fractions.gcd SafeConfigParser readfp "
    "locale.format lgettext ldgettext lngettext ldngettext bind_textdomain_codeset utcnow utcfromtimestamp "
    "wrap_socket match_hostname ImpImporter find_module load_module setDaemon currentThread activeCount "
    "splitunc sre_parse sre_compile sre_constants b2a_hqx a2b_hqx asyncio.coroutine asyncio.async "
    "get_event_loop getcheckinterval setcheckinterval resetlocale enable_shared_cache OpenWrapper"
).split()
_ASSERTS_3 = (
    "assertEquals assertNotEquals assertItemsEqual assertRegexpMatches assertNotRegexpMatches "
    "assertRaisesRegexp assertAlmostEquals assertNotAlmostEquals assert_ failUnless failIf makeSuite "
    "findTestCases getTestCaseNames"
).split()
_ABCS = (
    "Mapping MutableMapping Sequence MutableSequence Iterable Iterator Callable Hashable Sized Container"
).split()
_NEWER: dict[str, _Family] = {
    "modules": _modules(_MODULES_3),
    "apis": (
        tuple(a.lower() for a in _APIS_3),
        r"(?<![\w])(?:" + "|".join(a.replace(".", r"\.") for a in _APIS_3) + r")\b",
    ),
    "unittest": (tuple(a.lower() for a in _ASSERTS_3), r"\b(?:" + "|".join(_ASSERTS_3) + r")\b"),
    "abcs": (
        ("collections",),
        r"collections\.(?:"
        + "|".join(_ABCS)
        + r")\b|from\s+collections\s+import\s.*\b(?:"
        + "|".join(_ABCS)
        + r")\b",
    ),
    "escapes": (("\\",), r"(?<![rRbB\\\w])[\"'][^\"']*?(?<!\\)\\[dDsSwWbB.()\[\]{}|+*?^$/ -]"),
    # The "U" (universal newlines) file mode, refused by open() since 3.11: ``open(f, 'rU')``, ``'rbU'``.
    "open_mode": (
        tuple(f"{q}{m}{q}" for m in ("ru", "rbu") for q in "'\""),
        r"(?<![\w])[\"'][rbt+]*U[rbt+]*[\"']",
    ),
    "is_literal": ((" is ",), r"\bis\s+(?:not\s+)?(?:[\"']|\d|\(\))|(?:[\"']|\b\d+)\s+is\s+(?:not\s+)?\w"),
}

# Security sinks, in any language: code run from data, and paths built from it (``path.join`` finds
# ``os.path.join`` and Go's ``filepath.Join`` too). Escaping and redirects were measured as well: they
# name too many lines that a fix leaves alone.
_SECURITY: dict[str, _Family] = {
    "exec": (
        (
            "eval(", "exec(", "subprocess", "os.system", "shell=", "pickle", "yaml.load", "marshal",
            "child_process", "exec.command", "popen", "unsafe", "innerhtml", "dangerouslysetinnerhtml",
            "new function",
        ),
        r"(?i)\beval\(|\bexec\(|subprocess|os\.system|shell\s*=|pickle|yaml\.load|marshal|child_process"
        r"|exec\.Command|popen|unsafe|innerHTML|dangerously|new Function",
    ),
    "paths": (
        (
            "path.join", "abspath", "realpath", "normpath", "filepath.clean",
            "path.resolve", "extractall", "extract(", "'..'", '".."', "symlink", "readlink",
        ),
        "",
    ),
}  # fmt: skip

FAMILY_WEIGHT = 1.0  # an idiom family counts like one word of the goal's first line


_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")
# Every other ASCII byte becomes a space, so a text's identifiers are its bytes split on whitespace.
_SPACES = bytes.maketrans(
    bytes(b for b in range(128) if b not in _WORD_BYTES), b" " * (128 - len(_WORD_BYTES))
)


class Family:
    """One family of idioms: candidate lines by substring, confirmed by a pattern.

    A substring is searched only when the text holds every identifier in it as a whole identifier
    (its ``vocabulary``): ``unsafe`` is Go's and Rust's, not a part of ``mark_unsafe``. Most files
    hold few of a family's names, and one pass collecting a text's identifiers costs less than a
    hundred fruitless searches.
    """

    def __init__(self, needles: tuple[str, ...], pattern: str) -> None:
        self.needles = [(n, frozenset(w.encode() for w in _IDENT.findall(n))) for n in needles]
        self.pattern = re.compile(pattern) if pattern else None

    def lines(
        self, lines: Sequence[str], low: str, offsets: list[int], vocabulary: frozenset[bytes]
    ) -> list[int]:
        """Return the lines (0-based, ascending, distinct) holding this family's idiom."""
        found = keyword_lines(low, offsets, [needle for needle, names in self.needles if names <= vocabulary])
        if self.pattern is None:
            return sorted(found)
        search = self.pattern.search
        return sorted(i for i in found if search(lines[i]))


def vocabulary(low: str) -> frozenset[bytes]:
    """Return the ASCII identifiers of a lowered text (what ``Family.lines`` looks for first).

    Bytes, split at every other character: twice as fast as a regular expression's ``findall``.
    """
    return frozenset(low.encode("ascii", "replace").translate(_SPACES).split())


_PORT_FAMILIES = {f"py2:{k}": Family(*v) for k, v in _PORT.items()}
_NEWER_FAMILIES = {f"py3:{k}": Family(*v) for k, v in _NEWER.items()}
_SECURITY_FAMILIES = {f"security:{k}": Family(*v) for k, v in _SECURITY.items()}


# A text that already runs on both Pythons tells them apart (``if PY2:``, ``six.``, ``sys.version_info``):
# its Python 2 idioms sit in branches kept on purpose, and a goal naming Python 3 is about something else.
_PORTED = ("PY2", "PY3", "six.", "version_info", "hexversion")


def goal_families(goal: str, text: str) -> dict[str, Family]:
    """Return the idiom families that a goal about a kind of change to ``text`` asks for, by name."""
    out: dict[str, Family] = {}
    if _PORT_GOAL.search(goal) and not any(map(text.__contains__, _PORTED)):
        out.update(_PORT_FAMILIES)
    if _NEWER_GOAL.search(goal):
        out.update(_NEWER_FAMILIES)
    if _SECURITY_GOAL.search(goal):
        out.update(_SECURITY_FAMILIES)
    return out


def idiom_lines(
    goal: str, text: str, lines: Sequence[str], low: str, offsets: list[int]
) -> dict[str, list[int]]:
    """Return the lines of each idiom family ``goal`` asks for (none for most goals), by family name."""
    families = goal_families(goal, text)
    if not families:
        return {}
    names = vocabulary(low)
    return {name: f.lines(lines, low, offsets, names) for name, f in families.items()}
