"""The form of a paragraph: shapes that mark text as page furniture or a teaser.

These signals look at one paragraph's text alone, never at its document:
whether it is cut mid-sentence, opens with a kicker (``DEMONSTRATIONS:``,
``ПОЛИТИКА —``, ``体育｜``, ``【独家】``), or has the shape of a photo credit or
caption (``Photo: …``, ``Foto: … /dpa``, ``Фото: …``, ``(Image: … / EPA)``)
or of page chrome (share widgets, newsletter prompts, copyright lines, menus
and breadcrumbs). Kickers are recognised in every script: a label before a
separator (``:``, ``：``, ``|``, ``｜``, ``—``, ``•``) in capitals where the
script has case, a short label where it has none (Chinese, Japanese, Arabic…),
or a short label in ``【…】`` or ``「…」``. Credits and captions know the words
of a few languages; the chrome patterns are English-language ones.

Example:
    >>> form_signals("Photo: Reuters")
    (1.0, 0.0, 1.0, 0.0)
"""

from __future__ import annotations

import re

#: What :func:`form_signals` returns, in order.
FORM_SIGNALS = ("unterminated", "kicker", "caption", "chrome")

_TERMINAL = set(".!?…\"”’')»」』。！？;")
# Each shape is two patterns: what it must start with, and what may stand anywhere (every
# alternative behind one ``\b``): far fewer attempts per character than one pattern mixing
# ``^`` alternatives with unanchored ones.
_CAPTION_START = re.compile(
    r"^(?:[\s(\[（]*(?:photo(?:graph)?s?|pictures?|pictured|pic|images?|image caption|caption|credits?|video|"
    r"illustration|source|file photo|fotos?|фото(?:графия)?|снимок|иллюстрация|"
    r"图片?(?:来源)?|照片|资料图|配图|写真)\s*(?:credit|caption)?\s*(?::|：|,|by\b|\||｜|/|-|–|—)"
    r"|image source\b)",
    re.IGNORECASE,
)
_CAPTION_ANYWHERE = re.compile(
    r"\b(?:(?:photo(?:graph)?s?|pictures?|images?|credits?)\s*:\s*\S|(?:photo(?:graph)?|picture) by\b)",
    re.IGNORECASE,
)
_AGENCY = re.compile(
    r"\b(?:getty(?: images)?|afp|reuters|epa(?:-efe)?|ap photo|associated press|pa wire|pa media|"
    r"тасс|риа новости|интерфакс|picture alliance|新华社|中新社|共同社|"
    r"press association|xinhua|shutterstock|alamy|bloomberg|anadolu|efe|dpa|camera press|empics|allsport|"
    r"corbis|kyodo|sipa(?: press)?|action images|rex features|wireimage|eyevine|pa(?: images)?|ansa|ap)\b",
    re.IGNORECASE,
)
_TRAILING_CREDIT = re.compile(r"[(（]([^()（）]{2,40})[)）]\s*$")
# A Chinese photo credit: "（新华社记者 王鹏 摄）", "记者 王鹏 摄".
_CJK_CREDIT = re.compile(r"(?:记者|摄影)?[^。！？]{0,20}摄[)）]?\s*$")
# Kickers: a label before a separator, or a short label in lenticular or corner brackets.
_KICKER_SEPARATOR = re.compile(r"[:：|｜—•]")
_BRACKET_KICKER = re.compile(r"^(?:【[^【】]{1,16}】|「[^「」]{1,12}」(?![とってはがをのにもや]))\s*\S")
# A Chinese label ending in a verb of saying is a speaker, not a kicker: "外交部发言人表示：…".
_SPEECH = re.compile(r"(?:说|表示|称|指出|认为|强调|介绍|透露|坦言|回应|提到|道|问|答|写|宣布|证实|告诉记者)$")
_KICKER_MAX_COLUMNS = 20  # a caseless label: at most 10 wide characters or 20 narrow ones
_WIDE = re.compile(r"[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                   r"\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]")
# Widgets, prompts and notices that news pages put around articles (English sites).
_CHROME_START = re.compile(
    r"^(?:share$|follow @|advert(?:isement)?\b|most (?:read|popular|viewed|shared)\b|"
    r"related(?: (?:stories|articles|topics|content|links|internet links|coverage))?$|read more\b|"
    r"(?:log|sign) in\b|skip to\b|back to top\b|(?:more|top) (?:stories|news)\b|"
    r"more (?:on|from|about) \w|you may also like\b|recommended\b|(?:story )?continues? (?:reading )?below\b|"
    r"continue reading\b|copy link$|print(?: this)?(?: page| article)?$|e-?mail(?: this)?(?: page| article)?$|"
    r"comments?\b|have your say\b|report an error\b|listen to (?:this|the) (?:article|story)\b|"
    r"watch(?: the)? video\b|(?:page )?last updated\b|(?:published|updated|posted)\s*(?:on|at)?\s*:|"
    r"(?:home|news)\s*[>|/»·•]|e-?mail (?:this|to a friend)\b|tweet$|pin it$|"
    r"editor'?s'? (?:picks?|choice)\b|(?:top|latest) headlines\b|trending\b|explore more\b)",
    re.IGNORECASE,
)
_CHROME_ANYWHERE = re.compile(
    r"\b(?:share (?:this|on|via)\b|follow (?:us|@)|like us on\b|sign up\b|newsletter\b|"
    r"subscribe\b|sponsored\b|all rights reserved\b|copyright\b|may not be (?:published|reproduced|redistributed)\b|"
    r"click here\b|cookie (?:policy|settings|preferences)\b|(?:we use|accept(?: all)?) cookies\b|"
    r"printable version\b)|©",
    re.IGNORECASE,
)
# A line whose notice ("©", "subscribe") follows an ended sentence of this many words is the article's.
_SENTENCE_WORDS = 8
_SENTENCE_END = frozenset(".!?…")
# Three or more short items joined by separators: a menu or a breadcrumb.
_MENU = re.compile(
    r"^[^|·•»>/]{1,30}(?:(?:[|·•»]|\s[>/]\s)[^|·•»>/]{1,30}){2,}$"
    r"|^[A-ZÀ-Þ][\w&'’-]*(?: {2,}[A-ZÀ-Þ][\w&'’-]*){2,}$"  # capitalised words set apart by runs of spaces
)


