# SPDX-License-Identifier: Apache-2.0
"""What a person wrote in a reply by mail: the body's text, their own lines, the bare subject.

Moderators answer held-post notices, newcomers send commands or answer
confirmation mail, from any mail client: top-posted above a "> " quote,
bottom-posted below one, above Outlook's "-----Original Message-----" or
"From:/Sent:" block, as HTML only. The callers (moderation decisions, the
-request command parser, the administrivia rule) read lines from here and
nowhere else. Nothing here raises, whatever the message. Only the first
`limit` octets of a body are decoded and read, so a huge reply costs little.
"""

import binascii
import re
from collections import Counter
from email.message import EmailMessage, Message
from html.parser import HTMLParser

# A chain of reply and forward prefixes in many languages ("Re: AW: Fwd: ", "RE[3]: ", "Re^2:").
REPLY_PREFIXES = re.compile(
    r"(?:(?:re|aw|sv|vs|antw|r[ée]f|rif|odp|ynt|fwd?|wg|tr)\s*(?:\[\d+\]|\^\d+)?\s*:\s*)*",
    re.IGNORECASE)

# Invisible at the ends of a line: whitespace (U+00A0 included) and zero-width characters.
_INVISIBLE = ("".join(c for c in map(chr, range(0x3001)) if c.isspace())
              + "\u200b\u200c\u200d\u2060\ufeff")
# Lines where the quoted original starts in clients that do not quote with "> ".
_ORIGINAL = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d['\u2019]origine|"
    r"mensaje original|oorspronkelijk bericht|forwarded message|weitergeleitete nachricht|"
    r"message transféré)\s*-*|_{20,}|begin forwarded message:?", re.IGNORECASE)
# "On Tue, 3 Mar 2026 at 10:00, Mo <mo@x> wrote:" and its translations: a line that starts
# with the lead word, has a date (digits) and the verb, and ends with a colon. Separate
# searches, as one regular expression with several .* backtracks badly on long lines.
_ATTRIBUTION_LEAD = re.compile(r"(?:On|Am|Le|El|Op|Em|Il giorno)\s")
_ATTRIBUTION_VERB = re.compile(
    r"\s(?:wrote|schrieb|a écrit|escribió|schreef|escreveu|ha scritto)(?:\s|:)")
_DIGIT = re.compile(r"\d")
# Outlook's header block above the original ("From: …", "Sent: …"), as localised clients write it.
_HEADER_NAME = re.compile(r"\*?([^\W\d_]+)\*?\s*:")
_FROM = {"from", "von", "de", "van"}
_FROM_FOLLOWERS = {"sent", "date", "to", "cc", "subject", "gesendet", "datum", "an", "betreff",
                   "envoyé", "à", "objet", "enviado", "fecha", "para", "asunto", "verzonden",
                   "aan", "onderwerp"}
_HEADER_BLOCK_REACH = 4  # lines after From: in which Sent:/To:/Subject: must follow

_HIDDEN = {"head", "script", "style", "title"}
_BREAKS = {"address", "article", "blockquote", "br", "center", "dd", "div", "dl", "dt",
           "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
           "pre", "section", "table", "tr", "ul"}
_MARKUP = re.compile(r"<(?:/?[A-Za-z][^<>]*|[!?][^<>]*)>|<")  # a tag, or a "<" that is none
_CITES = {"gmail_attr", "moz-cite-prefix"}  # classes of the "On … wrote:" line's div
_ORIGINAL_IDS = {"divrplyfwdmsg", "appendonsend"}  # Outlook: the original follows this div


def reply_subject(subject: str) -> str:
    """The subject without its chain of Re:/AW:/Fwd: prefixes, whitespace collapsed."""
    text = " ".join(subject.split())
    match = REPLY_PREFIXES.match(text)
    return text[match.end():].strip() if match else text


def answer_subject(subject: str, fallback: str) -> str:
    """The subject of listserv's answer to a message: "Re: " once before the message's
    subject without its own chain of prefixes (so "Re: help" stays "Re: help"); the
    fallback when the subject says nothing else."""
    bare = reply_subject(subject)
    return f"Re: {bare}" if bare else fallback


def reply_lines(message: Message, limit: int) -> list[str]:
    """The first `limit` lines the sender of a reply wrote themselves."""
    return own_lines(body_text(message), limit)


def body_text(message: Message, limit: int = 65536) -> str:
    """The readable text of the body (text/plain, else text/html as text); '' if there is none.

    At most `limit` bytes of the part's payload are decoded. Quoted material
    in HTML comes out as "> " lines, as plain-text clients quote.
    """
    try:
        part = _text_part(message)
        if part is None:
            return ""
        data = _payload(part, max(limit, 0))
        text = _decoded(data, part.get_content_charset() or "utf-8").replace("\x00", "")
        return _html_text(text) if part.get_content_subtype() == "html" else text
    except Exception:  # the email package raises on MIME nobody foresaw
        return ""


def own_lines(text: str, limit: int) -> list[str]:
    """The non-empty lines the sender wrote, whitespace collapsed, at most `limit` of them.

    Quoted lines and the "On … wrote:" line before a quote are skipped (an
    answer may follow the quote); reading stops at the signature separator
    and where a quoted original starts without "> " (Outlook and others).
    """
    lines = text.splitlines()
    own: list[str] = []
    index = 0
    while index < len(lines) and len(own) < limit:
        line = _visible(lines[index])
        if _ends_own_text(line, lines[index + 1:index + 1 + _HEADER_BLOCK_REACH]):
            break
        following = _visible(lines[index + 1]) if index + 1 < len(lines) else ""
        skip = _attribution_length(line, following)
        if skip:
            index += skip
            continue
        if line and not line.startswith(">"):
            own.append(" ".join(line.split()))
        index += 1
    return own


