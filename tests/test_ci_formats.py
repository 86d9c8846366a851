"""CI output formats, each checked against what its consumer expects: GitHub workflow commands,
GitLab Code Quality JSON, JUnit XML."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cnndoctor import CheckOutcome, Finding, Report, Severity, Status
from cnndoctor.cli import main
from cnndoctor.reporters.github import render_github
from cnndoctor.reporters.gitlab import render_gitlab
from cnndoctor.reporters.junit import render_junit

ROOT = Path(__file__).resolve().parents[1]
BROKEN = [str(ROOT / "sample_data/chance_accuracy/model.py"), str(ROOT / "sample_data/chance_accuracy/data.npz")]
HEALTHY = [str(ROOT / "sample_data/healthy/model.py"), str(ROOT / "sample_data/healthy/data.npz")]
SELECT = ["--select", "D101,D102,L101,L201,A101", "--isolated", "-q"]
# ::level file=F,line=L,title=T::message — properties escaped (%2C for ',', %3A for ':'), message too.
GITHUB_LINE = re.compile(r"^::(error|warning|notice) file=([^,:]+)(?:,line=(\d+))?,title=([^,:]+)::(.+)$")
GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def _finding(code, severity, message="Something is off.", **kw):
    return Finding(message=message, evidence={"value": 1.5, "threshold": 1.0}, fix="Do the right thing.",
                   code=code, name=f"check-{code.lower()}", severity=Severity.parse(severity), **kw)


def _report(findings, checks=None, subject=None):
    checks = checks if checks is not None else [
        CheckOutcome(f.code, f.name, Status.FAILED, 0.01) for f in findings]
    subject = {"model": "model.py:Net", "model_file": "src/model.py", "model_line": 7, "data": "data.npz",
               **(subject or {})}
    return Report("0.0.0", subject, {"primary": findings[0].code if findings else None, "headline": "h"},
                  findings, checks, {"total": 1.25})


def _cli(capsys, *args):
    code = main(["run", *args])
    return code, capsys.readouterr().out


# --- GitHub ------------------------------------------------------------------------------------


def test_github_annotations_and_step_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("## an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out = _cli(capsys, *BROKEN, "--format", "github", *SELECT)
    assert code == 1
    lines = out.splitlines()
    match = GITHUB_LINE.match(lines[0])
    assert match, lines[0]
    level, file, line, title, message = match.groups()
    assert (level, title) == ("error", "cnndoctor D102 unscaled-input")
    # a finding about the data points at the data file, with no line (the model's class is not the culprit)
    assert Path(file).name == "data.npz" and line is None
    assert message.startswith("The model is fed unscaled input.") and "%0AFix: Standardise" in message
    assert "rms=3.28" in message  # the evidence travels with the annotation
    assert lines[-1].startswith("cnndoctor: 1 error · primary cause: D102")
    text = summary.read_text()
    assert text.startswith("## an earlier step\n## cnndoctor: 1 error")  # appended, not overwritten
    assert "`D102` unscaled-input" in text


def test_github_healthy_run_prints_only_the_summary_line(monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code, out = _cli(capsys, *HEALTHY, "--format", "github", *SELECT)
    assert code == 0 and len(out.splitlines()) == 1 and out.startswith("cnndoctor: no problems")


def test_github_shows_at_most_ten_per_level_and_says_how_many_were_left_out():
    findings = ([_finding(f"A{100 + i}", "error") for i in range(13)]
                + [_finding(f"A{200 + i}", "warning") for i in range(11)]
                + [_finding("A205", "info")])
    errored = CheckOutcome("T101", "cannot-overfit-batch", Status.ERRORED, 0.1, "RuntimeError: boom\ntraceback")
    out = render_github(_report(findings, [errored]))
    lines = out.splitlines()
    levels = [GITHUB_LINE.match(line).group(1) for line in lines if line.startswith("::")]
    assert levels.count("error") == 10 and levels.count("warning") == 10 and levels.count("notice") == 1
    # The first ten in diagnosis order are the ones annotated.
    titles = [GITHUB_LINE.match(line).group(4) for line in lines if line.startswith("::error")]
    assert titles == [f"cnndoctor A{100 + i} check-a{100 + i}" for i in range(10)]
    assert "cnndoctor: 3 errors, 2 warnings not annotated" in out  # 11 warnings + the errored check


def test_github_escapes_properties_and_message():
    f = _finding("A202", "warning", message="100% of values: 3,4\nsecond line")
    out = render_github(_report([f], subject={"model_file": "dir,x/my:model.py"}))
    first = out.splitlines()[0]
    assert first.startswith("::warning file=dir%2Cx/my%3Amodel.py,line=7,title=cnndoctor A202 check-a202::")
    assert "100%25 of values: 3,4%0Asecond line" in first
    assert "\n" not in first and GITHUB_LINE.match(first)


# --- GitLab ------------------------------------------------------------------------------------


def test_gitlab_code_quality_from_a_real_run(capsys):
    code, out = _cli(capsys, *BROKEN, "--format", "gitlab", *SELECT)
    issues = json.loads(out)
    assert code == 1 and len(issues) == 1
    issue = issues[0]
    assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
    assert issue["check_name"] == "D102" and issue["severity"] in GITLAB_SEVERITIES
    assert issue["description"].startswith("D102 unscaled-input: The model is fed unscaled input.")
    # D102 judges the data alone: it points at the data file, as GitHub's annotation does
    assert issue["location"]["path"].endswith("chance_accuracy/data.npz") and issue["location"]["lines"]["begin"] >= 1
    assert re.fullmatch(r"[0-9a-f]{32}", issue["fingerprint"])
    _, healthy = _cli(capsys, *HEALTHY, "--format", "gitlab", *SELECT)
    assert json.loads(healthy) == []


def test_gitlab_fingerprints_are_stable_and_ignore_the_numbers():
    a = json.loads(render_gitlab(_report([_finding("D102", "error", message="rms 32800")])))
    b = json.loads(render_gitlab(_report([Finding(message="rms 900", evidence={"rms": 900}, fix="x", code="D102",
                                                  name="check-d102", severity=Severity.WARNING)])))
    assert a[0]["fingerprint"] == b[0]["fingerprint"]
    assert (a[0]["severity"], b[0]["severity"]) == ("critical", "major")
    other_file = json.loads(render_gitlab(_report([_finding("D102", "error")], subject={"model_file": "b.py"})))
    assert other_file[0]["fingerprint"] != a[0]["fingerprint"]
    # Two findings of one check (train and test) keep distinct fingerprints, each stable.
    twice = [_finding("D101", "error", message="train"), _finding("D101", "error", message="test")]
    prints = [i["fingerprint"] for i in json.loads(render_gitlab(_report(twice)))]
    assert len(set(prints)) == 2
    assert prints == [i["fingerprint"] for i in json.loads(render_gitlab(_report(twice)))]
    info = json.loads(render_gitlab(_report([_finding("A205", "info")])))
    assert info[0]["severity"] == "info"


def test_gitlab_points_data_findings_at_the_data_file_and_model_findings_at_the_model():
    findings = [_finding("D102", "error"), _finding("L105", "warning"), _finding("L201", "error")]
    errored = [CheckOutcome("D101", "check-d101", Status.ERRORED, 0.01, "ValueError: boom")]
    issues = json.loads(render_gitlab(_report(findings, checks=errored, subject={"data_file": "data/train.npz"})))
    where = [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues]
    assert where == [("D102", "data/train.npz", 1), ("L105", "data/train.npz", 1),
                     ("L201", "src/model.py", 7),  # the output/loss contract is the model's
                     ("D101-errored", "src/model.py", 7)]  # a crashed check is cnndoctor's problem, not the data's
    # the fingerprint follows the file it points at
    at_model = json.loads(render_gitlab(_report(findings[:1])))[0]
    assert at_model["location"]["path"] == "src/model.py" and at_model["fingerprint"] != issues[0]["fingerprint"]


# --- JUnit -------------------------------------------------------------------------------------


def test_junit_one_testcase_per_check_from_a_real_run(tmp_path, capsys):
    out_file = tmp_path / "cnndoctor.xml"
    config = tmp_path / "cnndoctor.toml"
    config.write_text('select = ["D101", "D102", "L101", "A101"]\n'
                      'ignore = [{ code = "L101", reason = "labels are checked upstream" }]\n')
    code = main(["run", *BROKEN, "--format", "junit", "-o", str(out_file), "--config", str(config), "-q"])
    assert code == 1 and capsys.readouterr().out == ""
    root = ET.parse(out_file).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["D101 non-finite-values", "D102 unscaled-input", "L101 label-range",
                           "A101 forward-error"]
    failure = cases["D102 unscaled-input"].find("failure")
    assert failure.get("type") == "error" and failure.get("message").startswith("The model is fed unscaled input.")
    assert "Fix: Standardise" in failure.text and "max_rms: 10" in failure.text
    assert cases["L101 label-range"].find("skipped").get("message") == \
        "ignored (cnndoctor.toml): labels are checked upstream"
    assert list(cases["D101 non-finite-values"]) == []  # passed: no child element
    counts = (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors"))
    assert counts == ("4", "1", "1", "0")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["primary"] == "D102" and props["summary"].startswith("1 error")


def test_junit_errored_check_is_an_error_element_and_text_is_escaped():
    findings = [_finding("D102", "warning", message='<b> & "quotes" \x1b[31m')]
    checks = [CheckOutcome("D101", "non-finite-values", Status.PASSED, 0.0),
              CheckOutcome("D102", "check-d102", Status.FAILED, 0.2),
              CheckOutcome("D103", "skips", Status.SKIPPED, 0.0, "needs several channels"),
              CheckOutcome("T101", "cannot-overfit-batch", Status.ERRORED, 0.5, "ValueError: bad\nline 2")]
    root = ET.fromstring(render_junit(_report(findings, checks), "warning"))  # --fail-on warning: D102 fails
    cases = root.find("testsuite").findall("testcase")
    assert [len(list(c)) for c in cases] == [0, 1, 1, 1]
    assert cases[1].find("failure").get("message") == '<b> & "quotes" [31m'  # control chars dropped
    assert cases[2].find("skipped").get("message") == "needs several channels"
    error = cases[3].find("error")
    assert error.get("message") == "ValueError: bad" and error.text == "ValueError: bad\nline 2"
    assert root.get("errors") == "1" and root.get("failures") == "1" and root.get("skipped") == "1"


@pytest.mark.parametrize("fmt", ["github", "gitlab", "junit"])
def test_ci_formats_keep_the_exit_codes(fmt, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # never write to a real job's summary
    assert main(["run", *BROKEN, "--format", fmt, *SELECT, "--fail-on", "never"]) == 0
    assert main(["run", *BROKEN, "--format", fmt, *SELECT]) == 1
    capsys.readouterr()


def test_junit_marks_a_finding_as_failure_only_when_it_fails_the_run_at_fail_on():
    # the exit code fails on errors by default: a warning is then reported in system-out, not as a failure
    findings = [_finding("D102", "warning"), _finding("L101", "error")]
    checks = [CheckOutcome("D102", "unscaled-input", Status.FAILED, 0.1),
              CheckOutcome("L101", "label-range", Status.FAILED, 0.1)]
    report = _report(findings, checks)
    root = ET.fromstring(render_junit(report))
    d102, l101 = root.find("testsuite").findall("testcase")
    assert d102.find("failure") is None and "WARNING D102" in d102.find("system-out").text
    assert l101.find("failure").get("type") == "error"
    assert root.get("failures") == "1"
    assert ET.fromstring(render_junit(report, "warning")).get("failures") == "2"
    assert ET.fromstring(render_junit(report, "never")).get("failures") == "0"


def test_github_points_data_findings_at_the_data_file_and_model_findings_at_the_model():
    findings = [_finding("D102", "error"), _finding("L105", "warning"), _finding("L201", "error")]
    out = render_github(_report(findings, subject={"data_file": "data/train.npz"}))
    d102, l105, l201 = (GITHUB_LINE.match(line).groups() for line in out.splitlines()[:3])
    assert d102[1:3] == ("data/train.npz", None) and l105[1:3] == ("data/train.npz", None)
    assert l201[1:3] == ("src/model.py", "7")  # the output/loss contract is the model's
    # in-memory data has no file: the annotation carries no location at all
    first = render_github(_report([_finding("D102", "error")])).splitlines()[0]
    assert first.startswith("::error title=cnndoctor D102 check-d102::")
