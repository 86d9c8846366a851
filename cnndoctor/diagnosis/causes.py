"""The causes table: for every check code, where it sits in the causal chain and what it explains.

One row per registered code (``tests/test_causes.py`` fails when a code has no row, or a row names a
code that does not exist). A row says:

- ``role``: a *cause* (a fault to fix) or a *symptom* (a probe observation that is a consequence of some
  other fault more often than a fault itself). A symptom that no present cause explains heads its own
  story, so a symptom row needs a cause that explains it but does not depend on one.
- ``rank``: where the code sits in the causal chain; lower ranks are causes of higher ones (``RANKS``).
- ``precedence``: within one rank, lower first (the more specific explanation first); 0 by default.
- ``explains``: the symptoms that fixing this cause usually removes, by code.
- ``explains_where``: symptoms it explains only where the two findings' evidence names the same place
  (``Where``), such as the dead units of the layer right after an oversized dense layer.
- ``kind``: what the headline says when this code is the primary cause (``KINDS``).
- ``explains_at_chance``: symptoms it explains only when the training probe's balanced accuracy sits at
  chance (``order.ChanceRule``): on imbalanced classes (L103) a probe at chance learned the class
  frequencies only, and that is why it cannot memorise a batch or does no better than zeroed inputs.
- ``refutable``: a warning that predicts trouble in training (slow, unstable, cannot learn): when the
  training probe learns clearly above chance, the measurement refutes the prediction and the diagnosis
  lowers it to info (``order.lower_refuted``). Errors and leakage are never lowered.
- ``verifiable``: whether a fixer is registered for it in ``diagnosis/fixes.py`` (the Keras way of each
  fix lives in ``keras/fixes.py`` and is called from that fixer), so ``verify`` can apply the fix to a
  copy and re-run the probe; a test holds it equal to ``fixes.FIXERS``.

A code outside the table (a project's own ``@check``) is a cause with its family's rank
(``family_rank``, ``row_for``), precedence 0, that explains nothing and cannot be verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..findings import Finding

__all__ = ["CAUSES", "KINDS", "RANKS", "TRAINING", "Row", "Where", "explained_by", "explains", "family_rank",
           "row_for"]

# The causal ranks, causes of later ranks first.
RUN = 0           # a model that cannot run (or crashes at every epoch's last batch), or whose first layer
                  # cannot read the data
LABELS = 1        # labels, outputs and the loss
CORRUPTION = 2    # corrupt values and the data's layout
DATA = 3          # scaling and leakage; "no signal found" (L105) is judged after corruption, layout and scaling
ARCHITECTURE = 4  # the model's architecture
OPTIMISATION = 5  # the optimiser and the probes' own pathologies
SYMPTOM = 6       # probe symptoms
RANKS = {RUN: "cannot run", LABELS: "labels, outputs, loss", CORRUPTION: "corruption, layout",
         DATA: "scaling, leakage, signal", ARCHITECTURE: "architecture", OPTIMISATION: "optimisation",
         SYMPTOM: "symptom"}

# The headline's symptom when the code is the primary cause: a forward pass that fails, a training loop that
# crashes, a test score that leakage inflates; "none" leaves it to the severity and the probe.
KINDS = ("cannot-start", "crash", "leak", "none")


@dataclass(frozen=True)
class Where:
    """``symptom`` is explained where its evidence ``symptom_key`` is among the cause's evidence ``cause_key``."""

    symptom: str
    symptom_key: str
    cause_key: str
    says: str = ""

    def holds(self, cause: Finding, symptom: Finding) -> bool:
        place = cause.evidence.get(self.cause_key)
        if isinstance(place, str):  # one place (the trained weights' label), not a list of them
            return symptom.evidence.get(self.symptom_key) == place
        return symptom.evidence.get(self.symptom_key) in (place or ())


@dataclass(frozen=True)
class Row:
    code: str
    role: str  # "cause" or "symptom"
    rank: int
    precedence: int = 0
    explains: frozenset = frozenset()
    explains_where: tuple = ()
    kind: str = "none"
    verifiable: bool = False
    explains_at_chance: frozenset = frozenset()
    refutable: bool = False

    def __post_init__(self):
        if self.role not in ("cause", "symptom") or self.rank not in RANKS or self.kind not in KINDS:
            raise ValueError(f"{self.code}: bad causes-table row {self}")
        object.__setattr__(self, "explains", frozenset(self.explains))
        object.__setattr__(self, "explains_at_chance", frozenset(self.explains_at_chance))


