"""The gradient-check report: per-input tables, the culprit node, JSON and HTML forms.

Kept apart from :mod:`graphad.check.gradcheck` (which computes the witnesses) so that
each module holds one idea.  A report duck-types what ``ga.render`` needs to
mark the culprit: ``.graph``, ``.outputs``, ``.culprit`` and ``.culprit_reason``.

One module, though just past 600 lines: the four record classes (per element, per
input, per node, the report) and the three forms each is shown in (text, JSON,
HTML) change together whenever a field is added, so they stay side by side.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core._escape import html_text

__all__ = ["ElementCheck", "GradCheckReport", "InputCheck", "NodeCheck"]

# element status -> (verdict it counts as, how the table shows it)
STATUS = {
    "pass": ("pass", "pass"),
    "kink": ("pass", "pass (kink)"),
    "fail": ("fail", "FAIL"),
    "noisy": ("inconclusive", "inconclusive (noise)"),
    "kink?": ("inconclusive", "inconclusive (kink)"),
    "jump": ("inconclusive", "inconclusive (discontinuity)"),
    "nonfinite": ("inconclusive", "inconclusive (not finite)"),
}

# an automatic display stays small whatever the number of inputs
_HTML_ROWS, _HTML_NOTES = 40, 20

# the per-element table's columns, shared by the text and HTML forms of a report
_COLUMNS = ("input", "index", "AD", "finite diff", "± err", "SymPy", "abs err", "rel err", "status")


def _num(x: Any) -> Any:
    """A JSON-safe number: non-finite floats become the strings "nan", "inf", "-inf"."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def _json_values(v: Any) -> Any:
    """An array as nested lists of JSON-safe numbers (NaN/inf as strings, as ``_num``)."""
    arr = np.asarray(v)
    if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
        return arr.tolist()
    if arr.dtype.kind == "c":
        return [[_num(z.real), _num(z.imag)] for z in arr.ravel().tolist()]
    if arr.ndim == 0:
        return _num(arr.item())
    flat = np.array([_num(x) for x in arr.ravel().tolist()], dtype=object)
    return flat.reshape(arr.shape).tolist()


def _fmt(x: float | None, digits: int = 10) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


@dataclass
class ElementCheck:
    """One compared number: an input element (index is a tuple) or a projection ("projN")."""

    index: Any
    ad: float
    fd: float
    fd_err: float
    sympy_at: Any  # SymPy's value, or a callable giving it when first asked (lazy witness)
    status: str
    note: str = ""
    step: float = 0.0
    interval: tuple[float, float] | None = None  # one-sided slopes, at a kink
    atol: float | None = None  # this element's absolute tolerance, when per element

    @property
    def sympy(self) -> float | None:
        """SymPy's derivative of this element (None where there is none)."""
        if callable(self.sympy_at):
            self.sympy_at = self.sympy_at()
        return self.sympy_at

    def __getstate__(self) -> dict[str, Any]:
        self.sympy  # noqa: B018 - a deferred witness is resolved before pickling
        return dict(self.__dict__)

    @property
    def abs_err(self) -> float:
        return abs(self.ad - self.fd)

    @property
    def rel_err(self) -> float:
        return self.abs_err / abs(self.fd) if self.fd else (0.0 if not self.abs_err else math.inf)

    def to_dict(self) -> dict[str, Any]:
        idx = list(self.index) if isinstance(self.index, tuple) else self.index
        return {
            "index": idx,
            "ad": _num(self.ad),
            "fd": _num(self.fd),
            "fd_err": _num(self.fd_err),
            "sympy": _num(self.sympy),
            "abs_err": _num(self.abs_err),
            "rel_err": _num(self.rel_err),
            "status": self.status,
            "verdict": STATUS[self.status][0],
            "note": self.note,
            "step": _num(self.step),
            "interval": None if self.interval is None else [_num(v) for v in self.interval],
            "atol": _num(self.atol),
        }


