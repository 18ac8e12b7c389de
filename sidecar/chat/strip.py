"""Prompt stripping: drop what a model does not need to read, never the code.

Outside fenced code blocks (and outside inline code spans) it removes, in English and French:
courtesy boilerplate ("please", "could you kindly", "thank you in advance", "s'il vous plaît",
"merci d'avance", greetings and sign-offs), instructions already given earlier in the request,
ANSI escape codes, terminal progress-bar noise (carriage-return redraws, runs of progress lines
collapsed to the last one) and redundant whitespace. The inside of a fenced block, fences included, is
byte-identical. Only prompt roles are stripped (system, developer, user); a model's earlier answers and
tool outputs are left alone, and so is any text over ``MAX_STRIP_CHARS`` (256 KiB: pasted data, not a
prompt; stripping costs about a second per megabyte).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec

from sidecar.chat.body import PROMPT_ROLES, ChatBody, map_content, role_of
from sidecar.tokens import estimate_tokens

_OPEN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_INLINE_CODE = re.compile(r"(`+)[^`\n]+?\1")
_BAR_RUN = re.compile(r"[█▉▊▋▌▍▎▏#=━─>■]{3,}")
_PERCENT = re.compile(r"\d{1,3}(?:\.\d+)?\s?%")
_RATE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:it/s|s/it|[kKMG]i?B/s)\b")
_BRACKET_BAR = re.compile(r"\[[=#>.\- ]{8,}\]")
_SPINNER = frozenset("⠁⠂⠄⡀⢀⠠⠐⠈⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏◐◓◑◒")
_CODE_LINE = re.compile(
    r"[;{}]\s*$|==|=>|->|\)\s*:\s*$"
    r"|^(?:def|class|import|from \S+ import|return|if .*:$|for .*:$|#include|function|const|let|var)\b"
)
_NOT_PROSE = re.compile(r"[\"=(){}\[\]<>/\\_]")
_LOG_LINE = re.compile(r"^\s*(?:\[?\d{2,4}[-/:.]\d{2}|\[?(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b)")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_BLANK_RUN = re.compile(r"\n{3,}")
_INNER_SPACE = re.compile(r"(?<=\S)[ \t]{2,}")

_AP = "['’]"  # French elision: both apostrophes are common
_START = r"(?:^|(?<=[.!?:;] ))"
# Whole sentences that carry no instruction.
_COURTESY_SENTENCE = re.compile(
    r"^(?:"
    r"(?:hi|hello|hey|greetings|dear \w+|good (?:morning|afternoon|evening))"
    r"(?: there| team| all| everyone| folks)?"
    r"|(?:many |a lot of )?thanks?(?: you)?(?: so much| very much| a lot| a ton)?(?: again)?(?: in advance)?"
    r"(?: for (?:your|the|all your|all the|any) (?:help|time|assistance|patience|support|suggestions)"
    r"(?: and (?:help|time|patience|support))?)?"
    r"|(?:i )?hope (?:this|that|it) (?:helps|makes sense|is clear)"
    r"|(?:i )?hope you(?:'re| are) (?:doing )?(?:well|fine|good|great)(?: today)?"
    r"|(?:best|kind|warm)(?: regards)?|regards|cheers|have a (?:nice|great|good) day"
    r"|any help (?:would be|is|will be) (?:greatly |much |really |very much )?appreciated"
    r"|i (?:really |truly )?appreciate (?:it|your help|the help|your time)"
    r"|looking forward to (?:your|the|hearing)[\w ]{0,20}"
    r"|sorry (?:for|about) (?:the|this) (?:long|lengthy) (?:message|question|post|prompt)"
    r"|let me know if you (?:need|have|want) (?:any )?(?:more|further|other|additional)? ?"
    r"(?:info|information|details|context|questions)"
    r"|bonjour(?: à (?:tous|toi|vous))?|salut(?: à tous)?|bonsoir"
    r"|merci(?: beaucoup| bien| infiniment| encore)?(?: d" + _AP + r"avance| par avance)?"
    r"(?: (?:pour|de) (?:votre|ton|ta|vos|tes) (?:aide|temps|patience|réponse|compréhension))?"
    r"|je vous remercie(?: d" + _AP + r"avance| par avance)?(?: pour votre (?:aide|temps|patience))?"
    r"|cordialement|bien à (?:vous|toi)|bonne (?:journée|soirée)|à bientôt"
    r"|j" + _AP + r"espère que (?:cela|ça|c" + _AP + r"est) (?:aide|vous aide|t" + _AP + r"aide|clair)"
    r"|j" + _AP + r"espère que (?:vous allez|tu vas) bien"
    r"|toute aide (?:est|sera) (?:la bienvenue|appréciée|grandement appréciée)"
    r"|désolée? pour (?:la longueur|ce long message|le long message)"
    r"|n" + _AP + r"hésitez pas (?:à|si)[^.!?]{0,60}"
    r")[\s.!,:;)]*$",
    re.IGNORECASE,
)
# Politeness wrapped around an instruction: removed, the instruction kept.
_COURTESY_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE | re.MULTILINE), " ")
    for p in (
        _START + r"(?:hi|hello|hey|good (?:morning|afternoon|evening))"
        r"(?: there| team| all| everyone)?\s*[,!]+\s*",
        r"\bi hope you(?:'re| are) (?:doing )?(?:well|fine|good|great)(?: today)?\s*[.!,]*\s*",
        _START + r"(?:i was wondering if|i(?:'d| would) (?:really |greatly )?appreciate (?:it )?if) "
        r"you (?:could|can|would) (?:please )?",
        _START + r"i(?:'d| would) be (?:very |really |so |most )?(?:grateful|thankful) if you could ",
        _START + r"(?:could|can|would|will) you (?:please |kindly )?(?:help me |try to )?(?:to )?"
        r"(?=[a-z])",
        _START + r"(?:i(?:'d| would) like you to|i want you to) ",
        r",?\s*if (?:it(?:'s| is) not too much trouble|you don't mind|possible|you can)\s*(?=[,.!?]|$)",
        _START + r"(?:if you don't mind|when you (?:get a chance|have a moment|have time)),?\s*",
        r"\bsorry to bother you(?: again)?\s*[,.!]*\s*",
        r"\bplease\b,?\s*",
        r"\bkindly\s+",
        r",?\s*\bs" + _AP + r"il (?:vous|te) pla[iî]t\b,?",
        r",?\s*\b(?:svp|stp)\b,?",
        _START + r"(?:est-ce que )?(?:vous pourriez|tu pourrais|pourriez-vous|pourrais-tu|"
        r"vous pouvez|tu peux|peux-tu|pouvez-vous)(?: s" + _AP + r"il (?:vous|te) pla[iî]t)?\s+",
        _START + r"(?:auriez-vous|aurais-tu) l" + _AP + r"amabilité (?:de\s+|d" + _AP + ")",
        _START + r"(?:je vous prie de"
        r"|merci de (?=(?:ne pas |ne jamais |toujours |bien )?[a-zé]+(?:er|ir|re)\b)"
        r"|merci d['’](?=[a-zé]+(?:er|ir|re)\b))\s*",
        r",?\s*si (?:possible|cela ne vous dérange pas|ça ne te dérange pas)\s*(?=[,.!?]|$)",
        r"\bgentiment\s+",
    )
]
_BAR_LABEL = re.compile(r"[^\d█▉▊▋▌▍▎▏#=━─>■\[|]*")
_QUESTION_OPENER = re.compile(
    r"\s*(?:(?:could|can|would|will) you|(?:est-ce que )?(?:vous pourriez|tu pourrais|vous pouvez|tu peux)"
    r"|pourriez-vous|pourrais-tu|peux-tu|pouvez-vous|auriez-vous|aurais-tu)\b",
    re.IGNORECASE,
)
# Texts longer than this are not prompts but pasted data: never stripped. Stripping runs about 24 regex
# passes at ~1 us per character in all, each pass holding the GIL: 256 KiB bounds one pass to ~10 ms.
MAX_STRIP_CHARS = 256 * 1024
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


class StripResult(msgspec.Struct, frozen=True, kw_only=True):
    tokens_before: int
    tokens_after: int

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


def split_fenced(text: str) -> Iterator[tuple[bool, str]]:
    """Yield (is_code, segment) in order; code segments are whole fenced blocks, fences included."""
    prose: list[str] = []
    code: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        if fence:
            code.append(line)
            stripped = line.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]} and line[:4].strip() != "":
                yield True, "".join(code)
                code, fence = [], ""
            continue
        match = _OPEN_FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in line[match.end() :]):
            if prose:
                yield False, "".join(prose)
                prose = []
            fence = match.group(1)
            code = [line]
            continue
        prose.append(line)
    if code:
        yield True, "".join(code)  # an unclosed fence runs to the end, as in CommonMark
    if prose:
        yield False, "".join(prose)


def _redraw(line: str) -> str:
    """Keep what a terminal would show after carriage-return redraws."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p.strip()]
    return parts[-1] if parts else ""


