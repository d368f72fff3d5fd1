"""Secrets at rest: MDM passwords and client secrets are encrypted with a local key.

On a headless Linux server reached over SSH there is usually no desktop keyring, so the key is a
Fernet key in a file only its owner can read (``config_dir/secret.key``, mode 0600), or the
``MDMTUI_SECRET_KEY`` environment variable (e.g. from a systemd credential). The database holds
ciphertext only, so a database dump, backup or export never reveals a secret.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from mdmtui.errors import ConfigurationError

ENV_KEY = "MDMTUI_SECRET_KEY"


class Secret:
    """A secret value that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext, for the one place that sends it to the MDM."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask(value: str | None) -> str:
    """How a stored secret is shown on screen: never its content, not even its length."""
    return "********" if value else "(not set)"


class SecretBox:
    """Encrypts and decrypts secrets with the installation's key."""

    def __init__(self, key_file: Path) -> None:
        self._key_file = key_file
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_or_create_key())
        return self._fernet

    def _load_or_create_key(self) -> bytes:
        from_env = os.environ.get(ENV_KEY)
        if from_env:
            return from_env.encode()
        if self._key_file.exists():
            mode = stat.S_IMODE(self._key_file.stat().st_mode)
            if mode & 0o077:
                raise ConfigurationError(
                    f"{self._key_file} is readable by others (mode {mode:o}): run chmod 600 on it")
            return self._key_file.read_bytes().strip()
        self._key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    def encrypt(self, plaintext: str | None) -> str | None:
        """Ciphertext (text) for the database; None stays None."""
        if plaintext is None or plaintext == "":
            return None
        try:
            return self._key().encrypt(plaintext.encode()).decode()
        except ValueError as exc:
            raise ConfigurationError(f"the secret key is malformed: {exc}") from None

    def decrypt(self, token: str | None) -> Secret | None:
        """The secret from its ciphertext, or a clear error when the key does not match."""
        if not token:
            return None
        try:
            return Secret(self._key().decrypt(token.encode()).decode())
        except InvalidToken:
            raise ConfigurationError(
                f"a stored secret cannot be decrypted with {self._key_file} or ${ENV_KEY}: "
                "the key changed; enter the linkage's secrets again") from None
        except ValueError as exc:
            raise ConfigurationError(f"the secret key is malformed: {exc}") from None
