"""docs/checks.md is generated from the checks' docstrings, is up to date, and every finding links into it."""

import json
import re
from pathlib import Path

from cnndoctor.cli import main
from cnndoctor.docs import builtin_checks, render_checks_markdown
from cnndoctor.findings import DOCS_PAGE, Finding, docs_url

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / DOCS_PAGE
REGENERATE = f"python -m cnndoctor.docs -o {DOCS_PAGE}"


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the page's headings (lower case, punctuation dropped, spaces to '-')."""
    anchors, seen, fenced = set(), {}, False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_checks_page_is_up_to_date():
    expected = render_checks_markdown()
    current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    assert current == expected, f"{DOCS_PAGE} is out of date with the checks' docstrings: run `{REGENERATE}`"


def test_every_check_has_a_section_with_its_docstring_and_thresholds():
    page = render_checks_markdown()
    anchors = github_anchors(page)
    for spec in builtin_checks():
        url = docs_url(spec.code, spec.name)
        assert url.startswith(f"{DOCS_PAGE}#") and url.split("#")[1] in anchors, spec.code
        section = page.split(f"### {spec.code} {spec.name}\n", 1)[1].split("\n### ", 1)[0]
        for title, body in spec.sections().items():
            assert f"#### {title}" in section and body.splitlines()[0] in section, (spec.code, title)
        for name in spec.thresholds:
            assert f"\n{name} = " in section, (spec.code, name)
        assert f"](#{url.split('#')[1]})" in page  # linked from the table at the top


def test_findings_in_the_json_report_link_to_their_section(capsys):
    root = ROOT / "sample_data/chance_accuracy"
    assert main(["run", str(root / "model.py"), str(root / "data.npz"), "--format", "json", "--select", "D102",
                 "--isolated", "-q"]) == 1
    finding = json.loads(capsys.readouterr().out)["findings"][0]
    assert finding["url"] == "docs/checks.md#d102-unscaled-input"
    assert "d102-unscaled-input" in github_anchors(render_checks_markdown())
    assert Finding(message="m", evidence={"x": 1}, fix="f").to_dict()["url"] is None  # not yet named


def test_docs_command_writes_and_checks_the_page(tmp_path, capsys):
    out = tmp_path / "checks.md"
    assert main(["docs", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_checks_markdown()
    assert main(["docs", "-o", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("## What it does", "## What it did", 1))
    assert main(["docs", "-o", str(out), "--check"]) == 1
    assert "is out of date" in capsys.readouterr().err
    assert main(["docs"]) == 0 and capsys.readouterr().out == render_checks_markdown()


def test_only_built_in_checks_are_documented_by_default():
    from cnndoctor.registry import make_spec

    def user_check(labels):
        """## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## Fix\nx"""

    spec = make_spec(user_check, "D999", "user-check", "info")
    assert "D999" in render_checks_markdown([*builtin_checks(), spec])
    assert all(s.func.__module__.startswith("cnndoctor.checks") for s in builtin_checks())


def test_readme_checks_table_is_generated_and_up_to_date():
    from cnndoctor.docs import README_BEGIN, README_END, readme_with_table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_BEGIN in readme and README_END in readme
    assert readme_with_table(readme) == readme, \
        "README.md's checks table is out of date: run `python -m cnndoctor.docs --readme README.md`"
    table = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert all(f"[{spec.code}]({DOCS_PAGE}#" in table for spec in builtin_checks())


def test_docs_check_reports_a_stale_readme(tmp_path):
    from cnndoctor.docs import main as docs_main

    stale = (ROOT / "README.md").read_text(encoding="utf-8").replace("| non-finite-values |", "| renamed |")
    (tmp_path / "README.md").write_text(stale, encoding="utf-8")
    assert docs_main(["--readme", str(tmp_path / "README.md"), "--check"]) == 1
    assert docs_main(["--readme", str(tmp_path / "README.md")]) == 0
    assert docs_main(["--readme", str(tmp_path / "README.md"), "--check"]) == 0
