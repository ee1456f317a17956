"""The studio's HTML pages: one small shell per page kind; the page draws itself from the JSON API.

Every page loads the same three files of ``studio/static`` (``studio.css``, ``chart.js``, ``studio.js``);
``studio.js`` reads the kind from ``<body data-page=...>`` and the rest (the run's name, ``?runs=``,
``?model=``) from the URL. Nothing is loaded from elsewhere, and there is no inline script or style (the
app's Content-Security-Policy allows neither)."""

from __future__ import annotations

from html import escape

from ganforge.version import __version__

PAGES = ("runs", "run", "compare", "explore")

# The nav bar: (page kind it marks as current, link, label).
NAV = (("runs", "/", "Runs"), ("compare", "/compare", "Compare"), ("explore", "/explore", "Explore"))


def page_html(page: str, title: str) -> str:
    """The HTML of the page ``page`` (runs, run, compare or explore) titled ``title`` (escaped)."""
    if page not in PAGES:
        raise ValueError(f"page {page!r}: expected one of {', '.join(PAGES)}")
    # The version in the asset URLs makes a browser fetch new files after an upgrade.
    v = escape(__version__, quote=True)
    links = []
    for kind, href, label in NAV:
        current = ' aria-current="page"' if kind == page or (page == "run" and kind == "runs") else ""
        links.append(f'<a href="{href}"{current}>{label}</a>')
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · ganforge studio</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/studio.css?v={v}">
<script src="/static/chart.js?v={v}" defer></script>
<script src="/static/studio.js?v={v}" defer></script>
</head>
<body data-page="{page}">
<header class="topbar">
<a class="brand" href="/">ganforge <span>studio</span></a>
<nav>{"".join(links)}</nav>
</header>
<main id="app" aria-live="polite"><p class="loading">Loading…</p></main>
<noscript><p class="error-box">The studio needs JavaScript.</p></noscript>
</body>
</html>
"""
