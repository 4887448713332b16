"""The report's page skeleton and style sheet (inline: the page loads nothing at view time)."""

from __future__ import annotations

__all__ = ["PAGE", "section"]

_CSS = """
:root { --ink: #1d2430; --muted: #5b6472; --line: #d9dee5; --bg: #f6f7f9; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main { max-width: 1180px; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.2rem; margin: 0; display: inline; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.subtitle { color: var(--muted); margin: 0 0 .4rem; }
.verdict { margin: 0 0 .8rem; padding: .35rem .7rem; border-left: 4px solid var(--accent);
           background: #fff; font-size: .95rem; }
nav { display: flex; flex-wrap: wrap; gap: .3rem .9rem; padding: .6rem 0;
      border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); text-decoration: none; font-size: .9rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          margin: 1rem 0; padding: .8rem 1.1rem; }
summary { cursor: pointer; padding: .2rem 0; }
details[open] > summary { margin-bottom: .6rem; }
.grid { display: grid; gap: 1rem; align-items: start;
        grid-template-columns: repeat(auto-fill, minmax(min(100%, 460px), 1fr)); }
figure.plot { margin: 0; padding: .4rem; border: 1px solid var(--line); border-radius: 6px;
              background: #fff; min-width: 0; }
figure.plot.wide { grid-column: 1 / -1; }
figure.plot svg, figure.plot img { display: block; max-width: 100%; height: auto;
                                   margin: 0 auto; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .4rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left;
         white-space: nowrap; }
th { background: var(--bg); font-weight: 600; white-space: normal; vertical-align: bottom; }
table.board { font-size: .84rem; }
table.board th, table.board td { padding: .25rem .45rem; }
table.board td:nth-child(n+4), table.board th:nth-child(n+4) { text-align: right;
         font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px;
          margin-right: .35rem; vertical-align: -1px; }
.tag { border-radius: 4px; padding: 0 .35rem; font-size: .78rem; }
.tag.deep { background: #dbe8f7; color: #123e70; }
.tag.baseline { background: #ececec; color: #444; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.note { color: var(--muted); font-style: italic; }
pre { background: var(--bg); padding: .6rem; overflow: auto; max-height: 28rem;
      font-size: .8rem; border-radius: 6px; }
footer { color: var(--muted); font-size: .8rem; text-align: center; padding: 1rem; }
"""

PAGE = (
    "<!DOCTYPE html>\n"
    '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>{title}</title>\n<style>" + _CSS.replace("{", "{{").replace("}", "}}") + "</style>\n"
    "</head>\n<body>\n<header>\n<h1>{heading}</h1>\n"
    '<p class="subtitle">{subtitle}</p>\n<p class="verdict">{verdict}</p>\n'
    "<nav>{nav}</nav>\n</header>\n"
    "<main>\n{body}\n</main>\n"
    "<footer>written by biozoo from the files of this run folder; self-contained, works "
    "offline</footer>\n</body>\n</html>\n"
)
"""The page; ``str.format`` fields: title, heading, subtitle, verdict, nav, body (HTML-safe)."""


def section(key: str, title: str, body: str, *, open_: bool = True) -> str:
    """One collapsible section (``<details>``, no script needed).

    Args:
        key: the section's id (the navigation's anchor).
        title: its heading (HTML-safe).
        body: its content (HTML).
        open_: start expanded.

    Returns:
        The section's HTML.
    """
    state = " open" if open_ else ""
    return (
        f'<section id="{key}"><details{state}><summary><h2>{title}</h2></summary>'
        f"{body}</details></section>\n"
    )
