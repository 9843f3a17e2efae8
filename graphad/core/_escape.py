"""One escaping function per target language that user text can reach.

Input names (``ga.symbol(name)``, ``ga.load``), dict keys naming outputs,
highlight reasons and custom op names are arbitrary text: quotes, backslashes,
``<...>``, ``$``, newlines, lone surrogates, megabytes.  Every place that puts
such text into DOT, SVG, HTML, LaTeX or generated Python goes through one of:

- :func:`dot_string`: the value of a quoted DOT attribute (Graphviz's
  escString: labels, the title), :func:`dot_tooltip` for tooltips;
- :func:`dot_html`: text inside an HTML-like Graphviz label (``<...>``);
- :func:`html_text`: text and attribute values of an HTML page (reports);
- :func:`json_script`: data in a ``<script type="application/json">`` element;
- :func:`latex_name`: a name typeset by MathJax/LaTeX in math mode;
- :func:`py_comment`: text in a comment of generated Python source.

Each first passes the text through :func:`clean` (characters no target can
carry, such as lone surrogates and control characters, become visible
``\\x01``-style escapes) and cuts it to a length limit, so no output exceeds
Graphviz's 16 kB string limit or grows with the size of a name.

Kept free of heavy imports: ``graphad.core.expr`` uses it for ``_repr_latex_``.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

__all__ = [
    "DOT_MAX_BYTES",
    "clean",
    "dot_html",
    "dot_string",
    "dot_tooltip",
    "html_text",
    "json_script",
    "latex_name",
    "py_comment",
    "short_name",
]

#: Graphviz refuses quoted or HTML strings longer than 16384 bytes; stay below.
DOT_MAX_BYTES = 12_000

# Characters that XML 1.0 (SVG), UTF-8 or a terminal cannot carry, or that
# would move the cursor: C0 controls but tab and newline, DEL, lone
# surrogates, and the two non-characters U+FFFE/U+FFFF.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_ELLIPSIS = "…"


def _visible(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: Any, limit: int | None = None) -> str:
    """``text`` as a ``str`` every target can carry, at most ``limit`` characters.

    Unsafe characters become visible escapes (``"\\x00"``, ``"\\ud800"``); a
    cut text ends with ``…``.  Nothing else changes: escaping for a target
    language is the caller's job (one of the functions below).
    """
    text = text if type(text) is str else str(text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)]
        cut = True
    else:
        cut = False
    text = _UNSAFE.sub(_visible, text)
    if limit is not None and len(text) > limit:  # escapes made it longer
        text, cut = text[: max(limit - 1, 0)], True
    return text + _ELLIPSIS if cut else text


def short_name(name: Any, limit: int = 40) -> str:
    """A name for a one-line label: :func:`clean`, newlines and tabs shown as ``\\n``/``\\t``."""
    text = clean(name, None if limit is None else 4 * limit)
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + _ELLIPSIS
    return text


def _fit(escape, text: str, budget: int) -> str:
    """``escape(text)``, the text cut until the result's UTF-8 form fits ``budget`` bytes."""
    out = escape(text)
    while len(out.encode("utf-8")) > budget and text:
        size = len(out.encode("utf-8"))
        keep = max(0, min(len(text) - 1, len(text) * budget // size - 2))
        text = text[:keep].rstrip(_ELLIPSIS) + _ELLIPSIS if keep else ""
        out = escape(text)
    return out


def _dot_escape(text: str) -> str:
    # Backslashes first (Graphviz reads \n, \l, \N, \G ... in escStrings), then
    # quotes; entities because Graphviz passes &name; through to SVG unchanged.
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dot_string(text: Any, limit: int = 2000, budget: int = DOT_MAX_BYTES) -> str:
    """``text`` as the value of a quoted DOT attribute (label, tooltip, title).

    Newlines stay newlines (legal inside a quoted DOT string); everything
    Graphviz would interpret (backslash escapes, quotes, ``&entity;``, a
    ``<...>`` HTML string) is neutralised, and the escaped text is at most
    ``budget`` bytes of UTF-8.  The result is a ``graphviz.nohtml`` string, so
    the graphviz package quotes it as text even if it looks like ``<...>``.
    """
    out = _fit(_dot_escape, clean(text, limit), budget)
    return _nohtml(out)


#: Shown for a backslash in tooltips and HTML-like labels (U+29F5 REVERSE SOLIDUS
#: OPERATOR, which looks the same): Graphviz reads backslash escapes there after
#: decoding entities, differently across versions (see :func:`dot_tooltip`).
BACKSLASH = "\u29f5"


def dot_tooltip(text: Any, limit: int = 3000, budget: int = DOT_MAX_BYTES) -> str:
    """``text`` as a DOT ``tooltip`` value: :func:`dot_string`, backslashes shown as ``⧵``.

    Graphviz versions read backslashes in tooltips differently (2.43 removes
    two levels and expands ``\\N`` to the node's name; later versions one
    level, without ``\\N``), so no escaping of a backslash shows it right
    everywhere; a look-alike character does.
    """
    return dot_string(clean(text, limit).replace("\\", BACKSLASH), limit, budget)


def dot_lines(lines: list[str], justify: str = "l", budget: int = DOT_MAX_BYTES) -> str:
    """Lines of a DOT label, each escaped and ended by ``\\l`` (left), ``\\n`` or ``\\r``."""
    end = "\\" + justify
    out: list[str] = []
    used = 0
    for line in lines:
        piece = _fit(_dot_escape, short_name(line, 300), budget) + end
        used += len(piece.encode("utf-8"))
        if used > budget:
            break
        out.append(piece)
    return _nohtml("".join(out))


def _nohtml(text: str) -> str:
    try:
        from graphviz import nohtml
    except ImportError:  # pragma: no cover - graphviz is a dependency
        return text
    return nohtml(text)


def _html_escape(text: str) -> str:
    # Graphviz also reads backslash escapes (\\N: the node's name) in HTML-like labels,
    # even written as &#92;: show a look-alike instead.
    return html.escape(text.replace("\\", BACKSLASH), quote=True).replace("\n", " ")


def dot_html(text: Any, limit: int = 200, budget: int = DOT_MAX_BYTES // 4) -> str:
    """``text`` inside an HTML-like Graphviz label: no tag, entity or escape survives."""
    return _fit(_html_escape, clean(text, limit), budget)


def html_text(text: Any, limit: int | None = 2000) -> str:
    """``text`` as HTML text or a quoted attribute value (``&<>"'`` escaped)."""
    return html.escape(clean(text, limit), quote=True)


def json_script(data: Any) -> str:
    """``data`` as JSON that can sit inside an HTML ``<script>`` element.

    ASCII only (lone surrogates and line separators become ``\\uXXXX``), and
    ``<``, ``>`` and ``&`` escaped too, so no ``</script>`` or ``<!--`` in a
    name can end or change the element.  ``JSON.parse`` reads it back exactly.
    """
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Math-mode spellings of the characters LaTeX (and MathJax) treat specially.
_LATEX = {
    "\\": r"\backslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\wedge{}",
    "~": r"\sim{}",
    "<": r"\lt{}",
    ">": r"\gt{}",
    " ": r"\ ",
    "\n": r"\ ",
    "\t": r"\ ",
}
_LATEX_RE = re.compile("[" + re.escape("".join(_LATEX)) + "]")
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)?\Z")


def latex_name(name: Any, limit: int = 40) -> str | None:
    """LaTeX for an input name in math mode, or ``None`` when SymPy's own form is safe.

    Plain names (``x``, ``alpha``, ``x_1``) keep SymPy's typesetting (Greek
    letters, subscripts).  Any other name is set upright, every special
    character spelled as a math-mode symbol, so that ``$``, ``\\href{...}``,
    ``<script>`` and the like are shown, never interpreted.
    """
    text = name if type(name) is str else str(name)
    if len(text) <= limit and _PLAIN_NAME.match(text):
        return None
    text = clean(text, limit)
    body = _LATEX_RE.sub(lambda m: _LATEX[m.group()], text)
    return r"\mathrm{" + body.replace(_ELLIPSIS, r"\ldots{}") + "}"


def py_comment(text: Any, limit: int = 200) -> str:
    """Text for one line of a Python comment: ``repr`` of it, cut to ``limit`` characters.

    ``repr`` escapes newlines, other unprintable characters and lone
    surrogates, so the text can neither end the comment nor fail to encode.
    """
    text = text if type(text) is str else str(text)
    return repr(text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS)
