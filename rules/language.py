"""Which language a message is in, when its channel did not say (contract section 10).

The rules file lists the languages to tell apart (``languages: [en, de, fr]``); the
detector (lingua, made for short texts) only weighs those, which keeps it fast and stops
it from answering with a language nobody routes on. A detection below
``MIN_CONFIDENCE`` is no answer: the CRM profile's language is the fallback, and no
language at all is better than a wrong one for routing.

Where the value came from is kept beside it (``channel``, ``detected``, ``crm``), so
``rules explain`` and the ticket snapshot can say why a message routed as it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from typing import Any

from lingua import (
    ConfidenceValue,
    IsoCode639_1,
    Language,
    LanguageDetector,
    LanguageDetectorBuilder,
)

MIN_CONFIDENCE = 0.6
"""Below this share of the detector's belief, a detection is no answer."""
MAX_CHARS = 200
"""Detection reads the start of a message: enough to decide, and its cost stays flat."""
FIRST_CHARS = 120
SURE = 0.9
"""The detector's cost grows with the text it reads (about 0.37 µs a character here), so
it reads ``FIRST_CHARS`` first and stops there when that is ``SURE``; only a text still
in doubt is read up to ``MAX_CHARS``. Over 2,800 texts in seven languages this decides
99 % of them early, at 0.6 of the cost of always reading 200 characters, and gives the
same answer as reading 200 for all but 8 (the right language for 2,789 against 2,792).
"""


SHORT_CHARS = 60
"""A text shorter than this is read in lingua's high-accuracy mode (1- to 5-grams), a
longer one in low-accuracy mode (trigrams). Low accuracy errs on short texts ("hello my
order is late" came out German, 0.61 sure): over 225 support-message openings written
for this, 30-35 in each of en, de, fr, es, it, nl, pt, the 224 of 45 characters or less
gave low: 208 right, 4 wrong, 12 no answer, 24-31 µs a text; high: 197 right, 0 wrong,
27 no answer, 63-91 µs. Cut at 60, 80 and 120 characters both modes agree (224 right,
low 1 wrong, high 1 no answer) at 46-68 µs against 131-159 µs, so longer texts stay on
low accuracy. No answer falls back to the CRM language; a wrong one routes wrongly.
The cost: the high-accuracy models take about 210 MB more memory and 2.3 s to load
(seven languages); detection runs about once per ticket."""


@dataclass(frozen=True, slots=True)
class Detected:
    language: str | None
    source: str | None  # "channel" | "detected" | "crm" | None
    confidence: float | None = None


def supported_languages() -> tuple[str, ...]:
    """ISO 639-1 codes the detector knows."""
    return tuple(sorted(lang.iso_code_639_1.name.lower() for lang in Language.all()))


SPLIT_CODES = {
    "no": "Norwegian is told apart as nb (Bokmål) and nn (Nynorsk): write nb, nn or both",
    "norwegian": "Norwegian is told apart as nb (Bokmål) and nn (Nynorsk): write nb, nn or both",
}
"""Codes (and names) of a language the detector knows only as its written standards."""


def code_hint(word: str) -> str | None:
    """How to write ``word`` (``DE``, ``german``, ``no``) as the lower-case ISO 639-1
    code the router gives a message's language; None when no language is near it."""
    spelled = word.strip().lower()
    if spelled in SPLIT_CODES:
        return SPLIT_CODES[spelled]
    names = {lang.name.lower(): lang.iso_code_639_1.name.lower() for lang in Language.all()}
    if spelled in names.values():
        return f"did you mean '{spelled}'?"
    close = get_close_matches(spelled, list(names), n=1, cutoff=0.75)
    if close:
        return f"did you mean '{names[close[0]]}' ({close[0].title()})?"
    return None


@cache
def _detector(codes: tuple[str, ...], high_accuracy: bool) -> LanguageDetector:
    """Cached by its arguments as given: always call it with both, positionally."""
    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
    builder = LanguageDetectorBuilder.from_languages(*languages)
    if not high_accuracy:  # trigrams only: a tenth of the memory, half the time
        builder = builder.with_low_accuracy_mode()
    return builder.with_preloaded_language_models().build()


def _detector_for(sample: str, codes: tuple[str, ...]) -> LanguageDetector:
    return _detector(codes, len(sample) < SHORT_CHARS)