def _visible(line: str) -> str:
    return line.strip(_INVISIBLE)


def _ends_own_text(line: str, following: list[str]) -> bool:
    """Whether the sender's text ends at this line: a signature or the start of an original."""
    if line == "--" or _ORIGINAL.fullmatch(line):
        return True
    return _header_name(line) in _FROM and any(
        _header_name(_visible(later)) in _FROM_FOLLOWERS for later in following)


def _header_name(line: str) -> str:
    match = _HEADER_NAME.match(line)
    return match.group(1).lower() if match else ""


def _attribution_length(line: str, following: str) -> int:
    """How many lines an "On … wrote:" attribution takes here: 0, 1, or 2 when wrapped."""
    if not _ATTRIBUTION_LEAD.match(line):
        return 0
    if _is_attribution(line):
        return 1
    return 2 if _is_attribution(f"{line} {following}") else 0


def _is_attribution(text: str) -> bool:
    return (text.endswith(":") and _ATTRIBUTION_VERB.search(text) is not None
            and _DIGIT.search(text) is not None)


def _text_part(message: Message) -> Message | None:
    """The body part: text/plain preferred, else text/html; attachments never."""
    if isinstance(message, EmailMessage):
        try:
            body = message.get_body(preferencelist=("plain", "html"))
            if body is not None:
                return body
        except Exception:  # get_body trips over some broken structures; walk them instead
            pass
    texts = [part for part in message.walk()
             if part.get_content_maintype() == "text" and not part.is_multipart()
             and part.get_content_disposition() != "attachment"]
    for subtype in ("plain", "html"):
        for part in texts:
            if part.get_content_subtype() == subtype:
                return part
    return None


def _payload(part: Message, limit: int) -> bytes:
    """At most `limit` octets of the part's decoded payload, decoding little more than that."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        # The octets as received (one cheap pass over the whole payload). get_payload()
        # without decode reads 8-bit octets through the declared charset: wrongly when
        # it is unknown, and raising for some codecs.
        data = part.get_payload(decode=True)
        return data[:limit] if isinstance(data, bytes) else b""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    # Encoded, an octet takes at most three characters and a bit ("=E2", soft line breaks);
    # the encoded text is ASCII, anything else in it is junk.
    chunk = payload[: limit * 4].encode("ascii", "replace")
    data = _base64_octets(chunk) if encoding == "base64" else binascii.a2b_qp(chunk)
    return data[:limit]


def _base64_octets(data: bytes) -> bytes:
    """Decode base64 leniently: junk and line ends ignored, missing padding added."""
    letters = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(letters) % 4 == 1:
        letters = letters[:-1]  # a lone letter carries no whole octet
    return binascii.a2b_base64(letters + b"=" * (-len(letters) % 4))


def _decoded(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, errors="replace")
    except Exception:  # an unknown charset, or a codec that is not for text
        return data.decode("utf-8", errors="replace")


def _html_text(html: str) -> str:
    """The text of an HTML body, one line per block, quoted material as "> " lines."""
    reader = _HtmlText()
    try:
        reader.feed(_defused(html))
        reader.close()
    except Exception:  # html.parser is lenient, but keep what was read if it gives up
        pass
    reader.flush()
    return "\n".join(reader.lines)


def _defused(html: str) -> str:
    """The HTML without comments, and "&lt;" for each "<" that opens no tag.

    html.parser rescans the rest of the text for each "<" that opens nothing
    complete: 60 KB of "<a " took half a minute. Given only tags that close
    before the next "<", it reads in linear time.
    """
    pieces, start = [], 0
    while (begin := html.find("<!--", start)) != -1:
        pieces.append(html[start:begin])
        end = html.find("-->", begin + 4)
        start = len(html) if end == -1 else end + 3  # an unclosed comment runs to the end
    pieces.append(html[start:])
    return _MARKUP.sub(lambda match: match[0] if len(match[0]) > 1 else "&lt;", "".join(pieces))


class _HtmlText(HTMLParser):
    """Collects the lines of an HTML body; blockquotes and mail clients' citations are quoted."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._text: list[str] = []  # the line being read
        self._open: list[tuple[str, bool]] = []  # open div/blockquote, whether it quotes
        self._unclosed: Counter[str] = Counter()  # of the tags in _open
        self._depth = 0  # quote level of the text being read
        self._hidden = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "body":
            self._hidden = 0  # an unclosed <head> ends here, as in browsers
        if tag not in _BREAKS:
            return
        self.flush()
        self._pre += tag == "pre"
        if tag in ("div", "blockquote"):
            values = dict(attrs)
            if (values.get("id") or "").lower() in _ORIGINAL_IDS:
                self._depth += 1  # never closed: everything after it is the original
            quotes = tag == "blockquote" or bool(_CITES & set((values.get("class") or "").split()))
            self._open.append((tag, quotes))
            self._unclosed[tag] += 1
            self._depth += quotes

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        if tag not in _BREAKS:
            return
        self.flush()
        self._pre = max(self._pre - (tag == "pre"), 0)
        if self._unclosed[tag]:  # an end tag nothing opened is ignored, as in browsers
            while self._open:
                name, quotes = self._open.pop()
                self._unclosed[name] -= 1
                self._depth -= quotes
                if name == tag:
                    break

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if not self._pre:
            self._text.append(data)
            return
        first, *rest = data.split("\n")
        self._text.append(first)
        for line in rest:
            self.flush()
            self._text.append(line)

    def flush(self) -> None:
        """End the line being read."""
        text = " ".join("".join(self._text).split())
        self._text.clear()
        if text:
            self.lines.append("> " * self._depth + text)
