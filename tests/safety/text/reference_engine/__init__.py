"""The text signal engine as it was before issue 18 made ``scan`` cheaper per line: a copy
of ``strangers.safety.text``'s engine, normalise, contact, age and lexicon modules taken
before that work. It reads the live package's data files and uses its profanity scorer
(the model's arithmetic is not what that work changed; the engine's tokens for it are).

``test_reference.py`` checks that the live engine gives the same :class:`TextScan` as
this one on every labelled line, the benchmark's corpus and random text (issue 18: the
rewrite must not change a single answer). It is frozen on purpose: a change meant to
change the engine's answers (a data file aside, which both read) deletes this copy, or
refreshes it from the live package, in the same commit.
"""

from .engine import SignalEngine

__all__ = ["SignalEngine"]
