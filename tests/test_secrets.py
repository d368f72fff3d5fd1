"""The secret box: key file, wrong key, environment key, rotation, and Secret never showing itself."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from mdmtui.errors import ConfigurationError
from mdmtui.secrets import ENV_KEY, Secret, SecretBox, mask, read_key_file, rotate_key


def test_key_file_created_private_and_reused(tmp_path):
    key_file = tmp_path / "config" / "secret.key"
    token = SecretBox(key_file).encrypt("s3cret-value")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "s3cret-value" not in token
    assert SecretBox(key_file).decrypt(token).reveal() == "s3cret-value"


def test_key_file_readable_by_others_is_refused(tmp_path):
    key_file = tmp_path / "secret.key"
    token = SecretBox(key_file).encrypt("x")
    key_file.chmod(0o644)
    with pytest.raises(ConfigurationError, match=f"{key_file} is readable by others \\(mode 644\\): "
                       f"run chmod 600 {key_file}"):
        SecretBox(key_file).decrypt(token)


def test_changed_key_gives_clear_error(tmp_path):
    token = SecretBox(tmp_path / "a.key").encrypt("x")
    with pytest.raises(ConfigurationError, match="cannot be decrypted with the key in .*b.key: the key changed "
                       "or was lost; restore the old key file, or enter the linkage's secrets again"):
        SecretBox(tmp_path / "b.key").decrypt(token)


def test_malformed_key_file(tmp_path):
    key_file = tmp_path / "secret.key"
    key_file.write_text("not-a-key\n")
    key_file.chmod(0o600)
    with pytest.raises(ConfigurationError, match="does not hold a valid secret key"):
        SecretBox(key_file).encrypt("x")


def test_empty_key_file(tmp_path):
    key_file = tmp_path / "secret.key"
    key_file.write_text("")
    key_file.chmod(0o600)
    with pytest.raises(ConfigurationError, match=f"{key_file} holds no secret key"):
        SecretBox(key_file).encrypt("x")


def test_env_key_wins_and_no_file_is_written(tmp_path, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(ENV_KEY, key)
    box = SecretBox(tmp_path / "secret.key")
    token = box.encrypt("from-env")
    assert not (tmp_path / "secret.key").exists()
    assert Fernet(key.encode()).decrypt(token.encode()) == b"from-env"
    assert box.source == f"${ENV_KEY}"


def test_bad_env_key_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_KEY, "short")
    with pytest.raises(ConfigurationError, match=rf"\${ENV_KEY} does not hold a valid secret key"):
        SecretBox(tmp_path / "k").encrypt("x")


def test_empty_and_none_are_not_encrypted(tmp_path):
    box = SecretBox(tmp_path / "k")
    assert box.encrypt(None) is None and box.encrypt("") is None and box.decrypt(None) is None


def test_rotation_reencrypts_and_drops_old_key(tmp_path):
    key_file = tmp_path / "secret.key"
    box = SecretBox(key_file)
    tokens = [box.encrypt("one"), box.encrypt("二")]
    old_key = key_file.read_bytes().strip()

    def reencrypt(new_box):
        assert len(read_key_file(key_file)) == 2  # old key still there while re-encrypting
        tokens[:] = [new_box.rotate_token(t) for t in tokens]
        return len(tokens)

    assert rotate_key(box, reencrypt) == 2
    keys = read_key_file(key_file)
    assert len(keys) == 1 and keys[0] != old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    fresh = SecretBox(key_file)
    assert [fresh.decrypt(t).reveal() for t in tokens] == ["one", "二"]


def test_rotation_failure_keeps_both_keys(tmp_path):
    key_file = tmp_path / "secret.key"
    box = SecretBox(key_file)
    token = box.encrypt("keep-me")

    def broken(_box):
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        rotate_key(box, broken)
    assert SecretBox(key_file).decrypt(token).reveal() == "keep-me"  # the old key still decrypts


def test_rotation_with_a_single_env_key_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    with pytest.raises(ConfigurationError, match=f"the key comes from \\${ENV_KEY}: set it to NEW_KEY,OLD_KEY"):
        rotate_key(SecretBox(tmp_path / "k"), lambda box: 0)


def test_rotation_with_env_keys_reencrypts_under_the_first(tmp_path, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(ENV_KEY, old)
    token = SecretBox(tmp_path / "k").encrypt("env-secret")
    monkeypatch.setenv(ENV_KEY, f"{new},{old}")
    box = SecretBox(tmp_path / "k")
    rotated = []
    assert rotate_key(box, lambda b: rotated.append(b.rotate_token(token)) or 1) == 1
    assert Fernet(new.encode()).decrypt(rotated[0].encode()) == b"env-secret"
    assert not (tmp_path / "k").exists()


def test_secret_never_shows_itself():
    secret = Secret("hunter2")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, repr([secret]),
             repr({"password": secret})]
    assert not any("hunter2" in text for text in shown)
    assert secret.reveal() == "hunter2" and secret == Secret("hunter2") and bool(Secret("")) is False


def test_mask_hides_length():
    assert mask("a") == mask("a very long ciphertext") == "********"
    assert mask(None) == mask("") == "(not set)"


def test_key_file_created_meanwhile_is_kept(tmp_path):
    from mdmtui.secrets import _write_new_key_file

    key_file = tmp_path / "secret.key"
    first, second = Fernet.generate_key(), Fernet.generate_key()
    _write_new_key_file(key_file, [first])
    _write_new_key_file(key_file, [second])  # a second process lost the race: the first key stays
    assert read_key_file(key_file) == [first]
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary file left behind
