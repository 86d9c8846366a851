"""Small value formatting shared by the reporters."""

from __future__ import annotations

import math

from ..findings import NO_RESULT, NOT_VERIFIED, VERIFIED, pct

__all__ = ["fmt_value", "severity_word", "verified_text", "combined_text", "sentence_case", "settings_rows",
           "lr_range_rows", "stories", "thresholds_text", "warning_text", "WARNINGS_HEADING"]


def fmt_value(value, *, limit: int = 8) -> str:
    """A compact human form of an evidence value: 4 significant digits, lists shortened."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            return "0"
        if 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, dict):
        items = list(value.items())
        text = ", ".join(f"{k}: {fmt_value(v, limit=limit)}" for k, v in items[:limit])
        return "{" + text + (", …" if len(items) > limit else "") + "}"
    if isinstance(value, (list, tuple)):
        text = ", ".join(fmt_value(v, limit=limit) for v in list(value)[:limit])
        return "[" + text + (f", … ({len(value)} in all)" if len(value) > limit else "") + "]"
    if hasattr(value, "item"):
        return fmt_value(value.item(), limit=limit)
    return str(value)


def stories(findings) -> list[tuple[object, list]]:
    """The findings as ``(cause, [symptoms it explains])``, causes in report order.

    A symptom is a finding whose ``explained_by`` names another finding of the report; it is folded under
    the root of that chain (a symptom of a symptom goes under the first cause). A finding whose cause is
    not in the report stands as a cause of its own. This groups what the diagnosis linked; it judges nothing.
    """
    by_code = {}
    for f in findings:
        by_code.setdefault(f.code, f)

    def root(f):
        seen = {f.code}
        while f.explained_by in by_code and f.explained_by not in seen:
            f = by_code[f.explained_by]
            seen.add(f.code)
        return f

    groups: dict[int, tuple[object, list]] = {}
    order = []
    for f in findings:
        top = root(f)
        if top is f:
            groups[id(f)] = (f, [])
            order.append(id(f))
    for f in findings:
        top = root(f)
        if top is f:
            continue
        if id(top) in groups:
            groups[id(top)][1].append(f)
        else:  # a cycle of explained_by: the first of it met stands as the cause
            groups[id(f)] = (f, [])
            order.append(id(f))
    return [groups[i] for i in order]


def thresholds_text(finding) -> str:
    """``max_rms 10 · min_std 0.01``: the thresholds a finding's measured values were judged against."""
    return " · ".join(f"{k} {fmt_value(v)}" for k, v in finding.judged_against.items())


def lr_range_rows(lr_range: dict | None) -> list[tuple[str, str]]:
    """(label, text) rows of the report's learning-rate range test section; none when it did not run."""
    if not lr_range:
        return []
    g = lambda v: "n/a" if v is None else f"{v:.2g}"  # noqa: E731
    rows = []
    if lr_range.get("low") is None:
        rows.append(("suggested range", f"none: {lr_range.get('reason')}"))
    else:
        rows.append(("suggested range", f"{g(lr_range['low'])} – {g(lr_range['high'])} ({lr_range.get('reason')})"))
    rows.append(("suggested lr", g(lr_range.get("suggested_lr"))))
    rows.append(("lr at the loss minimum", g(lr_range.get("lr_at_min_loss"))))
    rows.append(("loss starts to fall at", g(lr_range.get("lr_loss_starts_falling"))))
    swept = lr_range.get("swept") or [None, None]
    rows.append(("loss diverges at", g(lr_range["lr_loss_diverges"]) if lr_range.get("lr_loss_diverges") is not None
                 else f"not within the sweep (up to {g(swept[-1])})"))
    place = (f"{lr_range['user_position']} the range, {lr_range['user_to_suggested']:.2g}× the suggestion; "
             if lr_range.get("user_position") else "")
    rows.append(("your lr", f"{g(lr_range.get('user_lr'))} ({place}on the curve: {lr_range.get('user_on_curve')})"))
    return rows


