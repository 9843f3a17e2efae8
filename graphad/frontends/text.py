"""A safe, iterative parser for graphad expression text.

The input is a string in Python *expression* syntax (``"-x**2 + sin(y)"``).
Nothing here evaluates it: there is no ``eval``, ``exec``, ``compile``,
``ast.parse`` or SymPy on user text.  A hand-written tokenizer
(:mod:`graphad.frontends.lexer`) feeds a
shunting-yard (operator-precedence) parser that keeps its state on explicit
stacks, so neither a 200,000-term sum nor 10,000 nested brackets can exhaust
the Python stack.  What the expression *means* is decided by a
:class:`Builder` the caller passes in; the parser only reports structure.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol, runtime_checkable

from ..core.errors import GraphadError, ParseError, ShapeError
from ..core.limits import ParseLimits
from .lexer import (
    _ASSIGN,
    _CMP,
    _COMMA,
    _CONST,
    _DOT,
    _END,
    _ERR,
    _LPAR,
    _LSQB,
    _NAME,
    _NUM,
    _OP,
    _POW,
    _PREC,
    _RPAR,
    _RSQB,
    _UNARY,
    _describe_char,
    _tokens,
)

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
