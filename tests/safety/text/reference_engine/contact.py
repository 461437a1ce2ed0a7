"""Contact details: phone numbers, e-mail addresses, links and @handles (docs/design.md §6, text).

In the teen pool contact details and links are always masked, so this is the check that must
not miss: a number spaced out, written in words or in look-alike letters is still a number,
"name at gmail dot com" is still an address, "mysite dot com" still a link. And it must not
mask ordinary talk: a time ("3.30", "14:30"), a date, a price, a score, counting, a year
range, "e.g.", "i.e.".

Phone numbers
    Candidates are runs of 7 or more digits in the numeric view (numbers in words read as
    digits, "l" and "O" between digits read as "1" and "0"), with any separators but ":"
    and ","; dates, year ranges, thousands ("1 000 000") and counting ("1 2 3 4 5 6 7") are
    dropped. A candidate that ``phonenumbers`` finds valid (``PhoneNumberMatcher``,
    ``Leniency.VALID``, for a leading "+" or "00" as an international number, otherwise
    for the regions US, GB and FR) scores 1.0; 10 to 15 digits score 0.9 without it
    (numbers of other countries); 7 to 9 digits count only next to a phone word ("call",
    "text", "mon num") or grouped like a local number ("555 0123").
E-mail
    ``local@domain.tld`` in the decoded view, after reading "(at)", "[at]", " at ",
    "arobase" as "@" and "dot", "point", "(dot)" as "." when a provider or a top-level
    domain follows; "local@gmail" without a domain; "my gmail is sam2009".
Links
    A scheme ("https://", "hxxp://"), "www.", or a bare domain whose top-level domain is
    in ``[tlds]``; a domain in ``[tlds_weak]`` ("me", "co", "to") only with a path or a
    known short host ("t.me/…", "wa.me/…").
Handles
    "@name" (not an e-mail, not leetspeak for a word: "@lone" is "alone"). Handles with an
    app name ("add me on snap", "sc: name") are phrase patterns, in the language files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

import phonenumbers

from .lexicon import Lexicon

#: More candidates than this in one line are not all checked (an adversarial line of
#: digits must not cost one phonenumbers call per run).
_MAX_PHONE_CANDIDATES = 16

_PHONE_RUN = re.compile(r"(?<![0-9])[0-9](?:(?:[^\w:,\n]|_|[,:](?=\s)){0,4}[0-9]){6,}")
_GROUP = re.compile(r"[0-9]+")
#: How far before a number a word that makes it an order or a parcel number is looked for.
_NAMED_BEFORE = 32
#: A mention that gives no one's handle: a ping of a whole channel, or an account the
#: sender follows or talks about ("i follow @nasa", "that meme account @catz", "sigo a
#: @nasa"), not one to reach (issue 20, third round).
_MENTION_ALL = frozenset({"everyone", "here", "channel", "all", "todos", "tous", "tout_le_monde"})
_INVITING = frozenset(
    {"me", "add", "dm", "dms", "hmu", "msg", "pm", "moi", "ajoute", "ajoutes", "mp"}
    | {"agregame", "escribeme", "sigueme", "mandame", "hablame", "agrega"}
)
_THIRD_PARTY_BEFORE = re.compile(
    r"(?:\b(?:i|we|je|jsuis|yo) (?:follow|followed|love|watch|follows|sigo|segui|sigue)"
    r"|\bim following|\bsigo a|\bsigue a|\b(?:the|that|this|le|ce|cette|la|esa|esta|este|el)"
    r" (?:[a-z]+ )?(?:account|acc|page|compte|cuenta|channel|chaine|canal))\s*$"
)
_DATE = re.compile(
    r"^(?:[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{2}|[0-9]{4})|[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2})$"
)
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:[.' ][0-9]{3})+$")
_LOCAL_GROUPING = re.compile(r"^[0-9]{3}[\s.-]+[0-9]{4}$")
_REGIONS = ("US", "GB", "FR")


def _is_counting(groups: list[str]) -> bool:
    if len(groups) < 3 or any(len(group) > 4 for group in groups):
        return False
    values = [int(group) for group in groups]
    steps = [b - a for a, b in itertools.pairwise(values)]
    # all steps but one of +1 (or -1): "ten: 1, 2, 3 …" is counting too
    return max(steps.count(1), steps.count(-1)) >= len(steps) - 1


def _is_a_list(groups: list[str]) -> bool:
    """Small numbers in increasing order ("4 8 15 16 23 42"), not a number read in parts:
    those start with a 0 ("06 12 34 56 78") or come in groups of three or four."""
    if len(groups) < 4 or groups[0].startswith("0") or any(len(g) > 2 for g in groups):
        return False
    values = [int(group) for group in groups]
    return all(a < b for a, b in itertools.pairwise(values))


def _valid_phone(digits: str, international: bool) -> bool:
    """A valid number for some region, national prefix or not ("612345678" is French)."""
    text = ("+" + digits) if international else digits
    for region in ("US",) if international else _REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phone_inside(run: str) -> bool:
    """A valid number somewhere in a long run of digits and separators (two numbers run
    together, or a number inside a longer string): what ``PhoneNumberMatcher`` is for."""
    for region in _REGIONS:
        try:
            matcher = phonenumbers.PhoneNumberMatcher(
                run, region, leniency=phonenumbers.Leniency.VALID, max_tries=8
            )
            if matcher.has_next():
                return True
        except Exception:  # third-party code: a bug there must not stop a scan
            continue
    return False


class ContactFinder:
    def __init__(self, lexicon: Lexicon) -> None:
        self._phone_words = frozenset(lexicon.words("phone_words"))
        self._not_phone_words = frozenset(lexicon.words("phone_words_not"))
        tlds = sorted(set(lexicon.words("tlds")), key=len, reverse=True)
        weak = sorted(set(lexicon.words("tlds_weak")), key=len, reverse=True)
        self._tlds = frozenset(tlds)
        self._tlds_weak = frozenset(weak)
        self._short_hosts = frozenset(lexicon.words("short_hosts"))
        providers = sorted(set(lexicon.words("email_providers")), key=len, reverse=True)
        self._providers = frozenset(providers)
        tld_alt = "|".join(map(re.escape, tlds + weak))
        safe_tld_alt = "|".join(map(re.escape, tlds))
        provider_alt = "|".join(map(re.escape, providers))
        # "(at)", "[at]", "{at}": the bracketed forms are never ordinary words
        self._bracket_at = re.compile(r"\s*[(\[{<]\s*(?:at|@|arobase|arrobase)\s*[)\]}>]\s*")
        self._bracket_dot = re.compile(r"\s*[(\[{<]\s*(?:dot|point|dt|period)\s*[)\]}>]\s*")
        self._word_dot = re.compile(
            rf"\s+(?:dot|point|dt)\s+(?=(?:{tld_alt})(?![a-z0-9])"
            r"|[a-z0-9._-]+\s*(?:@|(?:at|arobase|arrobase)\s))"
        )
        self._spaced_dot = re.compile(rf"(?<=[a-z0-9])(?:\s+\.\s*|\.\s+)(?=(?:{safe_tld_alt})\b)")
        self._spaced_at = re.compile(r"(?<=[a-z0-9])\s*@\s*(?=[a-z0-9])")
        self._word_at = re.compile(
            rf"\s+(?:at|arobase|arrobase|chez)\s+(?=(?:[a-z0-9-]+\.)+(?:{tld_alt})(?![a-z0-9])"
            rf"|(?:{provider_alt})(?![a-z0-9]))"
        )
        self._email = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9._%+-]++@([a-z0-9-]+(?:\.[a-z0-9-]+)*)")
        self._owned_address = re.compile(
            # "mon adresse gmail c lea_b13" (issue 20): "adresse" before the provider, SMS "c"
            rf"(?<![a-z])(?:my|mon|ma)\s+(?:adresse\s+|address\s+)?"
            rf"(?:{provider_alt}|e-?mail|mail|courriel|adresse(?:\s+e?-?mail)?)"
            r"\s+(?:is\s+|cest\s+|c\s+|est\s+|[:=]\s*)?([a-z0-9._-]+)"
        )
        self._url = re.compile(
            r"(?:https?|hxxps?|ftp)\s*:\s*/\s*/|(?<![a-z0-9])www[0-9]?\s*\.\s*[a-z0-9]"
        )
        self._domain = re.compile(
            r"(?<![a-z0-9@._-])((?:[a-z0-9-]{1,63}\.)+)([a-z]{2,12})(?![a-z0-9-])"
        )
        self._handle = re.compile(r"(?<![a-z0-9_@.])@([a-z_][a-z0-9_.]{2,29})(?![a-z0-9_@])")
        apps = sorted(set(lexicon.words("apps")), key=len, reverse=True)
        self._app_words = frozenset(word for app in apps for word in app.split())
        app_alt = "|".join(re.escape(a).replace(r"\ ", r"\s?") for a in apps)
        name = r"@?([a-z0-9][a-z0-9._#]{1,29})"
        # "insta is jess.k", "snap = jess_k", "on snap as jess_k"; "jess.k on snap"
        self._app_then_name = re.compile(
            rf"(?<![a-z])(?:{app_alt})\s*(?:(?:is|its|=|:|-|>|cest|est|as|name|username|"
            rf"id|user|handle|tag|acc|account)\s*){{0,2}}{name}(?![a-z0-9._#])"
        )
        self._name_then_app = re.compile(
            rf"(?<![a-z0-9._#@]){name}\s+(?:on|sur|for|at)\s+(?:{app_alt})(?![a-z])"
        )
        self._collapse = re.compile(r"(?<!\S)(?:\S ){2,}\S(?!\S)")
        self._vocabulary = lexicon.vocabulary()

    # --- phone ----------------------------------------------------------------------

    def phone(self, numeric: str, tokens: Iterable[str]) -> float:
        best = 0.0
        context: bool | None = None
        for index, match in enumerate(_PHONE_RUN.finditer(numeric)):
            if index >= _MAX_PHONE_CANDIDATES:
                break
            run = match[0]
            groups = _GROUP.findall(run)
            digits = "".join(groups)
            if len(digits) < 7 or _DATE.match(run) or _THOUSANDS.match(run):
                continue
            if _is_counting(groups) or all(len(g) == 4 and g[:2] in ("19", "20") for g in groups):
                continue  # "1 2 3 4 5 6 7 8", "2019-2023"
            prefix = numeric[max(0, match.start() - 3) : match.start()]
            international = prefix.rstrip().endswith("+") or digits.startswith("00")
            if international and digits.startswith("00"):
                digits = digits[2:]
            if len(digits) > 15:  # two numbers run together, or not a number at all
                if _phone_inside(run[:64]):
                    return 1.0
                continue
            if len(digits) >= 10:
                if _is_a_list(groups):  # "4 8 15 16 23 42": numbers, unless phonenumbers says so
                    if _valid_phone(digits, international):
                        return 1.0
                    continue
                # long enough to be a number anywhere: no need to pay for phonenumbers
                best = max(best, 0.9)
                continue
            if context is None:
                context = not self._phone_words.isdisjoint(tokens)
            # "my order number is 4471 2290" is no phone number (issue 20, third round); the
            # word must name this number, before it: an "order" anywhere else in the line
            # would hide any number ("my number is 4471 2290 order")
            named = context and self._not_phone_words.isdisjoint(
                numeric[max(0, match.start() - _NAMED_BEFORE) : match.start()].split()
            )
            if named or international or _LOCAL_GROUPING.match(run):
                best = max(best, 0.8)
            elif _valid_phone(digits, international):  # a short national number: "612 34 56 78"
                return 1.0
        return best

    # --- e-mail and links -----------------------------------------------------------

    def collapse(self, decoded: str) -> str:
        """Single characters spaced out joined: "j o h n @ g m a i l . c o m"."""
        if self._collapse.search(decoded) is None:
            return decoded
        return self._collapse.sub(lambda m: m[0].replace(" ", ""), decoded)

    def spell_out(self, text: str) -> str:
        """Spelled-out separators read as such: "(at)", "at gmail", "dot com", " . com"."""
        text = self._bracket_at.sub("@", text)
        text = self._bracket_dot.sub(".", text)
        text = self._word_dot.sub(".", text)
        text = self._spaced_dot.sub(".", text)
        if "@" in text:
            text = self._spaced_at.sub("@", text)
        return self._word_at.sub("@", text)

    def email(self, *views: str) -> float:
        for view in views:
            if "@" in view:
                for match in self._email.finditer(view):
                    domain = match[1]
                    labels = domain.split(".")
                    tld = labels[-1]
                    if len(labels) >= 2 and (tld in self._tlds or tld in self._tlds_weak):
                        return 1.0
                    if labels[0] in self._providers:
                        return 0.9  # "sam@gmail"
            if " " in view:
                for match in self._owned_address.finditer(view):
                    local = match[1]
                    if any(c.isdigit() or c in "._" for c in local) and any(
                        c.isalpha() for c in local
                    ):
                        return 0.8  # "my gmail is sarahjones2008"
        return 0.0

    def link(self, *views: str) -> float:
        best = 0.0
        for view in views:
            if self._url.search(view):
                return 1.0
            if "." not in view:
                continue
            for match in self._domain.finditer(view):
                labels = match[1].rstrip(".").split(".")
                tld = match[2]
                if all(label.isdigit() for label in labels):
                    continue
                if (tld in self._tlds and any(len(label) >= 2 for label in labels)) or (
                    tld in self._tlds_weak
                    and (
                        view[match.end() : match.end() + 1] == "/"
                        or labels[-1] in self._short_hosts
                        or (len(labels) >= 2 and all(len(label) >= 2 for label in labels))
                    )
                ):
                    best = max(best, 0.9)
        return best

    def handle(self, decoded: str, tokens: frozenset[str]) -> float:
        if not self._app_words.isdisjoint(tokens):
            for regex in (self._app_then_name, self._name_then_app):
                for match in regex.finditer(decoded):
                    if self._looks_like_handle(match[1]):
                        return 0.9
        if "@" not in decoded:
            return 0.0
        for match in self._handle.finditer(decoded):
            name = match[1].rstrip(".")
            if ("a" + name) in self._vocabulary:
                continue  # "@lone" is "alone"
            if name in _MENTION_ALL:
                continue  # "@everyone", "@here" (issue 20)
            if _INVITING.isdisjoint(tokens) and _THIRD_PARTY_BEFORE.search(
                decoded, 0, match.start()
            ):
                continue  # "i follow @nasa", "the account @x", with no "add me" (issue 20)
            if "." in name and name.rsplit(".", 1)[1] in self._tlds:
                continue  # "sam @gmail.com": an address, found as such
            return 0.9
        return 0.0

    def _looks_like_handle(self, name: str) -> bool:
        """A user name as people make them: letters with a digit, "_", "." or "#"
        ("jess.k", "samj09", "jess#0001"), not a number, a domain or a decimal."""
        name = name.rstrip(".")
        if not any(c.isalpha() for c in name) or not any(c in "._#0123456789" for c in name):
            return False
        return not ("." in name and name.rsplit(".", 1)[1] in self._tlds)
