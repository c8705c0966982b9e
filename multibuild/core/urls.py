"""URLs safe to print: a light module (urllib.parse only), so quick helpers such as
``multibuild.source.checkout`` need not import the download layer."""

from __future__ import annotations

import urllib.parse


def redact_url(url: str) -> str:
    """``url`` without any user:password part."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<malformed URL>"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
