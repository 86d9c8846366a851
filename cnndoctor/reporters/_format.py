"""Small value formatting shared by the reporters."""

from __future__ import annotations

import math

from ..findings import pct

__all__ = ["fmt_value", "severity_word", "verified_text", "settings_rows", "lr_range_rows"]


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


def verified_text(v: dict) -> str:
    """``verified: 10% → 86% held-out accuracy after standardising …, 100-step probe``.

    A verification whose probe hit its time cap reads ``not verified: time cap (…) for <fix>``.
    The seconds a verification took are in the report's timings, not in the finding.
    """
    if str(v.get("status", "")).startswith("not verified"):
        note = f" ({v['note']})" if v.get("note") else ""
        return f"{v['status']}{note} for {v.get('fix', 'the fix')}"
    before = pct(v.get("before")) if v.get("before") is not None else "no result (" + str(
        v.get("before_note", "the probe could not run")).rstrip(".") + ")"
    after = pct(v.get("after")) if v.get("after") is not None else "no result (" + str(
        v.get("after_note", "the probe could not run")).rstrip(".") + ")"
    return (f"verified: {before} → {after} {v.get('metric', 'held-out accuracy')} after {v.get('fix', 'the fix')}, "
            f"{v.get('steps', '?')}-step probe" + (f" ({v['seconds']} s)" if v.get("seconds") is not None else ""))


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
