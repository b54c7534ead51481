"""Request bodies per webhook ``format``: the event's payload, or a Slack or Discord message.

Pure: bytes in, bytes out, no I/O, so that the worker renders what it sends
and anything else (``hookwire listen``, tests) can read it back.

- ``hookwire``: the payload itself, ``{"event", "data", "triggeredAt"}``.
- ``slack``: a Slack incoming-webhook message, ``{"text": …}`` in mrkdwn.
- ``discord``: a Discord webhook message, ``{"content": …, "allowed_mentions":
  {"parse": []}}``, so that nothing in an event's data can ping @everyone, a
  role or a user.

Both chat messages are one readable line, then the data as a ``json`` code
block::

    *license.created* for *Acme Inc* — key: D08B53-C564F8, plan: pro, seats: 5
    ```json
    {
      "key": "D08B53-C564F8",
      …
    }
    ```

The line names the event, the tenant (its name) and the data's **key fields**:
the first :data:`KEY_FIELDS` top-level fields of ``data`` whose value is a
string, number or boolean, in the order the event gave them (nested objects,
lists and nulls are left to the block); each value shown is cut to
:data:`KEY_VALUE_CHARS` characters and kept on one line.

Lengths: Discord refuses ``content`` over 2,000 characters; Slack cuts ``text``
at 40,000 and advises at most 4,000, so a Slack message is kept within 4,000.
Lengths are counted in UTF-16 code units, never fewer than characters, so the
limits hold whichever way an app counts. Data too long for that is cut at a line of the
block, which ends with ``…``, and a last line says how much is shown.

Escaping: Slack's ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;``
everywhere in the text (Slack shows them as the characters; no ``<!channel>``
or link can be made from data); mrkdwn has no escape for a backtick, so in the
line one is shown as U+02CB, the modifier letter grave accent. Discord's
markdown characters in the line are escaped with a backslash. In the block, a
backtick is written as JSON's own escape ``\\u0060`` (it can only occur inside
a JSON string, where that escape means the same), so data can never close the
code block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from hookwire.enums import BodyFormat

SLACK_TEXT_LIMIT = 4_000  # Slack's advice; it truncates at 40,000
DISCORD_CONTENT_LIMIT = 2_000  # Discord refuses more
SLACK_BACKTICK = "\u02cb"  # a look-alike for a backtick in the Slack line
KEY_FIELDS = 3
KEY_VALUE_CHARS = 60
# Names in the line are cut too, so that the line always leaves room for data.
NAME_CHARS = 100

_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")
# Emphasis, code, spoilers, masked links and <@…> mentions; the line starts with
# bold text, so line-start syntax (headings, quotes, lists) cannot occur.
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|\[\]<])")
_SLACK_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def render_body(body_format: str, payload: bytes, tenant_label: str) -> bytes:
    """The bytes sent for an event whose stored payload is ``payload``.

    ``hookwire`` returns ``payload`` itself (the very object); the chat
    formats build their message from its ``event`` and ``data``.
    """
    if body_format == BodyFormat.HOOKWIRE:
        return payload
    message = json.loads(payload)
    event, data = str(message["event"]), message["data"]
    if body_format == BodyFormat.SLACK:
        return _dumps({"text": slack_text(event, data, tenant_label)})
    if body_format == BodyFormat.DISCORD:
        content = discord_content(event, data, tenant_label)
        return _dumps({"content": content, "allowed_mentions": {"parse": []}})
    raise ValueError(f"unknown body format {body_format!r}")


def key_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields the readable line names: see the module's description."""
    fields: list[tuple[str, str]] = []
    for name, value in data.items():
        if len(fields) == KEY_FIELDS:
            break
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, str | int | float):
            shown = value if isinstance(value, str) else json.dumps(value)
        else:
            continue
        fields.append((_one_line(name, NAME_CHARS), _one_line(shown, KEY_VALUE_CHARS)))
    return fields


def slack_text(event: str, data: dict[str, Any], tenant_label: str) -> str:
    """The ``text`` of the Slack message (mrkdwn), at most :data:`SLACK_TEXT_LIMIT` long."""
    line = _line(event, tenant_label, data, bold="*", escape=_slack_line_escape)
    return _with_block(line, data, SLACK_TEXT_LIMIT, slack_escape, note="_{}_")