def _is_progress(line: str) -> bool:
    """Tell a terminal progress line (bar with a percentage, transfer rate, spinner) from text."""
    # Cheap character tests first: this runs on every prose line.
    if "%" in line and _PERCENT.search(line) and _BAR_RUN.search(line):
        return True
    if "/s" in line and _RATE.search(line):
        return True
    if "[" in line and _BRACKET_BAR.search(line):
        return True
    head = line.lstrip()[:2]
    return bool(head) and head[0] in _SPINNER and (len(head) == 1 or head[1] == " ")


def _bar_label(line: str) -> str:
    match = _BAR_LABEL.match(line.strip().lstrip("⠁⠂⠄⡀⢀⠠⠐⠈⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "))
    return match.group(0) if match else ""


def _strip_courtesy(sentence_line: str) -> str:
    out: list[str] = []
    for sentence in _SENTENCE_SPLIT.split(sentence_line):
        if _COURTESY_SENTENCE.match(sentence.strip()):
            continue
        new = sentence
        for pattern, repl in _COURTESY_PHRASES:
            new = pattern.sub(repl, new)
        if new != sentence:
            new = re.sub(r"^[\s,;]+", "", new)
            new = re.sub(r"\s+([,.!?])", r"\1", re.sub(r"\s{2,}", " ", new)).strip()
            new = re.sub(r",+([.!?])", r"\1", new)
            if _QUESTION_OPENER.match(sentence) and new.endswith("?"):
                new = new[:-1].rstrip() + "."  # the question was a request: now an instruction
            if new and sentence.lstrip()[:1].isupper():
                new = new[0].upper() + new[1:]
            if not re.search(r"\w", new):
                continue
        out.append(new)
    return " ".join(out)


