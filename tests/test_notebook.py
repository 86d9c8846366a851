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
    assert nb.cells[0].outputs == []  # progress=False: no progress display
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    data = outputs[0]["data"]
    assert data["text/html"].startswith('<div class="cnndoctor">') and "D102 unscaled-input" in data["text/html"]
    headline, closing = data["text/plain"].splitlines()
    assert headline.startswith("Expect accuracy near chance") and closing.startswith("1 error · primary cause: D102")


class _RecordingClient(nbclient.NotebookClient):
    """Keeps every display message a cell sends, in order: the notebook saves only the last state of an output
    that was updated in place."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[int, str, dict]] = []

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("display_data", "update_display_data", "stream", "clear_output"):
            self.sent.append((cell_index, msg["msg_type"], msg["content"]))
        return super().process_message(msg, cell, cell_index)


@pytest.mark.slow
def test_diagnose_in_a_notebook_shows_progress_updated_in_place_then_one_line():
    # stderr is no terminal in a kernel: progress used to be shown nowhere while diagnose() ran for minutes
    nb = nbformat.v4.new_notebook()
    setup = ("import importlib.util\nimport numpy as np\nimport cnndoctor\n"
             f"d = np.load({str(ROOT / 'sample_data/chance_accuracy/data.npz')!r})\n"
             f"spec = importlib.util.spec_from_file_location('m', "
             f"{str(ROOT / 'sample_data/chance_accuracy/model.py')!r})\n"
             "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
             "args = (m.AppliancesCNN, (d['X_train'], d['y_train']), (d['X_test'], d['y_test']))")
    nb.cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell("report = cnndoctor.diagnose(*args, select=['D101', 'D102', 'T101'], "
                                  "budget='quick', figures=False)"),
        nbformat.v4.new_code_cell("quiet = cnndoctor.diagnose(*args, select=['D101'], progress=False)"),
        nbformat.v4.new_code_cell("report"),
    ]
    client = _RecordingClient(nb, timeout=600, kernel_name="python3")
    client.execute()
    shown = [(kind, content) for cell, kind, content in client.sent if cell == 1]
    kinds = [kind for kind, _ in shown]
    assert kinds[0] == "display_data" and set(kinds[1:]) == {"update_display_data"}  # one output, updated
    display_id = shown[0][1]["transient"]["display_id"]
    assert all(content["transient"]["display_id"] == display_id for _, content in shown)
    texts = [content["data"]["text/plain"] for _, content in shown]
    # each check is named with how far along the run is, and a probe's steps inside its check
    assert any(t.startswith("cnndoctor: [1/3] D102 unscaled-input") for t in texts)
    assert any(t.startswith("cnndoctor: [2/3] T101 cannot-overfit-batch · overfit one batch") for t in texts)
    bars = [content["data"]["text/html"] for _, content in shown]
    assert any('<progress value="2" max="3"' in b for b in bars) and '<progress value="3" max="3"' in bars[-2]
    # when the run ends the display collapses to one line: the only output the cell keeps
    assert texts[-1].startswith("cnndoctor: ran 3 checks in ") and "\n" not in texts[-1]
    assert [(o.output_type, o["data"]["text/plain"]) for o in nb.cells[1].outputs] == [("display_data", texts[-1])]
    assert nb.cells[2].outputs == [] and not [m for m in client.sent if m[0] == 2]  # progress=False: nothing
    assert [o.output_type for o in nb.cells[3].outputs] == ["execute_result"]  # the report: one output