def detect(text: str, codes: tuple[str, ...]) -> tuple[str, float] | None:
    """The most likely of ``codes`` for ``text`` and its confidence, or None when unsure."""
    sample = text[:MAX_CHARS].strip()
    if not sample or len(codes) < 2:  # with one language there is nothing to tell apart
        return None
    detector = _detector_for(sample, codes)
    best = _best(detector.compute_language_confidence_values(sample[:FIRST_CHARS]))
    if len(sample) > FIRST_CHARS and _unsure(best):
        best = _best(detector.compute_language_confidence_values(sample))
    return _answer(best)


Found = dict[str, tuple[str, float] | None]


@dataclass(frozen=True, slots=True)
class Known:
    """Detections made ahead, by text, among ``codes`` (see ``detect_many``)."""

    codes: tuple[str, ...]
    found: Found


def detect_many(texts: list[str], codes: tuple[str, ...]) -> Known:
    """``detect`` of each text, all at once through the detector's parallel API, which
    lets go of the GIL: in a worker thread, the detection of a poll's new tickets runs on
    the other cores while the event loop goes on. Same answers as ``detect``."""
    samples = {text: text[:MAX_CHARS].strip() for text in texts}
    todo = [text for text, sample in samples.items() if sample] if len(codes) > 1 else []
    best: dict[str, ConfidenceValue | None] = {}
    for high_accuracy in (True, False):
        batch = [t for t in todo if (len(samples[t]) < SHORT_CHARS) == high_accuracy]
        if batch:
            best.update(_detect_batch(_detector(codes, high_accuracy), batch, samples))
    return Known(codes, {text: _answer(best.get(text)) for text in samples})


def _detect_batch(
    detector: LanguageDetector, todo: list[str], samples: dict[str, str]
) -> dict[str, ConfidenceValue | None]:
    firsts = detector.compute_language_confidence_values_in_parallel(
        [samples[t][:FIRST_CHARS] for t in todo]
    )
    best = {text: _best(values) for text, values in zip(todo, firsts, strict=True)}
    again = [t for t in todo if len(samples[t]) > FIRST_CHARS and _unsure(best[t])]
    if again:
        fuller = detector.compute_language_confidence_values_in_parallel(
            [samples[t] for t in again]
        )
        best.update((t, _best(values)) for t, values in zip(again, fuller, strict=True))
    return best


def _best(values: list[ConfidenceValue]) -> ConfidenceValue | None:
    return values[0] if values else None


def _unsure(best: ConfidenceValue | None) -> bool:
    return best is None or best.value < SURE


def _answer(best: ConfidenceValue | None) -> tuple[str, float] | None:
    if best is None or best.value < MIN_CONFIDENCE:
        return None
    return best.language.iso_code_639_1.name.lower(), round(best.value, 3)


def language_of(
    declared: str | None,
    text: str,
    codes: tuple[str, ...],
    profile: dict[str, Any] | None = None,
    known: Known | None = None,
) -> Detected:
    """The message's language: as the channel declared it, else detected among
    ``codes`` (or as ``known`` ahead), else the CRM profile's."""
    if declared:
        return Detected(declared, "channel")
    if known is not None and known.codes == codes and text in known.found:
        found = known.found[text]
    else:
        found = detect(text, codes)
    if found is not None:
        return Detected(found[0], "detected", found[1])
    crm = (profile or {}).get("language")
    if isinstance(crm, str) and crm:
        return Detected(crm, "crm")
    return Detected(None, None)


def detection_text(message: dict[str, Any]) -> str:
    """What detection reads of a message: its text, then its subject. The text is what
    the customer wrote; a subject is often a form's or a thread's (``Re: Order 1234``, an
    English subject line over a French message), and read first it would decide alone."""
    return f"{message.get('text') or ''}\n{message.get('subject') or ''}"


def fill_language(
    facts: dict[str, Any], codes: tuple[str, ...], known: Known | None = None
) -> Detected:
    """Complete the facts of one message with its language (see ``language_of``): the
    facts' ``customer`` already holds the CRM profile. Sets ``language`` and
    ``language_source`` and returns what was found."""
    declared = facts.get("language")
    if declared and isinstance(declared, str):
        found = Detected(declared, facts.get("language_source") or "channel")
    else:
        found = language_of(None, detection_text(facts), codes, facts.get("customer"), known)
    facts["language"] = found.language
    facts["language_source"] = found.source
    return found


def warm(codes: tuple[str, ...]) -> None:
    """Load the models now (both modes: 2-3 s for seven languages), not on the first
    message after a reload."""
    if len(codes) > 1:
        _detector(codes, False)
        _detector(codes, True)
