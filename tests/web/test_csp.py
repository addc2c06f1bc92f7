"""The dashboard's Content-Security-Policy and the nonce given to its scripts."""

from __future__ import annotations

import re

from panacea.web.csp import add_nonce, dashboard_policy, new_nonce, websocket_origin


def test_each_top_level_script_gets_the_nonce_and_script_text_is_left_alone() -> None:
    page = (
        b"<html><head><SCRIPT type=importmap>{}</SCRIPT>"
        b'<script src="/a.js" defer></script></head>'
        b"<body><script type=module>const s = '<script>alert(1)</script';"
        b"</script><p>&lt;script&gt; as text</p><script>x()</script></body></html>"
    )
    rewritten = add_nonce(page, "N0nce")
    opening = re.findall(rb"<script\b[^>]*>", rewritten, re.IGNORECASE)
    # Four elements the parser opens; the "<script>" inside the module's string is script text.
    assert opening == [
        b'<SCRIPT nonce="N0nce" type=importmap>',
        b'<script nonce="N0nce" src="/a.js" defer>',
        b'<script nonce="N0nce" type=module>',
        b"<script>",
        b'<script nonce="N0nce">',
    ]
    assert b"const s = '<script>alert(1)</script';" in rewritten
    assert b"<p>&lt;script&gt; as text</p>" in rewritten


def test_a_page_without_scripts_is_unchanged_and_an_unclosed_script_still_gets_it() -> None:
    assert add_nonce(b"<p>no scripts</p>", "n") == b"<p>no scripts</p>"
    assert add_nonce(b"<script>never closed", "n") == b'<script nonce="n">never closed'


def test_policy_allows_only_this_origin_and_the_nonce() -> None:
    nonce = new_nonce()
    assert len(nonce) >= 22  # 128 bits or more, base64url
    assert nonce != new_nonce()
    policy = dict(
        d.split(" ", 1)
        for d in dashboard_policy(nonce, "https://panacea.hospital.example").split("; ")
    )
    assert policy["script-src"] == f"'self' 'nonce-{nonce}' 'unsafe-eval'"
    assert policy["connect-src"] == "'self' wss://panacea.hospital.example"
    assert policy["default-src"] == "'self'"
    for directive in ("object-src", "base-uri", "frame-ancestors", "worker-src"):
        assert policy[directive] == "'none'", directive
    assert "unsafe-inline" not in policy["script-src"]
    assert websocket_origin("http://localhost:8000") == "ws://localhost:8000"
