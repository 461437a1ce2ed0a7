"""The text signal engine (docs/design.md §6, text): normalisation, contact details, age
statements, grooming and solicitation signals and profanity for each chat line, as a
:class:`~strangers.core.text.TextScanner`.

``SignalEngine()`` (English, French and Spanish; ``languages=`` for fewer) is built once
(it loads the word lists in ``data/``, the profanity model and the learned layer's model,
docs/safety.md "The learned layer") and then ``scan(text)`` is pure and fast.
"""

from .engine import SignalEngine
from .profanity import ProfanityScorer

__all__ = ["ProfanityScorer", "SignalEngine"]