def severity_word(severity) -> str:
    return str(severity).upper()


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper-case and the rest as written (``str.capitalize`` would lower
    ``NaN``, ``X_train`` or a check code)."""
    return text[:1].upper() + text[1:]


def _measured(v: dict) -> str:
    """``10% → 86% held-out accuracy``; the fixed probe alone when the unfixed one gave no number."""
    metric = v.get("metric", "held-out accuracy")
    if v.get("before") is None:
        return f"{pct(v.get('after'))} {metric}"
    return f"{pct(v.get('before'))} → {pct(v.get('after'))} {metric}"


def verified_text(v: dict) -> str:
    """One line per verification, by its status (``findings.VERIFY_STATUSES``):

    - ``verified: 10% → 86% held-out accuracy after standardising …, 100-step probe``
    - ``not verified: 10% → 31% held-out accuracy after …, 100-step probe; still at chance: …``
    - ``no result for standardising …: neither probe gave a number (…)``

    A record without a status (older reports) reads ``measured: …``, never "verified". The seconds a
    verification took are in the report's timings, not in the finding.
    """
    status, fix = v.get("status"), v.get("fix", "the fix")
    if status == NO_RESULT or (status not in (VERIFIED, NOT_VERIFIED) and v.get("after") is None):
        return f"no result for {fix}: {v.get('reason') or v.get('after_note') or 'the probe could not run'}"
    text = (f"{_measured(v)} after {fix}, {v.get('steps', '?')}-step probe"
            + (f" ({v['seconds']} s)" if v.get("seconds") is not None else ""))
    if status == VERIFIED:
        return f"verified: {text}" + (f"; {v['reason']}" if v.get("before") is None and v.get("reason") else "")
    if status == NOT_VERIFIED:
        return f"not verified: {text}; {v.get('reason')}"
    return f"measured: {text}"


def combined_text(c: dict) -> str:
    """The causes' fixes verified together, one line: ``together: 10% → 61% held-out accuracy (D102 + L202),
    verified``; ``…, not verified: <reason>``; ``together (D102 + L202): no result: <reason>``."""
    codes = " + ".join(c.get("codes", ()))
    if c.get("status") == VERIFIED:
        return f"together: {_measured(c)} ({codes}), verified"
    if c.get("status") == NOT_VERIFIED:
        return f"together: {_measured(c)} ({codes}), not verified: {c.get('reason')}"
    return f"together ({codes}): no result: {c.get('reason')}"


_ARGUMENT_SOURCES = {"data": "from the data", "your default": "your default"}


def _argument_source(arg: dict) -> str:
    source = str(arg.get("source", ""))
    text = _ARGUMENT_SOURCES.get(source, source)
    if "default" in arg and arg["default"] is not None and source != "your default" \
            and arg["default"] != arg.get("value"):
        text += f"; your default is {fmt_value(arg['default'])}"
    return text


def settings_rows(subject: dict) -> list[tuple[str, str, str]]:
    """``(setting, value, source)`` rows of the report's settings block, constructor arguments inline.

    An argument reads ``num_classes = 6`` with its source ``from the data; your default is 5``.
    """
    rows = []
    for key, entry in (subject.get("settings") or {}).items():
        if key == "constructor":
            for name, arg in entry["value"].items():
                rows.append(("argument", f"{name} = {fmt_value(arg.get('value'))}", _argument_source(arg)))
            continue
        rows.append((key, fmt_value(entry.get("value")), str(entry.get("source", ""))))
    return rows


# The heading of the report's captured warnings (``Report.warnings``, guard/user_warnings), in every reporter.
WARNINGS_HEADING = "warnings raised while cnndoctor ran your model (captured, not printed)"


def warning_text(w: dict) -> str:
    """One captured warning as a line: who warned, when in the run, from which line of the user's code, and
    where warnings.warn pointed. ``torch warned while computing the training probe (fact training_probe, for
    check T101 ...), from model.py line 12, in forward: UserWarning: Using padding='same' ...
    [torch/nn/modules/conv.py:380]``."""
    phases = list(w.get("phases") or [])
    when = f" while {phases[0]}" if phases else ""
    if len(phases) > 1:
        when += f" (and {len(phases) - 1} more step{'s' if len(phases) > 2 else ''})"
    mine = f", from {w['user_line']}" if w.get("user_line") else ""
    where = f" [{w['location']}]" if w.get("location") else ""
    return f"{w.get('origin', 'your code')} warned{when}{mine}: {w.get('category')}: {w.get('message')}{where}"
