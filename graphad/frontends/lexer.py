"""The tokenizer of graphad's expression parser (:mod:`graphad.frontends.text`).

One compiled regular expression reads a token per call, leading whitespace
folded in; numbers, names (NFKC-normalized), operators from the op table's
``infix`` facet and punctuation come out as small tuples ``(kind, value, start,
end)``.  Everything Python allows but graphad refuses (string literals,
``//``, bitwise operators, keywords such as ``lambda``) becomes an error token
with the message the parser shows under a caret, so the parser never has to
guess why a character is there.  Kept apart from the parser: this module
decides what the characters are, the parser what the structure is.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterator

from ..core.limits import ParseLimits
from ..ops import OPS

# Token kinds and value-stack tags are small ints: cheap to compare in the hot loop.
_END, _NUM, _NAME, _CONST, _OP, _LPAR, _RPAR, _LSQB, _RSQB, _COMMA, _ASSIGN, _DOT, _ERR = range(13)
_PUNCT = {"(": _LPAR, ")": _RPAR, "[": _LSQB, "]": _RSQB, ",": _COMMA, "=": _ASSIGN, ".": _DOT}


def _binding_powers() -> tuple[dict[str, int], int, int, int]:
    """Infix operator -> binding power, from the op table's ``infix`` and ``precedence``
    facets (Python's order: comparisons < + - < * / % @ < unary - < **); also the powers
    of unary minus, ``**`` (right-associative) and the comparisons (never chained)."""
    infix = {op.infix: op.precedence for op in OPS.values() if op.infix and op.public}
    unary = OPS["negative"].precedence
    rank = {p: i + 1 for i, p in enumerate(sorted({*infix.values(), unary}))}
    prec = {sym: rank[p] for sym, p in infix.items()}
    return prec, rank[unary], prec["**"], prec["<"]


# Binding power; unary +/- sits between * and **, so -x**2 == -(x**2) and 2**-x works.
_PREC, _UNARY, _POW, _CMP = _binding_powers()
_OP_ALTERNATIVES = "|".join(re.escape(o) for o in sorted({*_PREC, "^"}, key=len, reverse=True))

_DIGITS = r"[0-9](?:_?[0-9])*"
# Leading whitespace is folded into every match: one regex call per token.
_TOKEN_RE = re.compile(
    rf"""[ \t\n\r\f\v]*(?:
    (?P<num>0[xX](?:_?[0-9a-fA-F])+ | 0[oO](?:_?[0-7])+ | 0[bB](?:_?[01])+
      | (?:{_DIGITS}(?:\.(?:{_DIGITS})?)? | \.{_DIGITS})(?:[eE][+-]?{_DIGITS})?)
  | (?P<name>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)
  | (?P<bad>//|:=|<<|>>)
  | (?P<op>{_OP_ALTERNATIVES})
  | (?P<punct>[()\[\],=.])
  | (?P<end>\Z))""",
    re.VERBOSE,
)
_SPACE_RE = re.compile(r"[ \t\n\r\f\v]*")

_BAD_OPS = {
    "//": "'//' (floor division) is not supported",
    ":=": "':=' (assignment expression) is not supported",
    "<<": "bitwise shift '<<' is not supported",
    ">>": "bitwise shift '>>' is not supported",
}
_BAD_CHARS = dict.fromkeys("'\"", "string literals are not supported")
_BAD_CHARS.update(dict.fromkeys("&|~", "bitwise operators (& | ~) are not supported"))
_BAD_CHARS.update(dict.fromkeys("{}", "dict and set displays are not supported"))
_BAD_CHARS.update(
    {
        ":": "slices, lambdas, dicts and annotations are not supported",
        ";": "only a single expression is allowed",
        "\\": "backslashes (line continuations, escapes) are not supported",
        "#": "comments are not supported",
        "!": "'!' is only valid in '!='",
    }
)

_KEYWORDS = frozenset(keyword.kwlist)
_CONSTANTS = {"True": True, "False": False, "None": None}
_KEYWORD_MESSAGES = {
    "lambda": "lambda expressions are not supported",
    "in": "'in' (membership tests and comprehensions) is not supported",
    "is": "'is' comparisons are not supported; use ==",
}
_KEYWORD_MESSAGES.update(
    dict.fromkeys(("and", "or", "not"), "boolean operators 'and', 'or' and 'not' are not supported")
)
_KEYWORD_MESSAGES.update(
    dict.fromkeys(
        ("if", "else"),
        "conditional expressions (a if c else b) are not supported; use where(c, a, b)",
    )
)
_KEYWORD_MESSAGES.update(
    dict.fromkeys(
        ("for", "async"),
        "comprehensions and generator expressions (for ... in ...) are not supported",
    )
)


def _describe_char(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    return f"{ch!r} ({code})" if ch.isprintable() and not ch.isspace() else code


def _number_token(text: str, pos: int, end: int, limits: ParseLimits) -> tuple:
    lit = text[pos:end]
    after = text[end : end + 1]
    if after and after in "jJ":
        return (_ERR, f"complex literals like {lit + after!r} are not supported", pos, end)
    if after == "_" or after.isdigit() or (lit == "0" and after and after in "xXoObB"):
        return (_ERR, f"invalid numeric literal {lit + after!r}", pos, end)
    prefixed = lit[:2] in ("0x", "0X", "0o", "0O", "0b", "0B")
    # Count before converting: int() of a huge literal is the expensive part.
    digits = len(lit) - 2 - lit.count("_") if prefixed else sum(map(lit.count, "0123456789"))
    limit = limits.max_literal_digits
    if digits > limit:
        reason = f"numeric literal has {digits} digits; the limit is max_literal_digits={limit}"
        return (_ERR, reason, pos, end)
    is_float = not prefixed and ("." in lit or "e" in lit or "E" in lit)
    if not prefixed and not is_float:
        bare = lit.replace("_", "")
        if len(bare) > 1 and bare[0] == "0" and bare.strip("0"):
            return (_ERR, "leading zeros in integer literals are not permitted", pos, end)
    try:
        value = float(lit) if is_float else int(lit, 0)
    except ValueError as exc:  # only reachable past Python's int-digit limit
        return (_ERR, f"numeric literal cannot be converted: {exc}", pos, end)
    return (_NUM, value, pos, end)


def _name_token(text: str, pos: int, end: int) -> tuple:
    ident = text[pos:end]
    if not ident.isascii():
        # Like CPython: each raw character must be XID, then the name is NFKC-normalized.
        if not ident.isidentifier():
            for i, ch in enumerate(ident):
                if not (ch.isidentifier() if i == 0 else ("a" + ch).isidentifier()):
                    return (_ERR, f"unexpected character {_describe_char(ch)}", pos + i, end)
        ident = unicodedata.normalize("NFKC", ident)
    if ident.startswith("__"):
        return (_ERR, f"names beginning with '__' are not allowed: {ident!r}", pos, end)
    if ident in _KEYWORDS:
        if ident in _CONSTANTS:
            return (_CONST, _CONSTANTS[ident], pos, end)
        reason = _KEYWORD_MESSAGES.get(ident, f"the keyword {ident!r} is not allowed")
        return (_ERR, reason, pos, end)
    return (_NAME, ident, pos, end)


def _tokens(text: str, limits: ParseLimits) -> Iterator[tuple]:
    """Yield ``(kind, value, start, end)`` tokens, then ``_END`` (or ``_ERR``) forever.

    Faults become ``_ERR`` tokens rather than exceptions so that the parser,
    which looks one token ahead, still reports the *earliest* fault.
    """
    match = _TOKEN_RE.match
    pos = count = 0
    max_tokens = limits.max_tokens
    while True:
        m = match(text, pos)
        if m is None:
            pos = _SPACE_RE.match(text, pos).end()
            ch = text[pos]
            reason = f"unexpected character {_describe_char(ch)}"
            if ch in _BAD_CHARS:
                reason += ": " + _BAD_CHARS[ch]
            tok = (_ERR, reason, pos, pos + 1)
        else:
            group = m.lastgroup
            start, end = m.span(group)
            count += 1
            if group == "name":
                ident = m.group(group)
                if ident.isascii() and ident not in _KEYWORDS and ident[:2] != "__":
                    tok = (_NAME, ident, start, end)  # the common case, inline
                else:
                    tok = _name_token(text, start, end)
            elif group == "op":
                op = m.group(group)
                tok = (_OP, "**" if op == "^" else op, start, end)
            elif group == "punct":
                tok = (_PUNCT[m.group(group)], None, start, end)
            elif group == "num":
                tok = _number_token(text, start, end, limits)
            elif group == "end":
                tok = (_END, None, start, end)
            else:
                tok = (_ERR, _BAD_OPS[m.group(group)], start, end)
            if count > max_tokens and tok[0] != _END:
                reason = f"more than {max_tokens} tokens; the limit is max_tokens={max_tokens}"
                tok = (_ERR, reason, start, end)
        if tok[0] == _ERR or tok[0] == _END:
            while True:
                yield tok
        yield tok
        pos = tok[3]
