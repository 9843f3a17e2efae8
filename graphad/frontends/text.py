"""A safe, iterative parser for graphad expression text.

The input is a string in Python *expression* syntax (``"-x**2 + sin(y)"``).
Nothing here evaluates it: there is no ``eval``, ``exec``, ``compile``,
``ast.parse`` or SymPy on user text.  A hand-written tokenizer feeds a
shunting-yard (operator-precedence) parser that keeps its state on explicit
stacks, so neither a 200,000-term sum nor 10,000 nested brackets can exhaust
the Python stack.  What the expression *means* is decided by a
:class:`Builder` the caller passes in; the parser only reports structure.
"""

from __future__ import annotations

import difflib
import keyword
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from ..core.errors import GraphadError, ParseError, ShapeError
from ..core.limits import ParseLimits
from ..ops import OPS

__all__ = ["DEFAULT_LIMITS", "Builder", "ParseLimits", "parse"]


@runtime_checkable
class Builder(Protocol):
    """What :func:`parse` calls to turn structure into nodes (duck-typed).

    Every method may raise ``ParseError`` (without text), any
    ``GraphadError``, ``ValueError`` or ``TypeError``; :func:`parse` re-raises
    it as a ``ParseError`` pointing at the operator or call being built, except
    a ``ShapeError``, which propagates unchanged.

    A builder may also define ``function_names() -> Iterable[str]``; when
    present it is used to suggest close matches for an unknown function
    (otherwise near-miss spellings are probed with :meth:`is_function`).
    """

    def number(self, value: int | float, text: str) -> Any:
        """A numeric literal: ``value`` is a Python int or float, ``text`` its source."""

    def name(self, ident: str) -> Any:
        """An identifier used as a value (NFKC-normalized; includes ``pi`` and ``e``)."""

    def unary(self, op: str, operand: Any) -> Any:
        """A prefix operator: ``op`` is ``"-"`` or ``"+"``."""

    def binary(self, op: str, left: Any, right: Any) -> Any:
        """An infix operator of the op table (``+ - * / ** @ < <= > >= == !=`` ...;
        ``^`` arrives as ``**``)."""

    def call(self, func: str, args: list, kwargs: dict) -> Any:
        """A call of a name for which :meth:`is_function` is true.

        Arguments that are number literals (optionally negated), ``True``,
        ``False``, ``None``, lists or tuples arrive as Python values; every
        other argument is a node this builder returned.
        """

    def is_function(self, name: str) -> bool:
        """Whether ``name`` may be called (and so may not be used as a value)."""


DEFAULT_LIMITS = ParseLimits()

# ---------------------------------------------------------------- tokenizer

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


# ------------------------------------------------------------------- parser


# Value-stack tags.  Literals stay unbuilt until we know whether they are a whole call
# argument (passed as Python values) or an operand (built into nodes).
_NODE, _LIT, _NEGLIT, _PYCONST, _SEQ = range(5)
_CALL, _GROUP, _LIST = range(3)
_OPENER = {_CALL: "(", _GROUP: "(", _LIST: "["}
_CLOSER_CHAR = {_RPAR: ")", _RSQB: "]"}
_EDIT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


class _Frame:
    """An open bracket: where its operators start and what it has collected."""

    # fmt: off
    __slots__ = ("comma", "fresh", "func", "func_pos", "in_call", "items", "kind", "kw", "kwargs",
                 "open_pos", "ops_base")
    # fmt: on

    def __init__(self, kind: int, open_pos: int, ops_base: int, in_call: bool,
                 func: str = "", func_pos: int = 0) -> None:  # fmt: skip
        self.kind = kind
        self.open_pos = open_pos
        self.ops_base = ops_base
        self.in_call = in_call  # tuples, lists and True/False/None are allowed here
        self.func = func
        self.func_pos = func_pos
        self.items: list = []
        self.kwargs: dict = {}
        self.kw: str | None = None  # keyword whose value is being parsed
        self.comma = False
        self.fresh = True  # at the start of an argument / element


