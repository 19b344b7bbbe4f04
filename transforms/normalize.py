"""The one Arabic normalizer behind dedup keys, fingerprints and search fields.

``fold(text)`` maps display text to its folded key/search form. It is versioned
(``FOLD_VERSION``): anything persisted from it (content hashes, MinHash signatures,
the ``*.folded`` index fields) records the version that produced it.
"""

import re
import unicodedata

FOLD_VERSION = 1

_HARAKAT = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_LETTER_MAP = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
        "ى": "ي", "ة": "ه",
        "ؤ": "ء", "ئ": "ء",
        "ک": "ك", "ی": "ي", "ہ": "ه", "ھ": "ه", "ۀ": "ه",
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)
_SPACES = re.compile(r"[^\S\n]+")


def fold(text: str) -> str:
    """Fold ``text`` to the key/search form; idempotent, keeps line breaks."""
    text = unicodedata.normalize("NFKC", text)
    text = _HARAKAT.sub("", text).translate(_LETTER_MAP)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
