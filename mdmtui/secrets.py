"""Secrets at rest: MDM passwords and client secrets are encrypted with a local key.

On a headless Linux server reached over SSH there is usually no desktop keyring, so the key is a
Fernet key in a file only its owner can read (``config_dir/secret.key``, mode 0600), or the
``MDMTUI_SECRET_KEY`` environment variable (e.g. from a systemd credential). The database holds
ciphertext only, so a database dump, backup or export never reveals a secret.

The key file may hold several keys, one per line: the first encrypts, all of them decrypt. That is
how a key is rotated without losing a secret (``rotate_key``): the new key is added in front, every
stored secret is re-encrypted, then the old key is dropped.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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

    def __format__(self, spec: str) -> str:
        return repr(self)

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
        self._key_file = Path(key_file)
        self._fernet: MultiFernet | None = None

    @property
    def source(self) -> str:
        """Where the key comes from, for messages."""
        return f"${ENV_KEY}" if os.environ.get(ENV_KEY) else str(self._key_file)

    def _key(self) -> MultiFernet:
        if self._fernet is None:
            self._fernet = MultiFernet([_fernet(k, self.source) for k in self._load_or_create_keys()])
        return self._fernet

    def _load_or_create_keys(self) -> list[bytes]:
        from_env = os.environ.get(ENV_KEY)
        if from_env:
            return _split_keys(from_env.encode(), f"${ENV_KEY}")
        if not self._key_file.exists():
            _write_new_key_file(self._key_file, [Fernet.generate_key()])
        return read_key_file(self._key_file)

    def encrypt(self, plaintext: str | None) -> str | None:
        """Ciphertext (text) for the database; None and "" stay None."""
        if plaintext is None or plaintext == "":
            return None
        return self._key().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str | None) -> Secret | None:
        """The secret from its ciphertext, or a clear error when the key does not match."""
        if not token:
            return None
        try:
            return Secret(self._key().decrypt(token.encode()).decode())
        except InvalidToken:
            raise ConfigurationError(
                f"a stored secret cannot be decrypted with the key in {self.source}: the key changed "
                "or was lost; restore the old key file, or enter the linkage's secrets again") from None

    def rotate_token(self, token: str | None) -> str | None:
        """The same secret encrypted with the first (newest) key."""
        if not token:
            return token
        try:
            return self._key().rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(f"a stored secret cannot be decrypted with the key in {self.source}; "
                                     "nothing was rotated") from None


def read_key_file(path: Path) -> list[bytes]:
    """The keys in ``path`` (first = current); refuses a file others can read."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(f"{path} is readable by others (mode {mode:o}): run chmod 600 {path}")
    if path.stat().st_uid != os.getuid():
        raise ConfigurationError(f"{path} belongs to another user: the key file must be the admin's own")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the secret key {path}: {exc.strerror}") from None
    return _split_keys(data, str(path))


def _split_keys(data: bytes, source: str) -> list[bytes]:
    keys = [line.strip() for line in data.replace(b",", b"\n").splitlines() if line.strip()]
    if not keys:
        raise ConfigurationError(f"{source} holds no secret key")
    for key in keys:
        _fernet(key, source)
    return keys


def _fernet(key: bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise ConfigurationError(f"{source} does not hold a valid secret key (44 characters of "
                                 "URL-safe base64, as generated by mdmtui)") from None


def _write_new_key_file(path: Path, keys: list[bytes]) -> None:
    """Create the key file atomically with mode 0600; another process creating it first wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_temp(path, keys)
    try:
        os.link(tmp, path)  # atomic, and fails when the file appeared meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _replace_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically (rename), mode 0600."""
    os.replace(_private_temp(path, keys), path)


def _private_temp(path: Path, keys: list[bytes]) -> str:
    fd, tmp = tempfile.mkstemp(prefix=".secret-key-", dir=path.parent)  # mkstemp: mode 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join(keys) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def rotate_key(box: SecretBox, reencrypt: Callable[[SecretBox], int]) -> int:
    """Replace the key; ``reencrypt(box)`` rewrites every stored secret with the first key. Returns its count.

    Key file, crash-safe order: new key added in front of the old ones, secrets re-encrypted, old keys
    dropped. ``MDMTUI_SECRET_KEY``: the admin puts the new key first (``NEW,OLD``); only re-encryption
    happens here, and the admin then removes the old key from the variable.
    """
    from_env = os.environ.get(ENV_KEY)
    if from_env:
        if len(_split_keys(from_env.encode(), f"${ENV_KEY}")) < 2:
            raise ConfigurationError(f"the key comes from ${ENV_KEY}: set it to NEW_KEY,OLD_KEY (a new key "
                                     "first) and run this again; then remove the old key from it")
        box._fernet = None
        return reencrypt(box)
    old = read_key_file(box._key_file) if box._key_file.exists() else []
    new = Fernet.generate_key()
    _replace_key_file(box._key_file, [new, *old])
    box._fernet = None
    count = reencrypt(box)
    _replace_key_file(box._key_file, [new])
    box._fernet = None
    return count