class _Parser:
    def __init__(self, text: str, builder: Builder, limits: ParseLimits) -> None:
        self.text = text
        self.builder = builder
        self.limits = limits

    def fail(self, reason: str, pos: int) -> ParseError:
        return ParseError(reason, self.text, pos)

    def build(self, pos: int, method: Any, *args: Any) -> Any:
        """Call a builder method; its errors become ParseErrors at ``pos``."""
        try:
            return method(*args)
        except ShapeError:
            raise
        except ParseError as exc:
            if exc.text:
                raise
            raise self.fail(exc.reason, pos) from exc
        except (GraphadError, ValueError, TypeError) as exc:
            raise self.fail(str(exc) or type(exc).__name__, pos) from exc

    def is_function(self, name: str, pos: int) -> bool:
        return bool(self.build(pos, self.builder.is_function, name))

    def suggestions(self, name: str, pos: int) -> list[str]:
        listing = getattr(self.builder, "function_names", None)
        if callable(listing):
            candidates = [str(c) for c in self.build(pos, listing)]
        elif len(name) <= 40:
            # No list to search: probe every spelling one edit away.
            low = name.lower()
            splits = [(low[:i], low[i:]) for i in range(len(low) + 1)]
            edits = {low}
            edits.update(a + b[1:] for a, b in splits if b)
            edits.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
            edits.update(a + c + b[1:] for a, b in splits if b for c in _EDIT_CHARS)
            edits.update(a + c + b for a, b in splits for c in _EDIT_CHARS)
            edits.discard(name)
            candidates = [c for c in sorted(edits) if c and self.is_function(c, pos)]
        else:
            candidates = []
        return difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)

    def unknown_function(self, name: str, pos: int) -> ParseError:
        reason = f"unknown function {name!r}"
        close = self.suggestions(name, pos)
        if close:
            reason += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        return self.fail(reason, pos)

    def materialize(self, entry: tuple, use: str) -> Any:
        """Turn a value-stack entry into a builder node for use as an operand."""
        tag, payload, pos = entry
        if tag == _NODE:
            return payload
        if tag == _LIT:
            return self.build(pos, self.builder.number, payload[0], payload[1])
        if tag == _NEGLIT:
            value, lit, num_pos = payload
            node = self.build(num_pos, self.builder.number, value, lit)
            return self.build(pos, self.builder.unary, "-", node)
        if tag == _PYCONST:
            what = repr(payload)
        else:
            what = "a tuple" if isinstance(payload, tuple) else "a list"
        raise self.fail(
            f"{what} can only be a whole function argument, not an operand of {use}", pos
        )

    def reduce(self, ops: list, vals: list) -> None:
        """Apply the operator on top of ``ops`` to the values on top of ``vals``."""
        _prec, op, pos, is_unary = ops.pop()
        builder = self.builder
        if is_unary:
            entry = vals[-1]
            if op == "-" and entry[0] == _LIT:
                # Keep "-1" a literal so that axis=-1 arrives as the int -1.
                vals[-1] = (_NEGLIT, (entry[1][0], entry[1][1], entry[2]), pos)
            else:
                node = self.build(pos, builder.unary, op, self.materialize(entry, repr(op)))
                vals[-1] = (_NODE, node, pos)
        else:
            right = vals.pop()
            left = vals[-1]
            use = repr(op)
            args = (op, self.materialize(left, use), self.materialize(right, use))
            vals[-1] = (_NODE, self.build(pos, builder.binary, *args), left[2])

    def add_item(self, frame: _Frame, entry: tuple) -> None:
        tag, payload, _pos = entry
        if tag == _LIT:
            value = payload[0]
        elif tag == _NEGLIT:
            value = -payload[0]
        else:
            value = payload  # a node, True/False/None, or an already-built list/tuple
        if frame.kw is not None:
            frame.kwargs[frame.kw] = value
            frame.kw = None
        else:
            frame.items.append(value)

    def close(self, frame: _Frame) -> tuple:
        """The value-stack entry a closed bracket leaves behind."""
        if frame.kind == _CALL:
            node = self.build(
                frame.func_pos, self.builder.call, frame.func, frame.items, frame.kwargs
            )
            return (_NODE, node, frame.func_pos)
        if frame.kind == _LIST:
            return (_SEQ, frame.items, frame.open_pos)
        return (_SEQ, tuple(frame.items), frame.open_pos)

    def juxtaposition(self, prev: tuple, tok: tuple, nxt: tuple) -> ParseError:
        text = self.text
        left = text[prev[2] : prev[3]]
        right = text[tok[2] : tok[3]]
        reason = f"missing operator between {left!r} and {right!r}"
        if prev[0] == _NUM:
            if tok[0] == _LPAR:
                right = "(...)"
            elif tok[0] == _NAME and nxt[0] == _LPAR:
                right += "(...)"
            reason += f"; to multiply, write {left}*{right}"
        return self.fail(reason, tok[2])

    def missing_operand(self, tok: tuple, prev: tuple | None, frames: list) -> ParseError:
        text = self.text
        kind, _value, pos, end = tok
        if kind == _END:
            if prev is not None and prev[0] == _OP:
                return self.fail(f"expected an operand after {text[prev[2] : prev[3]]!r}", prev[2])
            if frames:
                frame = frames[-1]
                return self.fail(f"{_OPENER[frame.kind]!r} was never closed", frame.open_pos)
            return self.fail("empty expression", 0)
        if kind == _ASSIGN:
            return self.fail("unexpected '='", pos)
        if kind == _DOT:
            return self.fail(f"unexpected character {_describe_char('.')}", pos)
        return self.fail(f"missing operand before {text[pos:end]!r}", pos)

    def run(self) -> Any:
        text = self.text
        limits = self.limits
        if len(text) > limits.max_length:
            raise self.fail(
                f"input is {len(text)} characters long; "
                f"the limit is max_length={limits.max_length}",
                limits.max_length,
            )
        builder = self.builder
        build = self.build
        reduce = self.reduce
        max_depth = limits.max_depth
        it = _tokens(text, limits)
        nxt = next(it)
        if nxt[0] == _END:
            raise self.fail("empty expression", 0)
        ops: list = []  # (precedence, op, position, is_unary)
        vals: list = []  # (tag, payload, start position)
        frames: list[_Frame] = []
        operand = True  # expecting an operand (vs an operator)
        prev = None
        while True:
            tok = nxt
            kind, value, pos, _end = tok
            if kind == _ERR:
                raise self.fail(value, pos)
            nxt = next(it)
            frame = frames[-1] if frames else None
            if operand:
                if frame is not None and frame.fresh and kind != _RPAR and kind != _RSQB:
                    frame.fresh = False
                    if frame.kind == _CALL:
                        if kind == _NAME and nxt[0] == _ASSIGN:
                            if value in frame.kwargs:
                                raise self.fail(f"keyword argument {value!r} repeated", pos)
                            frame.kw = value
                            prev, nxt = nxt, next(it)
                            continue
                        if frame.kwargs:
                            raise self.fail("positional argument follows keyword argument", pos)
                        if kind == _OP and value in ("*", "**"):
                            raise self.fail(
                                "argument unpacking (*args, **kwargs) is not supported", pos
                            )
                if kind == _NUM:
                    vals.append((_LIT, (value, text[pos:_end]), pos))
                    operand = False
                elif kind == _NAME:
                    if nxt[0] == _LPAR:
                        if not self.is_function(value, pos):
                            raise self.unknown_function(value, pos)
                        if len(frames) >= max_depth:
                            raise self.fail(_depth_message(max_depth), nxt[2])
                        frames.append(_Frame(_CALL, nxt[2], len(ops), True, value, pos))
                        prev, nxt = nxt, next(it)
                        continue
                    if self.is_function(value, pos):
                        raise self.fail(
                            f"{value!r} is a function; call it, e.g. {value}(x)",
                            pos,
                        )
                    vals.append((_NODE, build(pos, builder.name, value), pos))
                    operand = False
                elif kind == _OP and (value == "-" or value == "+"):
                    ops.append((_UNARY, value, pos, True))
                elif kind in (_LPAR, _LSQB):
                    in_call = frame is not None and frame.in_call
                    if kind == _LSQB and not in_call:
                        raise self.fail("lists [...] are only allowed as function arguments", pos)
                    if len(frames) >= max_depth:
                        raise self.fail(_depth_message(max_depth), pos)
                    frames.append(
                        _Frame(_LIST if kind == _LSQB else _GROUP, pos, len(ops), in_call)
                    )
                elif kind == _CONST:
                    if frame is None or not frame.in_call:
                        raise self.fail(f"{value!r} is only allowed as a function argument", pos)
                    vals.append((_PYCONST, value, pos))
                    operand = False
                elif kind in (_RPAR, _RSQB) and frame is not None:
                    self.check_closer(frame, tok)
                    if frame.kw is not None:
                        raise self.fail(f"keyword argument {frame.kw!r} has no value", pos)
                    if not frame.fresh:
                        raise self.missing_operand(tok, prev, frames)
                    if frame.kind == _GROUP and not frame.in_call:
                        raise self.fail(
                            "empty parentheses '()' are not an expression", frame.open_pos
                        )
                    frames.pop()
                    vals.append(self.close(frame))
                    operand = False
                elif kind in (_RPAR, _RSQB):
                    raise self.fail(f"unmatched {_CLOSER_CHAR[kind]!r}", pos)
                else:
                    raise self.missing_operand(tok, prev, frames)
            elif kind == _OP:
                prec = _PREC[value]
                base = frame.ops_base if frame is not None else 0
                while len(ops) > base:
                    top = ops[-1][0]
                    if top > prec or (top == prec and prec != _POW):
                        if top == _CMP:
                            raise self.fail(
                                "chained comparisons like a < b < c are not supported; "
                                "compare two values at a time",
                                pos,
                            )
                        reduce(ops, vals)
                    else:
                        break
                ops.append((prec, value, pos, False))
                operand = True
            elif kind == _COMMA:
                if frame is None or not frame.in_call:
                    raise self.fail("tuples are only allowed as function arguments", pos)
                while len(ops) > frame.ops_base:
                    reduce(ops, vals)
                self.add_item(frame, vals.pop())
                frame.comma = frame.fresh = True
                operand = True
            elif kind in (_RPAR, _RSQB):
                if frame is None:
                    raise self.fail(f"unmatched {_CLOSER_CHAR[kind]!r}", pos)
                self.check_closer(frame, tok)
                while len(ops) > frame.ops_base:
                    reduce(ops, vals)
                frames.pop()
                entry = vals.pop()
                if frame.kind == _GROUP and not frame.comma:
                    vals.append((entry[0], entry[1], frame.open_pos))  # plain grouping
                else:
                    self.add_item(frame, entry)
                    vals.append(self.close(frame))
            elif kind == _END:
                if frames:
                    raise self.fail(f"{_OPENER[frame.kind]!r} was never closed", frame.open_pos)
                while ops:
                    reduce(ops, vals)
                return self.materialize(vals[0], "the expression")
            elif kind == _DOT:
                raise self.fail("attribute access (x.name) is not supported", pos)
            elif kind == _LSQB:
                raise self.fail("subscripts like x[...] are not supported", pos)
            elif kind == _ASSIGN:
                raise self.fail(
                    "'=' is only allowed after a keyword name in a call; use '==' to compare", pos
                )
            else:
                raise self.juxtaposition(prev, tok, nxt)
            prev = tok

    def check_closer(self, frame: _Frame, tok: tuple) -> None:
        closer = _CLOSER_CHAR[tok[0]]
        opener = _OPENER[frame.kind]
        if (closer == "]") != (opener == "["):
            raise self.fail(
                f"{closer!r} does not match {opener!r} at position {frame.open_pos}", tok[2]
            )