def _cause(code, rank, explains=(), **kw) -> Row:
    return Row(code, "cause", rank, explains=explains, **kw)


def _symptom(code, explains=(), **kw) -> Row:
    return Row(code, "symptom", SYMPTOM, explains=explains, **kw)


# What a fault that stops the model learning at all explains: every generic training symptom.
TRAINING = frozenset({"T101", "T102", "T104", "T105", "T203", "T204", "T205", "T206", "L205"})
_NOT_LEARNING = frozenset({"T101", "T104", "T105"})

# Precedence, within one rank: the more specific explanation first. A wrong loss (L204) explains a wrong head
# width; a softmax over a size-1 axis (L206) explains a one-output head that looks wrong for the loss (and the
# constant output both produce); a wrong first-layer in_channels (A102) explains the forward error it causes;
# among probe symptoms with no cause found, a specific pathology (NaN loss T203, no update at all T102, an input
# that is ignored T205, vanishing gradients T204) says more than "cannot overfit one batch" (T101).
_ROWS = (
    # data
    _cause("D101", CORRUPTION, TRAINING | {"T208"}, verifiable=True),
    _cause("D102", DATA, TRAINING, verifiable=True, refutable=True),
    _cause("D103", DATA, TRAINING, verifiable=True, refutable=True),
    _cause("D104", CORRUPTION, {"T102", "T104", "T105"}),
    _cause("D105", DATA, {"T208"}, verifiable=True),
    # recordings at different gains: the model learns loudness (collapses on it) and a test recording at another
    # gain lands off the training scale; after D102/D103, which lead when the global scale is off too
    _cause("D106", DATA, {"T105", "T208"}, precedence=1),
    _cause("D201", DATA, kind="leak"),
    _cause("D202", DATA, kind="leak"),
    _cause("D203", DATA),
    _cause("D204", DATA, kind="leak"),
    # the user's own DataLoader feeds one class per batch, and the training probe replays its order: each run of
    # one class's batches pulls the output towards that class, so the probe ends predicting the last class seen
    # (T105), no better than on zeroed inputs fed in the same order (T104), its loss swings with every class
    # change instead of falling (T102, T204), and BatchNorm's
    # single-class batch statistics do not match the running ones in eval mode (T207). The overfit probe's single
    # fixed batch (T101) and the lr range test do not follow the order, so their findings stay their own
    _cause("D205", DATA, {"T102", "T104", "T105", "T204", "T207"}, precedence=1, verifiable=True),
    _cause("D301", CORRUPTION, TRAINING | {"T208"}, verifiable=True),
    _cause("D302", CORRUPTION, _NOT_LEARNING | {"T208"}),
    _cause("D303", CORRUPTION, {"T104", "T208"}),
    # labels, outputs, loss
    _cause("L101", LABELS, TRAINING, verifiable=True),
    _cause("L102", LABELS, TRAINING),
    # on imbalanced classes a probe at chance by balanced accuracy learned the class frequencies only
    _cause("L103", LABELS, {"T105"}, explains_at_chance={"T101", "T104"}),
    _cause("L104", LABELS, refutable=True),
    _cause("L105", DATA, _NOT_LEARNING | {"T208"}),
    # wrong training labels: memorised, they cost test accuracy (a gap). After L105: when no baseline finds any
    # link at all, that is the plainer story (and scrambled training labels trip both)
    _cause("L106", DATA, {"T208"}, precedence=1),
    _cause("L201", LABELS, TRAINING, verifiable=True),
    _cause("L202", LABELS, TRAINING, verifiable=True),
    _cause("L203", LABELS, TRAINING, verifiable=True),
    _cause("L204", LABELS, TRAINING, precedence=-1, verifiable=True),
    _symptom("L205", refutable=True),
    # a softmax over an axis of size 1 makes the output constant and its gradient exactly zero
    _cause("L206", LABELS, TRAINING, precedence=-2),
    # architecture
    _cause("A101", RUN, TRAINING | {"T207", "T208"}, kind="cannot-start"),
    _cause("A102", RUN, TRAINING | {"T207", "T208"}, precedence=-1),
    _cause("A103", ARCHITECTURE, _NOT_LEARNING),
    _cause("A104", ARCHITECTURE, _NOT_LEARNING),
    _cause("A105", ARCHITECTURE),
    _cause("A201", ARCHITECTURE, _NOT_LEARNING | {"T208"}, refutable=True),
    _cause("A202", ARCHITECTURE, {"T101"}, refutable=True),
    _cause("A203", ARCHITECTURE, {"T207", "T208"}, refutable=True),
    _cause("A204", ARCHITECTURE, {"T101", "T207"}),
    # thousands of inputs per unit give pre-activations whose scale makes most units of the next layer die early
    _cause("A205", ARCHITECTURE, {"T208"},
           explains_where=(Where("T206", "layer", "followed_by", "where the dead units are in the layer right "
                                                                 "after the oversized one"),)),
    _cause("A207", RUN, kind="crash"),
    # a classifier fed fewer features than classes cannot separate them: the probes see an output that ignores the
    # input, a batch it cannot memorise, no learning; named before the other architecture causes it co-occurs with
    _cause("A206", ARCHITECTURE, _NOT_LEARNING | {"T102"}, precedence=-1),
    # samples that mix in a batch: the model learns from other samples' data, its predictions move with the batch
    _cause("A208", ARCHITECTURE, _NOT_LEARNING | {"T102", "T207", "T208"}, precedence=-1),
    # trained weights (--weights): running statistics that do not describe the data shift every activation in eval
    # mode, so those same weights collapse, lose their units, differ between modes and fail the test split; the
    # probes' fresh weights carry statistics of their own, so only findings about the same weights are explained
    _cause("T301", DATA, explains_where=tuple(
        Where(code, "weights", "weights", "about the same trained weights") for code in ("T105", "T206", "T207",
                                                                                         "T208"))),
    # optimisation
    _cause("T103", OPTIMISATION, {"T101", "T102", "T105"}, verifiable=True),
    _cause("T201", OPTIMISATION, TRAINING, verifiable=True),
    _cause("T202", OPTIMISATION, {"T101", "T102", "T105", "T205"}, verifiable=True),
    _cause("T209", OPTIMISATION, {"T102", "T105"}),
    # probe symptoms; the pathologies among them explain more generic ones when no other cause was found
    _symptom("T101", precedence=1),
    _symptom("T102", _NOT_LEARNING, precedence=-5),
    _symptom("T104", {"T101", "T105"}, precedence=-2),
    _symptom("T105"),
    _symptom("T203", {"T101", "T104", "T105", "T204", "T206", "L205"}, precedence=-6),
    _symptom("T204", {"T101", "T105", "T206"}, precedence=-3),
    _symptom("T205", _NOT_LEARNING, precedence=-4),
    _symptom("T206", _NOT_LEARNING, precedence=-1),
    _symptom("T207"),
    _symptom("T208"),
)

