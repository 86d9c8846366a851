"""GitLab Code Quality JSON (``artifacts:reports:codequality``), one issue per finding.

An issue points at the model file and the line that defines the model, except a finding about the data and
labels alone (``findings.is_data_code``), which points at the data file (line 1: Code Quality needs a line).
In-memory data has no file, so its findings stay at the model.

Fingerprints hash what identifies a problem — the code, the model file and the finding's
location — never the measured numbers, so the same problem keeps its fingerprint from run
to run and GitLab can tell new problems from fixed ones in a merge request.
"""

from __future__ import annotations

import hashlib
import json

from ..findings import Severity, Status, is_data_code

__all__ = ["render_gitlab", "SEVERITY"]

SEVERITY = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def render_gitlab(report) -> str:
    model_path = report.subject.get("model_file") or report.subject.get("model") or "model.py"
    model_line = int(report.subject.get("model_line") or 1)
    data_file = report.subject.get("data_file")
    issues = []
    seen: dict[tuple[str, ...], int] = {}

    def add(code: str, check_name: str, description: str, severity: str, location: str, body: str,
            *, about_data: bool = False):
        path, line = (data_file, 1) if data_file and about_data else (model_path, model_line)
        key = (code, path, location)
        n = seen.get(key, 0)
        seen[key] = n + 1
        # The n-th finding of one check at one place (D101 for train, then for test) stays distinct.
        fingerprint = _fingerprint("cnndoctor", code, path, location, *([str(n)] if n else []))
        issues.append({
            "type": "issue",
            "description": description,
            "check_name": check_name,
            "fingerprint": fingerprint,
            "severity": severity,
            "categories": ["Bug Risk"],
            "content": {"body": body},
            "location": {"path": path, "lines": {"begin": line}},
        })

    for f in report.findings:
        body = f"**Fix:** {f.fix}" + (f"\n\n```python\n{f.snippet.rstrip()}\n```" if f.snippet else "")
        add(f.code, f.code, f"{f.code} {f.name}: {f.message}", SEVERITY.get(f.severity, "major"),
            f.location or "", body, about_data=is_data_code(f.code))
    for c in report.checks:
        if c.status == Status.ERRORED:
            reason = (c.reason or "").splitlines()[0] if c.reason else "no reason recorded"
            add(c.code, f"{c.code}-errored", f"{c.code} {c.name}: the check crashed and could not judge the "
                f"model ({reason}).", "minor", "errored", "Run cnndoctor with -v for the traceback.")
    return json.dumps(issues, indent=2) + "\n"
