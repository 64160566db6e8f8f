"""`data-mesh login`, `logout` and `whoami`: the user's Airflow token for the API, never printed."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

from data_mesh.web import client


def _expiry(claims: dict[str, Any]) -> str:
    if not isinstance(claims.get("exp"), int | float):
        return "no expiry in the token"
    moment = datetime.fromtimestamp(claims["exp"], UTC)
    state = "expired" if moment <= datetime.now(UTC) else "expires"
    return f"{state} {moment.strftime('%Y-%m-%d %H:%M:%SZ')}"


def _password(args: argparse.Namespace, username: str, url: str) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {username} at {url}: ")
    if not password:
        raise ValueError("no password given")
    return password


def cmd_login(args: argparse.Namespace) -> int:
    url = client.api_url(args.url)
    username = args.username
    if not username:
        if args.password_stdin or not sys.stdin.isatty():
            raise ValueError("give --username (the password is read from stdin)")
        username = input(f"Airflow user at {url}: ").strip()
    if not username:
        raise ValueError("no user name given")
    token = client.request_token(url, username, _password(args, username, url))
    path = client.save_token(url, token, username)
    claims = client.token_claims(token)
    print(f"Logged in to {url} as {claims.get('sub', username)} ({_expiry(claims)}); token saved in {path}")
    if os.environ.get(client.TOKEN_ENV):
        print(f"data-mesh: note: {client.TOKEN_ENV} is set; it is used instead", file=sys.stderr)
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    url = client.api_url(args.url)
    if client.remove_token(url):
        print(f"Logged out of {url} (its token removed from {client.credentials_path()})")
    else:
        print(f"not logged in to {url}")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    url = client.api_url(args.url)
    token, source = client.resolve_token(url)
    if not token:
        raise client.NotLoggedIn(url, "no token", None)
    claims = client.token_claims(token)
    who = claims.get("sub", "?")
    role = f" (role {claims['role']})" if claims.get("role") else ""
    print(f"{who}{role} at {url}; token from {source}, {_expiry(claims)}")
    print("(read from the token without verifying it: the api-server checks it on every call)")
    return 0


def add_parsers(sub: Any, url_option: argparse.ArgumentParser) -> None:
    p = sub.add_parser("login", parents=[url_option], help="log in to the api-server; stores your token")
    p.add_argument("--username", help="your Airflow user (asked if not given)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_login, auth=True)
    p = sub.add_parser("logout", parents=[url_option], help="forget the token stored for the API URL")
    p.set_defaults(func=cmd_logout, auth=True)
    p = sub.add_parser("whoami", parents=[url_option], help="the user your token names, and its expiry")
    p.set_defaults(func=cmd_whoami, auth=True)
