"""The API client's stored logins: a private file keyed by API URL, the environment's token first."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from data_mesh.web import client

A, B = "http://localhost:8080", "https://airflow.example.com"


@pytest.fixture
def credentials(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "data-mesh" / "credentials.json"
    monkeypatch.setenv(client.CREDENTIALS_ENV, str(path))
    monkeypatch.delenv(client.TOKEN_ENV, raising=False)
    return path


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_is_private_and_keyed_by_url(credentials):
    client.save_token(A, "token-a", "viewer")
    client.save_token(B, "token-b", "admin")
    assert mode(credentials) == 0o600 and mode(credentials.parent) == 0o700
    stored = json.loads(credentials.read_text())
    assert {url: entry["access_token"] for url, entry in stored.items()} == {A: "token-a", B: "token-b"}
    assert client.resolve_token(A) == ("token-a", str(credentials))
    assert client.remove_token(A) and not client.remove_token(A)
    assert client.resolve_token(A) == (None, None) and client.resolve_token(B)[0] == "token-b"
    assert client.remove_token(B) and not credentials.exists()  # nothing left: no file


def test_a_readable_file_is_made_private_again(credentials, capsys):
    credentials.parent.mkdir(parents=True)
    credentials.write_text(json.dumps({A: {"access_token": "old"}}))
    credentials.chmod(0o644)
    assert client.resolve_token(A) == ("old", str(credentials))
    assert "other users may read" in capsys.readouterr().err
    client.save_token(A, "new", "viewer")
    assert mode(credentials) == 0o600 and client.resolve_token(A)[0] == "new"
    assert not list(credentials.parent.glob(".*.tmp"))


def test_the_environment_token_wins(credentials, monkeypatch):
    client.save_token(A, "stored", "viewer")
    monkeypatch.setenv(client.TOKEN_ENV, "from-env")
    assert client.resolve_token(A) == ("from-env", client.TOKEN_ENV)
    assert client.ApiClient.from_environment(A).token_source == client.TOKEN_ENV


def test_the_url_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv(client.URL_ENV, raising=False)
    assert client.api_url() == client.DEFAULT_URL
    monkeypatch.setenv(client.URL_ENV, f"{B}/")
    assert client.api_url() == B and client.api_url("http://other:9/") == "http://other:9"
    with pytest.raises(ValueError, match="must start with http"):
        client.api_url("localhost:8080")


def test_claims_are_read_for_display_only():
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "viewer", "exp": 1}).encode()).decode().rstrip("=")
    assert client.token_claims(f"h.{claims}.s") == {"sub": "viewer", "exp": 1}
    assert client.token_claims("not-a-jwt") == {} and client.token_claims("a.!!!.c") == {}


def test_the_token_never_shows_in_a_repr():
    api = client.ApiClient(A, "s3cret-token")
    assert "s3cret-token" not in repr(api.session.auth) and "s3cret-token" not in repr(vars(api))
    assert api.session.headers[client.CLIENT_HEADER] == "cli"