def _normalise(sentence: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())


class Stripper:
    """Strips the prompts of one request; remembers instructions across its messages."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def prose(self, text: str) -> str:
        """Strip one prose segment (no fenced code in it)."""
        trailing_newline = text.endswith("\n")
        text = _ANSI.sub("", text.replace("\r\n", "\n"))
        lines: list[str] = []
        progress_run = ""
        for raw in text.split("\n"):
            line = _redraw(raw)
            if _is_progress(line):
                # A run of redraws of one bar keeps only its last state; another bar starts a new run.
                if progress_run and _bar_label(progress_run) != _bar_label(line):
                    lines.append(progress_run.strip())
                progress_run = line
                continue
            if progress_run:
                lines.append(progress_run.strip())
                progress_run = ""
            new = self._line(line)
            if new is not None:
                lines.append(new)
        if progress_run:
            lines.append(progress_run.strip())
        body = _BLANK_RUN.sub("\n\n", "\n".join(lines))
        if trailing_newline and not body.endswith("\n"):
            body += "\n"
        return body

    def _line(self, line: str) -> str | None:
        """Return the stripped line, "" for a blank line, None for a line stripping emptied."""
        if not line.strip():
            return ""
        spans: list[str] = []

        def hide(match: re.Match[str]) -> str:
            spans.append(match.group(0))
            return f"\x00{len(spans) - 1}\x00"

        indent = line[: len(line) - len(line.lstrip())]
        work = _INNER_SPACE.sub(" ", _INLINE_CODE.sub(hide, line.strip()))
        if not (_LOG_LINE.match(work) or _CODE_LINE.search(work)):
            work = self._dedupe(_strip_courtesy(work))
        restored = _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], work).rstrip()
        return indent + restored if restored else None

    def _dedupe(self, line: str) -> str:
        kept: list[str] = []
        for sentence in _SENTENCE_SPLIT.split(line):
            key = _normalise(sentence)
            # Short sentences repeat naturally ("Yes."); two words and a dozen letters are an instruction.
            if len(key.split()) >= 2 and len(key) >= 12 and not _NOT_PROSE.search(sentence):
                if key in self.seen:
                    continue
                self.seen.add(key)
            kept.append(sentence)
        return " ".join(kept)


def strip_prompt(text: str, stripper: Stripper | None = None) -> str:
    """Strip one prompt text (see the module docstring); fenced blocks stay byte-identical."""
    stripper = stripper or Stripper()
    segments = list(split_fenced(text))
    out: list[str] = []
    for i, (is_code, segment) in enumerate(segments):
        if is_code:
            out.append(segment)
            continue
        new = stripper.prose(segment)
        if i == 0:
            new = new.lstrip()
        if i == len(segments) - 1:
            new = new.rstrip()
        out.append(new)
    return "".join(out)


def strip_body(body: ChatBody) -> StripResult:
    """Strip the prompt texts of a chat body in place; report estimated tokens before and after."""
    stripper = Stripper()
    before = after = 0

    def apply(text: str) -> str:
        nonlocal before, after
        if len(text) > MAX_STRIP_CHARS:
            return text  # data, not a prompt: left as it is (stripping costs ~1 s per MB)
        new = strip_prompt(text, stripper)
        before += estimate_tokens(text)
        after += estimate_tokens(new)
        return new

    system = body.fields.get("system")
    if system is not None:
        new_system = map_content(system, apply)
        if new_system is not None:
            body.set_raw("system", bytes(new_system))
    messages = body.messages()
    if messages is not None:
        changed = False
        for message in messages:
            content = message.get("content")
            if content is None or role_of(message) not in PROMPT_ROLES:
                continue
            new_content = map_content(content, apply)
            if new_content is not None:
                message["content"] = new_content
                changed = True
        if changed:
            body.set_messages(messages)
    return StripResult(tokens_before=before, tokens_after=after)
