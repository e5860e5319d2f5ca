"""Words as the cleaner's form rules count them: function words, and a cheap tokenisation.

Kept apart from the modules that use them (:mod:`dedup.furniture`, :mod:`dedup.region`) so that
reading them loads neither numpy nor scikit-learn.
"""

from __future__ import annotations

__all__ = ["ASCII_PUNCT", "STOP_WORDS", "STOP_WORDS_BY_LANGUAGE", "ascii_punctuation_to_spaces"]

# The most frequent function words of the languages CleanEval and news pages are written in; a
# line of prose has many of them, a menu item or a headline few (jusText's stop-word density).
STOP_WORDS_BY_LANGUAGE = {
    "en": "a about after all also an and any are as at be because been but by can could did do does for from "
    "had has have he her his how i if in into is it its more my no not of on or our out she so some than "
    "that the their them then there these they this to up was we were what when which who will with would "
    "you your",
    "de": "aber als am an auch auf aus bei bis das dass dem den der des die doch ein eine einem einen einer es "
    "für hat ich ihr im ist mit nach nicht noch nur oder sich sie sind so um und uns von vor war wie wir "
    "wird zu zum zur",
    "fr": "au aux avec ce ces dans de des du elle en est et il ils je la le les leur lui mais même ne nous on ou "
    "par pas pour qu que qui sa se ses son sont sur un une vous",
    "es": "al como con del el ella en entre era es esta este hay la las lo los más para pero por que se sin su "
    "sus una uno y ya",
    "it": "che da dei della di gli ha il nel non per più sono una",
    "nl": "aan bij dat de een en het hij in is met niet op te van voor was zijn",
    "pt": "ao as com da das do dos em na no os por que um uma",
}
STOP_WORDS = frozenset(word for words in STOP_WORDS_BY_LANGUAGE.values() for word in words.split())


#: ASCII punctuation to spaces, for ``bytes.translate`` on UTF-8 text: continuation bytes are never
#: ASCII, so ``text.encode().translate(ASCII_PUNCT).split()`` gives ``\w+`` runs closely enough.
ASCII_PUNCT = bytes.maketrans(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", b" " * 32)


def ascii_punctuation_to_spaces(text: str) -> str:
    """``text`` with every ASCII punctuation mark a space (lone surrogates pass through).

    Example:
        >>> ascii_punctuation_to_spaces("Home|News - it's here.").split()
        ['Home', 'News', 'it', 's', 'here']
    """
    return text.encode("utf-8", "surrogatepass").translate(ASCII_PUNCT).decode("utf-8", "surrogatepass")
