"""JUnit XML: one testcase per check — failed (with its findings), skipped (with the reason),
errored (as ``<error>``) or passed — for the GitLab and Jenkins test tabs.

A check's findings are a ``<failure>`` only when they fail the run at ``--fail-on`` (the exit code's
rule, ``Report.fails_run``); findings below it are the testcase's ``<system-out>``, so the test tab and
the exit code agree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..findings import Status
from ._format import fmt_value

__all__ = ["render_junit"]

_STAGE = {"D": "data", "L": "labels", "A": "architecture", "T": "probes"}
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text) -> str:
    return _INVALID_XML.sub("", str(text))


def _finding_text(f) -> str:
    parts = [f"{str(f.severity).upper()} {f.code} {f.name}", f.message]
    for key, value in f.evidence.items():
        parts.append(f"  {key}: {fmt_value(value)}")
    parts.append(f"Fix: {f.fix}")
    if f.snippet:
        parts.append(f.snippet.rstrip())
    return _clean("\n".join(parts))


def render_junit(report, fail_on: str = "error") -> str:
    by_code: dict[str, list] = {}
    for f in report.findings:
        by_code.setdefault(f.code, []).append(f)
    failing = {code for code, found in by_code.items() if any(report.fails_run(f, fail_on) for f in found)}
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in Status}
    counts[Status.FAILED] = sum(1 for c in report.checks if c.status == Status.FAILED and c.code in failing)
    total = report.timings.get("total", sum(c.seconds for c in report.checks))
    subject = report.subject
    root = ET.Element("testsuites", name="cnndoctor", tests=str(len(report.checks)),
                      failures=str(counts[Status.FAILED]), errors=str(counts[Status.ERRORED]),
                      skipped=str(counts[Status.SKIPPED]), time=f"{total:.3f}")
    suite = ET.SubElement(root, "testsuite", name=_clean(f"cnndoctor {subject.get('model', '')}".strip()),
                          tests=str(len(report.checks)), failures=str(counts[Status.FAILED]),
                          errors=str(counts[Status.ERRORED]), skipped=str(counts[Status.SKIPPED]),
                          time=f"{total:.3f}")
    props = ET.SubElement(suite, "properties")
    for name, value in (("model", subject.get("model")), ("model_file", subject.get("model_file")),
                        ("data", subject.get("data")), ("primary", report.diagnosis.get("primary")),
                        ("headline", report.diagnosis.get("headline")), ("summary", report.summary_line()),
                        ("version", report.version)):
        if value is not None:
            ET.SubElement(props, "property", name=name, value=_clean(value))
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", classname=f"cnndoctor.{_STAGE.get(c.code[:1], 'checks')}",
                             name=f"{c.code} {c.name}", time=f"{c.seconds:.3f}")
        if subject.get("model_file"):
            case.set("file", str(subject["model_file"]))
        if c.status == Status.FAILED and c.code in failing:
            found = by_code.get(c.code, [])
            first = found[0] if found else None
            el = ET.SubElement(case, "failure", message=_clean(first.message if first else "failed"),
                               type=str(first.severity) if first else "failure")
            el.text = "\n\n".join(_finding_text(f) for f in found)
        elif c.status == Status.FAILED:  # findings below --fail-on: reported, but they do not fail the run
            el = ET.SubElement(case, "system-out")
            el.text = "\n\n".join(_finding_text(f) for f in by_code.get(c.code, []))
        elif c.status == Status.SKIPPED:
            ET.SubElement(case, "skipped", message=_clean(c.reason or "skipped"))
        elif c.status == Status.ERRORED:
            reason = c.reason or "the check crashed"
            el = ET.SubElement(case, "error", message=_clean(reason.splitlines()[0]), type="errored")
            el.text = _clean(reason)
    if report.notes:
        out = ET.SubElement(suite, "system-out")
        out.text = _clean("\n".join(report.notes))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