def discord_content(event: str, data: dict[str, Any], tenant_label: str) -> str:
    """The ``content`` of the Discord message, at most :data:`DISCORD_CONTENT_LIMIT` long."""
    line = _line(event, tenant_label, data, bold="**", escape=discord_escape)
    return _with_block(line, data, DISCORD_CONTENT_LIMIT, str, note="*{}*")


def slack_escape(text: str) -> str:
    """``text`` as Slack's mrkdwn shows it literally: ``&``, ``<``, ``>`` as entities."""
    for char, entity in _SLACK_ENTITIES:
        text = text.replace(char, entity)
    return text


def _slack_line_escape(text: str) -> str:
    # mrkdwn has no escape for a backtick: in the line it becomes a look-alike
    # (the block keeps the data exactly).
    return slack_escape(text).replace("`", SLACK_BACKTICK)


def slack_unescape(text: str) -> str:
    """The inverse of :func:`slack_escape` (what a person sees in Slack)."""
    for char, entity in reversed(_SLACK_ENTITIES):
        text = text.replace(entity, char)
    return text


def discord_escape(text: str) -> str:
    """``text`` with Discord's markdown characters escaped by a backslash."""
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def chat_message(body: bytes) -> tuple[str, str] | None:
    """``("Slack", text)`` or ``("Discord", content)`` for a chat body, else None.

    For showing a received body to a person: Slack's entities are decoded.
    """
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if set(message) == {"text"} and isinstance(message["text"], str):
        return "Slack", slack_unescape(message["text"])
    if set(message) <= {"content", "allowed_mentions"} and isinstance(message.get("content"), str):
        return "Discord", message["content"]
    return None


def text_length(text: str) -> int:
    """``text``'s length in UTF-16 code units (a character outside the BMP counts 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


# --- building the message --------------------------------------------------------


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _one_line(text: str, limit: int) -> str:
    """``text`` with control characters and runs of space as one space, cut to ``limit``."""
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _line(
    event: str,
    tenant_label: str,
    data: dict[str, Any],
    *,
    bold: str,
    escape: Callable[[str], str],
) -> str:
    def strong(text: str) -> str:
        return f"{bold}{escape(_one_line(text, NAME_CHARS))}{bold}"

    line = strong(event)
    if tenant_label.strip():
        line += f" for {strong(tenant_label)}"
    fields = key_fields(data)
    if fields:
        line += " — " + ", ".join(f"{escape(name)}: {escape(value)}" for name, value in fields)
    return line


def _with_block(
    line: str, data: dict[str, Any], limit: int, escape: Callable[[str], str], *, note: str
) -> str:
    """``line``, then ``data`` as a json code block, all within ``limit``."""
    if not data:
        return line
    pretty = json.dumps(data, indent=2, ensure_ascii=False).replace("`", "\\u0060")
    block = escape(pretty)
    head, tail = f"{line}\n```json\n", "\n```"
    whole = head + block + tail
    if text_length(whole) <= limit:
        return whole
    # The note's numbers are at most as long as the block's length.
    total = text_length(block)
    widest = "\n" + note.format(f"Data cut: the first {total:,} of {total:,} characters shown.")
    budget = limit - text_length(head + tail + widest) - len("\n…")
    shown = _cut(block, budget)
    said = note.format(f"Data cut: the first {text_length(shown):,} of {total:,} characters shown.")
    return f"{head}{shown}\n…{tail}\n{said}"


def _cut(block: str, budget: int) -> str:
    """The longest start of ``block`` within ``budget``, ended at a line when one is near."""
    used = 0
    end = 0
    for index, char in enumerate(block):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            break
        end = index + 1
    shown = block[:end]
    newline = shown.rfind("\n")
    if newline >= end // 2:
        return shown[:newline]
    # Cut inside a long line: never in the middle of a Slack entity (&amp;).
    ampersand = shown.rfind("&", max(0, len(shown) - 5))
    if ampersand != -1 and ";" not in shown[ampersand:]:
        shown = shown[:ampersand]
    return shown
