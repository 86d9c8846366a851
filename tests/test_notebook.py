"""The report in a real Jupyter kernel (nbclient), the way a notebook user meets it."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra: pip install -e .[test]")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra: pip install -e .[test]")
pytest.importorskip("ipykernel", reason="ipykernel is in the test extra: pip install -e .[test]")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_evaluating_a_report_in_a_cell_gives_one_output_html_with_a_short_text_form():
    # rich detects Jupyter: a report rendered through it used to display every section as an output of its
    # own (22 display_data) before the HTML, whose text/plain came back empty
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import importlib.util\nimport numpy as np\nimport cnndoctor\n"
            f"d = np.load({str(ROOT / 'sample_data/chance_accuracy/data.npz')!r})\n"
            f"spec = importlib.util.spec_from_file_location('m', "
            f"{str(ROOT / 'sample_data/chance_accuracy/model.py')!r})\n"
            "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
            "report = cnndoctor.diagnose(m.AppliancesCNN, (d['X_train'], d['y_train']), "
            "(d['X_test'], d['y_test']), select=['D1'], progress=False)"),
        nbformat.v4.new_code_cell("report"),
    ]
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    data = outputs[0]["data"]
    assert data["text/html"].startswith('<div class="cnndoctor">') and "D102 unscaled-input" in data["text/html"]
    headline, closing = data["text/plain"].splitlines()
    assert headline.startswith("Expect accuracy near chance") and closing.startswith("1 error · primary cause: D102")
