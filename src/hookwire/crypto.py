"""Webhook tokens encrypted at rest, and API keys hashed.

Tokens must be readable again (they sign every request), so they are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the operator's secret
key. API keys only need to be recognised, so only their SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SECRET_KEY_FILE = "hookwire.secret"


class TokenCipher:
    """Encrypts and decrypts webhook tokens with one Fernet key."""

    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "HOOKWIRE_SECRET_KEY must be a Fernet key: 32 bytes, URL-safe base64 "
                "(generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a webhook token cannot be decrypted: HOOKWIRE_SECRET_KEY is not the key "
                "the tokens were stored with"
            ) from exc


class MissingSecretKey(Exception):
    """No secret key configured, and none in the data folder."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def load_or_create_secret_key(
    configured: str | None, data_dir: Path, *, create: bool = True
) -> str:
    """The configured key, else the one in ``data_dir``, else a new one written there (0600).

    With ``create=False`` a missing key is an error (:class:`MissingSecretKey`): a
    worker must sign and decrypt with the service's key, never a new one.
    """
    if configured:
        return configured
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise MissingSecretKey(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key (keys are 256-bit random: no slow hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