@dataclass
class InputCheck:
    """The check of one input: its elements' rows, tolerances and verdict."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    mode: str  # "full", "projection" or "projection+full"
    rtol: float
    atol: float
    elements: list[ElementCheck]
    verdict: str
    notes: list[str] = field(default_factory=list)
    atol_scaled: bool = False  # atol is per element: atol * max(1, |fd|) of that element
    ad_shape: tuple[int, ...] | None = None  # what AD returned, when its shape is wrong
    bounds: bool = False  # tolerances from rounding-error analysis (per element)

    @property
    def formula(self) -> str:
        if self.bounds:
            return (
                "|ad - fd| <= AD's rounding bound + the differences' error bound "
                "(per element, from rounding-error analysis; fail above that plus twice "
                "the differences' error bound)"
            )
        atol = (
            f"{self.atol:.3g}*max(1, |fd|) + AD rounding noise"
            if self.atol_scaled
            else f"{self.atol:.3g}"
        )
        return f"|ad - fd| <= atol + rtol*|fd|  (rtol={self.rtol:.3g}, atol={atol})"

    def atol_of(self, e: ElementCheck) -> float:
        """The absolute tolerance of one element (scaled by its own magnitude only)."""
        if not self.atol_scaled:
            return self.atol
        if e.atol is not None:
            return e.atol
        return self.atol * max(1.0, abs(e.fd) if math.isfinite(e.fd) else 1.0)

    def tolerance(self, e: ElementCheck) -> float:
        return self.atol_of(e) + self.rtol * abs(e.fd)

    def threshold(self, e: ElementCheck) -> float:
        """The detection threshold of one element: an error of AD below this could not
        have been seen (the tolerance, plus twice the differences' own error)."""
        return self.tolerance(e) + 2 * e.fd_err

    def threshold_text(self) -> str:
        """The detection threshold in words, absolute and relative to the element."""
        rows = [e for e in self.elements if math.isfinite(e.fd) and math.isfinite(e.fd_err)]
        if not rows:
            return ""
        worst = max(rows, key=lambda e: self.threshold(e) / max(abs(e.fd), 1e-300))
        rel = [self.threshold(e) / abs(e.fd) for e in rows if e.fd]
        text = (
            f"detection threshold: an error below {self.threshold(worst):.2g} in "
            f"[{_index_text(worst.index)}] could not have been seen"
        )
        if rel:
            text += f" (relative: {min(rel):.2g} to {max(rel):.2g} over the elements)"
        return text

    def worst(self, k: int = 5) -> list[ElementCheck]:
        """The k elements farthest from passing: failures first, then by error / tolerance."""
        rank = {"fail": 0, "kink?": 1, "jump": 1, "nonfinite": 1, "noisy": 1}

        def key(e: ElementCheck) -> tuple:
            ratio = e.abs_err / self.tolerance(e) if self.tolerance(e) else math.inf
            return (rank.get(e.status, 2), -(ratio if math.isfinite(ratio) else 1e308))

        return sorted(self.elements, key=key)[:k]

    def explain(self, e: ElementCheck) -> str:
        """The pass formula with this element's numbers."""
        tol = self.tolerance(e)
        cmp = "<=" if e.abs_err <= tol else ">"
        return (
            f"|{_fmt(e.ad, 8)} - {_fmt(e.fd, 8)}| = {e.abs_err:.3g} {cmp} "
            f"{self.atol_of(e):.3g} + {self.rtol:.3g}*{abs(e.fd):.6g} = {tol:.3g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "mode": self.mode,
            "verdict": self.verdict,
            "rtol": _num(self.rtol),
            "atol": _num(self.atol),
            "atol_per_element": self.atol_scaled,
            "formula": self.formula,
            "detection_threshold": self.threshold_text(),
            "notes": list(self.notes),
            "elements": [e.to_dict() for e in self.elements[:4096]],
            "worst": [
                dict(e.to_dict(), formula=self.explain(e), threshold=_num(self.threshold(e)))
                for e in self.worst()
            ],
        }


@dataclass
class NodeCheck:
    """One node's own VJP rule checked at the values it saw (see ``check.localize``)."""

    node: int
    op: str
    arg_shapes: list[tuple[int, ...]]
    positions: list[dict[str, Any]]
    status: str  # "pass", "fail", "kink" or "skipped"
    note: str = ""

    @property
    def failing_positions(self) -> list[int]:
        return [p["position"] for p in self.positions if p["status"] == "fail"]

    def describe(self, graph: Any = None) -> str:
        args = ""
        if graph is not None and self.node in graph:
            args = ", ".join(graph.label(a) for a in graph.node(self.node)["args"])
        shapes = ", ".join(str(s) for s in self.arg_shapes)
        head = f"{self.op} at node v{self.node}({args}), argument shapes [{shapes}]"
        if self.note:
            return f"{head}: {self.note}"
        bad = [p for p in self.positions if p["status"] == "fail"]
        parts = [_position_text(p) for p in bad]
        return head + (": wrong VJP for " + "; ".join(parts) if parts else f": {self.status}")

    def short(self) -> str:
        """A one-line reason, for a rendered graph's node label."""
        bad = [p for p in self.positions if p["status"] == "fail"]
        if not bad:
            return f"{self.op} v{self.node}: {self.note or self.status}"
        p = bad[0]
        which = ", ".join(str(q["position"]) for q in bad)
        if p.get("rule") is None or p.get("numerical") is None:
            detail = p.get("note", "")
        else:
            detail = f"rule {_fmt(p['rule'], 4)} vs numerical {_fmt(p['numerical'], 4)}"
            if p.get("element") is not None:
                detail += f" at element {list(p['element'])}"
        return f"{self.op} v{self.node}: wrong VJP for argument {which} ({detail})"

    def to_dict(self) -> dict[str, Any]:
        pos = [
            {k: (_num(v) if k in ("rule", "numerical", "err", "step") else v) for k, v in p.items()}
            for p in self.positions
        ]
        return {
            "node": self.node,
            "op": self.op,
            "arg_shapes": [list(s) for s in self.arg_shapes],
            "status": self.status,
            "note": self.note,
            "positions": pos,
            "failing_positions": self.failing_positions,
        }


@dataclass
class GradCheckReport:
    """The result of :func:`graphad.check_grad`.

    ``verdict`` is "pass", "fail" or "inconclusive"; ``ok`` is True for pass
    and, unless ``strict``, inconclusive.  ``print(report)`` shows a table per
    input; ``culprit`` is the node id whose own rule is wrong (or None).

    Parameters
    ----------
    verdict : {"pass", "fail", "inconclusive"}
        The overall verdict: the worst of the inputs' verdicts.
    inputs : list of InputCheck
        One check per input checked: its compared elements, tolerances and verdict.
    graph : Graph
        The graph that was checked.
    outputs : list of int
        The node id(s) of the checked output in ``graph``.
    label : str
        The checked expression as text.
    point : dict of str to ndarray
        The values of the inputs the check ran at.
    dtype : str
        The dtype the check computed in.
    sympy_note : str
        Why the SymPy witness was not used, when it was not.
    strict : bool
        Whether "inconclusive" counts as a failure (``ok`` False).
    output_shape : tuple of int
        The shape of the checked output.
    culprit : int or None
        The node whose own derivative rule is wrong, when the check found one.
    culprit_reason : str
        How the culprit was found.
    node_checks : list of NodeCheck
        The per-node checks run to find the culprit.
    notes : list of str
        Remarks on the check as a whole.

    Examples
    --------
    Made by :func:`graphad.check_grad`:

    >>> import graphad as ga
    >>> x = ga.symbol("x")
    >>> report = ga.check_grad(ga.sin(x) * x, {"x": 0.5})
    >>> report.verdict, report.ok, report.culprit
    ('pass', True, None)
    >>> report.input("x").verdict, report.counts()
    ('pass', {'pass': 1, 'fail': 0, 'inconclusive': 0})
    """

    verdict: str
    inputs: list[InputCheck]
    graph: Any
    outputs: list[int]
    label: str
    point: dict[str, np.ndarray]
    dtype: str
    sympy_status: Any = ""  # the note, or a callable giving it (lazy witness)
    strict: bool = False
    output_shape: tuple[int, ...] = ()
    culprit: int | None = None
    culprit_reason: str = ""
    node_checks: list[NodeCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sympy_note(self) -> str:
        """Why SymPy gave no value ("" when it was used)."""
        if callable(self.sympy_status):
            self.sympy_status = self.sympy_status()
        return self.sympy_status

    def __getstate__(self) -> dict[str, Any]:
        self.sympy_note  # noqa: B018 - a deferred witness is resolved before pickling
        self.graph  # noqa: B018 - so is a graph still to be rebuilt
        for i in self.inputs:
            for e in i.elements:
                e.sympy  # noqa: B018
        return dict(self.__dict__)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass" or (self.verdict == "inconclusive" and not self.strict)

    @property
    def culprit_check(self) -> NodeCheck | None:
        return next((c for c in self.node_checks if c.node == self.culprit), None)

    def input(self, name: str) -> InputCheck:
        """The check of the input called ``name``."""
        for i in self.inputs:
            if i.name == name:
                return i
        # a callable's inputs are named after its parameters; "a<i>" still finds the i-th
        if name.startswith("a") and name[1:].isdigit():
            names = list(self.point)
            k = int(name[1:])
            if k < len(names):
                return self.input(names[k]) if names[k] != name else self.inputs[k]
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "inconclusive": 0}
        for i in self.inputs:
            for e in i.elements:
                out[STATUS[e.status][0]] += 1
        return out

    def summary(self) -> str:
        """One paragraph: verdict, the worst mismatch with its formula, and the culprit."""
        head = (
            f"gradient check of {self._short_label()} at {self._point_text()}: "
            f"{self.verdict.upper()}"
        )
        lines = [head]
        for i in self.inputs:
            if i.mode == "shape":
                lines.append(f"  d/d{i.name}: " + "; ".join(i.notes))
            for e in i.worst(1):
                if e.status == "fail":
                    where = "" if e.index == () else f"[{_index_text(e.index)}]"
                    lines.append(f"  d/d{i.name}{where}: {i.explain(e)}")
        if self.culprit_check is not None:
            lines.append(f"  culprit: {self.culprit_check.describe(self.graph)}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _short_label(self, width: int = 70) -> str:
        return self.label if len(self.label) <= width else self.label[: width - 3] + "..."

    def _point_text(self) -> str:
        parts = []
        for n, v in self.point.items():
            v = np.asarray(v)
            parts.append(f"{n}={v.item():.6g}" if v.ndim == 0 else f"{n}=<{v.dtype} {v.shape}>")
        return ", ".join(parts) or "()"

    # -- text table ------------------------------------------------------------------------
    def __str__(self) -> str:
        out = [
            f"Gradient check of {self._short_label()} at {self._point_text()}",
            f"verdict: {self.verdict.upper()}   (precision {self.dtype}; "
            f"SymPy: {self._sympy_short()})",
        ]
        if self.output_shape:
            out.append(f"output shape {self.output_shape}: checked <w, f> for a random w")
        header = _COLUMNS
        rows: list[tuple[str, ...]] = []
        for i in self.inputs:
            if i.mode == "shape":
                rows.append(_shape_row(i))
            shown = i.elements if len(i.elements) <= 8 else i.worst(5)
            for e in shown:
                rows.append(_element_cells(i, e))
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        out.append("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        out.extend(
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
        )
        for i in self.inputs:
            counts = {}
            for e in i.elements:
                counts[STATUS[e.status][0]] = counts.get(STATUS[e.status][0], 0) + 1
            tally = ": " + ", ".join(f"{v} {k}" for k, v in counts.items()) if counts else ""
            out.append(
                f"{i.name}: {i.verdict} ({i.mode}, {len(i.elements)} checked{tally}); "
                f"pass if {i.formula}"
            )
            if i.threshold_text():
                out.append(f"    {i.threshold_text()}")
            worst = i.worst(3 if len(i.elements) > 1 else 1)
            for e in worst:
                if e.status != "pass" or e.note:
                    out.append(
                        f"    [{_index_text(e.index)}] {i.explain(e)}"
                        + (f"; {e.note}" if e.note else "")
                    )
            noted = [e for e in i.elements if e.note and e not in worst]
            out.extend(
                f"    [{_index_text(e.index)}] {STATUS[e.status][1]}: {e.note}" for e in noted[:3]
            )
            out.extend(f"    note: {n}" for n in i.notes)
        if self.culprit_check is not None:
            out.append(f"culprit: {self.culprit_check.describe(self.graph)}")
        others = [c for c in self.node_checks if c.node != self.culprit and c.status == "fail"]
        out.extend(f"also failing: {c.describe(self.graph)}" for c in others[:5])
        out.extend(f"note: {n}" for n in self.notes)
        if self._sympy_short() != (self.sympy_note or "used"):
            out.append(f"note: SymPy {self.sympy_note}")
        return "\n".join(out)

    def _sympy_short(self) -> str:
        """The SymPy state for a header: "used", "not requested", or "n/a" (the reason,
        which can be a long error, goes in a note)."""
        note = self.sympy_note or "used"
        if note.startswith("n/a") and len(note) > 40:
            return "n/a (see note)"
        return note

    def __repr__(self) -> str:
        return f"<GradCheckReport {self.verdict} for {self._short_label(40)}>"

    # -- machine-readable ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of everything the report holds."""
        culprit = self.culprit_check
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "strict": self.strict,
            "expression": self.label,
            "dtype": self.dtype,
            "point": {n: _json_values(v) for n, v in self.point.items()},
            "output_shape": list(self.output_shape),
            "sympy": self.sympy_note,
            "counts": self.counts(),
            "inputs": [i.to_dict() for i in self.inputs],
            "culprit": None
            if culprit is None
            else dict(culprit.to_dict(), reason=self.culprit_reason),
            "node_checks": [c.to_dict() for c in self.node_checks],
            "notes": list(self.notes),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (non-finite numbers are strings)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    # -- Jupyter -----------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html_text  # every cell and note: user names included
        color = {"pass": "#2a7", "fail": "#c33", "inconclusive": "#c80"}[self.verdict]
        rows = []
        shown = [
            (i, e)
            for i in self.inputs
            for e in (i.elements if len(i.elements) <= 8 else i.worst(5))
        ]
        for i in self.inputs:
            if i.mode == "shape":
                rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _shape_row(i)) + "</tr>")
        for i, e in shown[:_HTML_ROWS]:
            cells = _element_cells(i, e)
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
        if len(shown) > _HTML_ROWS:
            more = f"… {len(shown) - _HTML_ROWS} more rows: print(report) or report.to_json()"
            rows.append(f"<tr><td colspan='{len(_COLUMNS)}'>{esc(more)}</td></tr>")
        head = "".join(f"<th>{esc(h)}</th>" for h in _COLUMNS)
        texts = (
            [f"{i.name}: {i.verdict}; pass if {i.formula}" for i in self.inputs]
            + [f"{i.name}: {n}" for i in self.inputs for n in i.notes]
            + [
                f"{i.name}[{_index_text(e.index)}]: {e.note}"
                for i in self.inputs
                for e in i.elements
                if e.note
            ][:10]
            + ([f"culprit: {self.culprit_reason}"] if self.culprit is not None else [])
            + self.notes
            + (
                [f"SymPy {self.sympy_note}"]
                if self._sympy_short() != (self.sympy_note or "used")
                else []
            )
        )
        if len(texts) > _HTML_NOTES:
            texts = [*texts[:_HTML_NOTES], f"… {len(texts) - _HTML_NOTES} more notes"]
        extra = "".join(f"<p>{esc(t)}</p>" for t in texts)
        return (
            f"<div><p><b>Gradient check</b> of <code>{esc(self._short_label())}</code>: "
            f"<b style='color:{color}'>{self.verdict.upper()}</b></p>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table>{extra}</div>"
        )

    def _repr_svg_(self) -> str | None:
        try:
            from ..backends.render import repr_svg

            return repr_svg(self)
        except Exception:  # no renderer or no dot program: Jupyter uses the HTML form
            return None


