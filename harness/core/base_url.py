"""Checking a base URL before anything is sent, with the fix in the message.

In the floor because both the flags (`--base-url`) and the suites (`endpoints:`) are checked with it.
"""

from __future__ import annotations

from harness.core.redaction import redact_url


def base_url_problem(url: str, source: str = "--base-url") -> str | None:
    """What is wrong with a base URL, with the fix; None when it has an http(s) scheme and a host.

    Checked before anything is sent: without a scheme httpx fails every request with
    UnsupportedProtocol, one case at a time. ``source`` names where the URL came from.
    """
    import ipaddress
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in url:
        host = urlsplit("//" + url).hostname or ""
        try:
            local = host == "localhost" or bool(ipaddress.ip_address(host))
        except ValueError:
            local = False
        return f"{source} {url!r} has no scheme; did you mean {'http' if local else 'https'}://{url}?"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"{source} {url!r} must start with http:// or https://"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        return f"{source} {url!r} has an invalid port"
    if not parts.hostname:
        return f"{source} {url!r} has no host; e.g. http://127.0.0.1:8080/v1"
    if parts.query or parts.fragment:  # the path is appended after it: /v1?x=1/chat/completions, a bare 404
        what = "a query string (?" + parts.query.split("=")[0] + "=...)" if parts.query else "a fragment (#...)"
        root = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return (f"{source} {redact_url(url)!r} has {what}: requests go to the base URL plus /chat/completions, "
                f"so it would land in the middle of every request's URL; use {redact_url(root)} (the API root, e.g. "
                "http://127.0.0.1:8080/v1)")  # fmt: skip
    return None