def _depth_message(max_depth: int) -> str:
    return f"brackets nested more than {max_depth} deep; the limit is max_depth={max_depth}"


def parse(text: str, builder: Builder, *, limits: ParseLimits | None = None) -> Any:
    """Parse expression text, building the result with ``builder``.

    Parameters
    ----------
    text : str
        Python expression syntax: numbers, names, ``+ - * / ** @`` (``^`` means
        ``**``), unary ``-``/``+``, one comparison ``< <= > >= == !=``,
        parentheses and calls of functions the builder knows.  Call arguments
        may also be keyword arguments, ``[...]``/``(...)`` displays and
        ``True``/``False``/``None``.
    builder : Builder
        Turns each piece of structure into a node (see :class:`Builder`).
    limits : ParseLimits, optional
        Resource limits; :data:`DEFAULT_LIMITS` when omitted.

    Returns
    -------
    object
        Whatever the builder returned for the outermost operation.

    Raises
    ------
    ParseError
        For invalid text or an exceeded limit, with the 0-based ``position``
        of the fault; also for a builder error other than ``ShapeError``.
    ShapeError
        Raised by the builder, unchanged.

    Examples
    --------
    >>> class Tuples:
    ...     def number(self, value, text): return value
    ...     def name(self, ident): return ident
    ...     def unary(self, op, operand): return (op, operand)
    ...     def binary(self, op, left, right): return (op, left, right)
    ...     def call(self, func, args, kwargs): return (func, args, kwargs)
    ...     def is_function(self, name): return name in ("sin", "sum")
    >>> parse("-x**2 + sin(y)", Tuples())
    ('+', ('-', ('**', 'x', 2)), ('sin', ['y'], {}))
    >>> parse("sum(x, axis=-1) ^ 2", Tuples())
    ('**', ('sum', ['x'], {'axis': -1}), 2)
    >>> parse("2x", Tuples())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    graphad.ParseError: missing operator between '2' and 'x'; to multiply, write 2*x ...
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, got {type(text).__name__}")
    return _Parser(text, builder, limits if limits is not None else DEFAULT_LIMITS).run()