def _get_graph(self: GradCheckReport) -> Any:
    graph = self._graph
    if callable(graph):  # a Graph is not callable: this is the function rebuilding it
        graph = self._graph = graph()
    return graph


def _set_graph(self: GradCheckReport, graph: Any) -> None:
    self._graph = graph


# ``graph`` may be set to a function of no arguments that builds it, called when the graph is
# first read: ``check_grad_many`` gathers reports whose graphs the client rebuilds from the text
# it sent only when someone looks at them.  (Set on the class after @dataclass made ``graph``
# an __init__ argument, which then goes through the setter.)
GradCheckReport.graph = property(  # type: ignore[assignment]
    _get_graph, _set_graph, doc="The checked graph (rebuilt when first read, if deferred)."
)


def _element_cells(i: Any, e: Any) -> tuple[str, ...]:
    """One checked element's row, in the column order of the text and HTML tables."""
    return (
        i.name,
        _index_text(e.index),
        _fmt(e.ad),
        _fmt(e.fd),
        f"{e.fd_err:.1g}",
        _fmt(e.sympy),
        f"{e.abs_err:.2g}",
        f"{e.rel_err:.2g}",
        _status_text(e),
    )


def _status_text(e: ElementCheck) -> str:
    """The table's status cell; a verdict SymPy decided says so."""
    text = STATUS[e.status][1]
    return f"{text} (by SymPy)" if e.note.startswith("decided by SymPy") else text


def _shape_row(i: InputCheck) -> tuple[str, ...]:
    """The table row of an input whose AD gradient has the wrong shape."""
    got = "?" if i.ad_shape is None else str(tuple(i.ad_shape))
    return (
        i.name,
        "all",
        f"shape {got}",
        f"shape {tuple(i.shape)}",
        "",
        "",
        "",
        "",
        "FAIL (shape)",
    )


def _position_text(p: dict[str, Any]) -> str:
    """One failing argument position of a node check, in words."""
    if p.get("rule") is None or p.get("numerical") is None:
        return f"argument {p['position']}: {p.get('note', '')}"
    text = (
        f"argument {p['position']}: rule <VJP(u), v> = {_fmt(p['rule'], 8)}, "
        f"numerical <u, J v> = {_fmt(p['numerical'], 8)} (± {p['err']:.2g})"
    )
    if p.get("element") is not None:
        text += f", mismatch located at argument element {list(p['element'])}"
    return text


def _index_text(index: Any) -> str:
    if isinstance(index, tuple):
        return ",".join(map(str, index)) if index else "()"
    return str(index)
