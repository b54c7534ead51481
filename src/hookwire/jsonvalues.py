"""Which JSON values hookwire accepts: the rules every request body is held to.

They run before a value reaches the storage, so that input no database column
or receiver can take is refused with a 422 naming the rule, instead of failing
later in a driver (a 500) or being stored and breaking every read after it.
"""

from __future__ import annotations

import math
from typing import Any

# One nesting limit for every JSON value hookwire accepts (event data, schemas,
# webhook fields), counted from the value itself: far above what events need,
# far below the depth at which Python's json and pydantic's serializer give up
# (about 1,000 and 255), so whatever is stored can always be read back.
MAX_JSON_DEPTH = 32
MAX_KEY_SHOWN_CHARS = 40
NESTED_TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"
CONTAINS_NUL = "contains a NUL character (\\u0000), which cannot be stored"
NOT_FINITE = "a number is NaN or infinite (as 1e400 becomes); JSON has no such numbers"


def json_value_problem(value: Any, *, allow_nul: bool = False) -> tuple[str, str] | None:
    """The first reason ``value`` (parsed JSON) may not be stored or sent, as ``(where, why)``.

    Refused: nesting deeper than :data:`MAX_JSON_DEPTH`; NaN and infinite numbers
    (not JSON, so receivers could not parse them); lone UTF-16 surrogates (not
    Unicode, so the value cannot be encoded as UTF-8); and NUL characters unless
    ``allow_nul`` (PostgreSQL text and JSONB cannot hold them). ``where`` is the
    path inside ``value`` (``""``, ``.key``, ``[3]``…); empty for nesting, where it
    would only repeat the keys.
    """
    path: list[str] = []
    why = _problem(value, path, 1, allow_nul)
    if why is None:
        return None
    return ("" if why == NESTED_TOO_DEEP else "".join(path)), why


def _problem(value: Any, path: list[str], depth: int, allow_nul: bool) -> str | None:
    if isinstance(value, str):
        return _text_problem(value, allow_nul)
    if isinstance(value, float):
        return None if math.isfinite(value) else NOT_FINITE
    if isinstance(value, dict | list):
        if depth > MAX_JSON_DEPTH:
            return NESTED_TOO_DEEP
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            path.append(f"[{key}]" if isinstance(key, int) else f".{_shown(key)}")
            why = _text_problem(key, allow_nul) if isinstance(key, str) else None
            why = why or _problem(item, path, depth + 1, allow_nul)
            if why is not None:
                return why
            path.pop()
    return None


def _shown(key: Any) -> str:
    # The path goes into an error message: keep it short and free of the
    # characters that made the value unacceptable.
    text = str(key)
    text = text if text.isprintable() else ascii(text)[1:-1]
    return text if len(text) <= MAX_KEY_SHOWN_CHARS else text[:MAX_KEY_SHOWN_CHARS] + "…"


def _text_problem(text: str, allow_nul: bool) -> str | None:
    if not allow_nul and "\0" in text:
        return CONTAINS_NUL
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            code = ord(text[exc.start])
            return f"contains a lone surrogate (\\u{code:04x}), which is not a Unicode character"
    return None