CAUSES: dict[str, Row] = {r.code: r for r in _ROWS}
if len(CAUSES) != len(_ROWS):
    raise ValueError("a code has two rows in the causes table")


def family_rank(code: str) -> int:
    """The rank of a code outside the table, by its family: labels, then layout (D3), data, architecture, probes."""
    if code.startswith("L"):
        return LABELS
    if code.startswith("D3"):
        return CORRUPTION
    return {"D": DATA, "A": ARCHITECTURE}.get(code[:1], OPTIMISATION)


def row_for(code: str) -> Row:
    """The table's row for ``code``; a code outside the table gets its family's defaults."""
    found = CAUSES.get(code)
    return found if found is not None else Row(code, "cause", family_rank(code))


def explains(cause: Finding, symptom: Finding, *, probe_at_chance: bool = False) -> bool:
    """Whether fixing ``cause`` usually removes ``symptom``: by code, by where they happen, or (when the training
    probe sits at chance) by the table's ``explains_at_chance``."""
    r = CAUSES.get(cause.code)
    if r is None:
        return False
    if symptom.code in r.explains or (probe_at_chance and symptom.code in r.explains_at_chance):
        return True
    return any(w.symptom == symptom.code and w.holds(cause, symptom) for w in r.explains_where)


def explained_by(code: str) -> list[tuple[str, str]]:
    """The codes whose row explains ``code``, each with the condition (empty when by code alone)."""
    out = []
    for r in _ROWS:
        if code in r.explains:
            out.append((r.code, ""))
        out.extend((r.code, w.says) for w in r.explains_where if w.symptom == code)
        if code in r.explains_at_chance:
            out.append((r.code, "when the training probe's balanced accuracy sits at chance"))
    return sorted(out)