def form_signals(text: str) -> tuple[float, float, float, float]:
    """The :data:`FORM_SIGNALS` of one paragraph, each 0.0 or 1.0.

    Args:
        text: The paragraph as it stands in the document.

    Returns:
        ``(unterminated, kicker, caption, chrome)``.
    """
    stripped = text.strip()
    unterminated = 0.0 if stripped and stripped[-1] in _TERMINAL else 1.0
    kicker = float(_kicker(stripped))
    if len(stripped) > 160:  # captions and chrome are short: spare long paragraphs the searches
        return unterminated, kicker, 0.0, 0.0
    caption = bool(_CAPTION_START.match(stripped) or _CAPTION_ANYWHERE.search(stripped)) or _credit(stripped)
    chrome = bool(_CHROME_START.match(stripped) or _notice(stripped) or _MENU.match(stripped))
    return unterminated, kicker, float(caption), float(chrome)


def _notice(stripped: str) -> bool:
    """Whether a line holds a notice or a widget's words (``©``, "subscribe") that no sentence of the
    article stands before: after an ended sentence of :data:`_SENTENCE_WORDS` words, it is the article's
    sentence with a credit."""
    notice = _CHROME_ANYWHERE.search(stripped)
    return notice is not None and not _sentence_before(stripped[: notice.start()])


def _sentence_before(head: str) -> bool:
    """Whether ``head`` holds a sentence of at least :data:`_SENTENCE_WORDS` words that has ended.

    Example:
        >>> _sentence_before("I still can't believe this is a pencil drawing. Photos "), _sentence_before("")
        (True, False)
    """
    words = head.split()
    return any(word.rstrip("'\"”’)")[-1:] in _SENTENCE_END for word in words[_SENTENCE_WORDS - 1 :])


def _kicker(stripped: str) -> bool:
    """Whether a paragraph opens with a kicker: a label of capitals, or a short label in a caseless script.

    Example:
        >>> [_kicker(t) for t in ("SPORT: United won.", "Sport: United won.", "体育｜国足获胜", "他说：国足获胜")]
        [True, False, True, False]
        >>> [_kicker(t) for t in ("ПОЛИТИКА | Дума приняла закон", "LONDON — The minister said", "【独家】国足获胜")]
        [True, False, True]
    """
    return kicker_label(stripped) is not None


def kicker_label(text: str) -> str | None:
    """The kicker a paragraph opens with (see :func:`_kicker`), as written, or ``None``.

    Example:
        >>> kicker_label("SPORT: United won."), kicker_label("【独家】国足获胜"), kicker_label("He said: yes.")
        ('SPORT', '【独家】', None)
    """
    stripped = text.strip()
    if bracket := _BRACKET_KICKER.match(stripped):
        return bracket.group().rstrip()[:-1].rstrip()
    body = stripped.lstrip("|｜ \t")  # the bars of a table row's empty cells before its text are no label
    separator = _KICKER_SEPARATOR.search(body, 1, 64)
    if separator is None:
        return None
    if not any(map(str.isalnum, body[separator.end() :])):
        return None  # a label with nothing after it is a cell or a heading ("| EARLIER STORIES |"), not a kicker
    head = body[: separator.start()]
    label = head.strip()
    if head.upper() != head.lower():  # a script with case: a kicker is written in capitals
        # Capitals before a dash are a dateline ("WASHINGTON (AP) —", "МОСКВА, 1 марта —"), the article's own.
        capitals = separator.group() != "—" and sum(map(str.isalpha, head)) >= 3 and head.upper() == head
        return label if capitals else None
    caseless = (
        sum(map(str.isalpha, label)) >= 2
        and not any(map(str.isdigit, label))  # "新华社北京3月1日电——" is a dateline
        and len(label) + len(_WIDE.findall(label)) <= _KICKER_MAX_COLUMNS
        and label.count(" ") <= 3
        and _SPEECH.search(label) is None
        and _CAPTION_START.match(stripped) is None  # "图片来源：新华社" is a credit, not a teaser's label
    )
    return label if caseless else None


def _credit(stripped: str) -> bool:
    """Whether a short paragraph has the shape of a photo credit naming an agency."""
    trailing = _TRAILING_CREDIT.search(stripped)
    if trailing and _AGENCY.search(trailing.group(1)):
        return True
    if len(stripped) < 80 and stripped[-1:] != "." and _AGENCY.search(stripped):
        return True
    if len(stripped) < 80 and _CJK_CREDIT.search(stripped):
        return True
    head, slash, _ = stripped.partition("/")
    return bool(slash) and len(stripped) < 60 and bool(_AGENCY.fullmatch(head.strip()))
