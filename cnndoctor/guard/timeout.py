"""A watchdog for ``cnndoctor run --timeout``: a hung model stops the run with a message, not a CI job.

``watchdog(seconds)`` guards everything that runs user code (the import of model.py, building
the model, the checks). When the time is up:

1. a main-thread ``SIGALRM`` (``signal.setitimer``) raises ``DiagnosisTimeout``: this stops a
   pure-Python endless loop and any torch code between two kernel calls. It derives from
   ``BaseException`` (as ``KeyboardInterrupt`` does) so that the ``except Exception`` blocks that
   keep one failing check from stopping the run do not swallow it; it is raised again every
   second in case user code swallows it (a bare ``except:``);
2. where there is no ``SIGALRM`` (Windows) or the watchdog runs off the main thread, a thread
   interrupts the main thread instead (``_thread.interrupt_main``), and the ``KeyboardInterrupt``
   is turned into ``DiagnosisTimeout`` on the way out;
3. if the process is still stuck ``grace`` seconds after the deadline (a hang in native code that
   never returns to the interpreter), the thread writes the same message to stderr and ends the
   process with ``os._exit(2)``.

The message names the phase — the step of the run (``phase()``), the fact being measured and the
check that asked for it (pushed by ``Context.get`` and ``run_checks``), "building the model" when
the model's constructor is running — the innermost ``nn.Module`` whose ``forward()`` was entered
and not left (global module hooks, installed only while the watchdog is armed), and the line of
user code that was running.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import sysconfig
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Iterator

from ..errors import PACKAGE_DIR
from ..probes.budget import BUDGETS as PROBE_BUDGETS
from ..trace.hooks import Hooks

__all__ = ["DiagnosisTimeout", "watchdog", "phase", "step", "describe", "activity", "user_line", "preload_torch",
           "BUDGET_TIMEOUTS", "DEFAULT_GRACE"]

# Generous on purpose: a limit exists to stop a job that would otherwise hang, not to race a slow
# machine. A diagnosis runs up to about ten probe runs (training, zeroed input, overfit and its retries,
# LR range, two more seeds, three verified fixes), each with its own time cap of at least the budget's
# floor; the default timeout leaves room for all of them at that floor, so a slow model ends with
# inconclusive probes (said in the report), never with a timeout.
TIMEOUT_PROBE_RUNS = 12
BUDGET_TIMEOUTS = {name: TIMEOUT_PROBE_RUNS * budget.seconds for name, budget in PROBE_BUDGETS.items()}
DEFAULT_GRACE = 10.0  # seconds after the deadline before a process stuck in native code is ended

_FACT_LABELS = {
    "feed": "the first forward pass on your samples",
    "shape_trace": "the shape trace (a forward pass)",
    "forward_faults": "the forward-pass fault analysis",
    "fed_axes": "the forward pass on a longer sample",
    "model_output": "the model's outputs",
    "receptive_field": "the receptive field",
    "initial_loss": "the loss at initialisation",
    "probe_runtime": "the probe warm-up (timing training steps)",
    "training_probe": "the training probe",
    "train_eval_gap": "the train/eval comparison",
    "zero_input_probe": "the zeroed-input baseline",
    "overfit_batch": "the overfit-one-batch test",
    "lr_range": "the LR range test",
    "reference": "the reference baselines",
    "learnability": "the learnability baselines",
    "inputs": "the inputs after preprocess",
}

_STEP: list[str] = []  # the current step of the run, set with step()
_PHASES: list[tuple[str, str]] = []  # (kind, text): kind is "step", "fact" or "check"
_MODULES: list = []  # nn.Modules whose forward() was entered and not left, outermost first


class DiagnosisTimeout(BaseException):
    """The run took longer than the timeout; the message is a complete paragraph."""


def preload_torch(*, training: bool = True) -> None:
    """Import torch before the clock starts, and, when the run will train (``training``), the part the
    first optimizer step imports lazily (``torch._dynamo``: about as long as torch itself). A selection
    without training checks (``--select A101``) never pays for it."""
    try:
        import torch  # noqa: F401
        if training:
            import torch._dynamo  # noqa: F401
    except Exception:  # a torch without them: they will be imported (and fail) where they are needed
        pass


def step(text: str) -> None:
    """Say which step of the run comes next ("importing the model file"), for the timeout message."""
    _STEP[:] = [text]


@contextmanager
def phase(text: str, kind: str = "step") -> Iterator[None]:
    """Record what the run is doing (``kind``: "step", "fact" or "check"), for the timeout message."""
    _PHASES.append((kind, text))
    try:
        yield
    finally:
        for i in range(len(_PHASES) - 1, -1, -1):  # remove our own entry, even if inner ones leaked
            if _PHASES[i] == (kind, text):
                del _PHASES[i:]
                break


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value:g} s ({value / 60:g} min)"


@functools.lru_cache(maxsize=1)
def _skip_roots() -> tuple[str, ...]:
    # cnndoctor, its checks (mapped from ./checks, outside the package folder), the standard library, packages
    roots = {PACKAGE_DIR, str(Path(PACKAGE_DIR).parent / "checks")}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(str(Path(path).resolve()))
    return tuple(roots)


@functools.lru_cache(maxsize=1024)
def _users_file(name: str) -> bool:
    """Whether code from the file ``name`` is the user's (cached: a captured warning asks at every step)."""
    if name.startswith("<"):
        return False
    try:
        path = str(Path(name).resolve())
    except OSError:
        return False
    return not (path.startswith(_skip_roots()) or "site-packages" in path or "dist-packages" in path)


def _frames(frame: FrameType | None) -> list[FrameType]:
    out = []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back
    return out  # innermost first


def _user_line(frames: list[FrameType]) -> str | None:
    for frame in frames:
        name = frame.f_code.co_filename
        if _users_file(name):
            return f"{Path(name).name} line {frame.f_lineno}, in {frame.f_code.co_name}"
    return None


def _building(frames: list[FrameType]) -> bool:
    """True inside ``Subject.build_model`` or a module's ``__init__`` (the user's constructor)."""
    own = PACKAGE_DIR
    for f in frames:
        code = f.f_code
        if code.co_name == "build_model" and str(Path(code.co_filename).resolve()).startswith(own):
            return True
        if code.co_name == "__init__" and _is_module(f.f_locals.get("self")):
            return True
    return False


def _is_module(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _module_text(modules: list) -> str | None:
    if not modules:
        return None
    root, inner = modules[0], modules[-1]
    cls = type(inner).__name__
    if inner is root:
        return f"in the forward() of `{cls}` (the model itself), which never returned"
    path = None
    try:
        path = next((name for name, m in root.named_modules() if m is inner), None)
    except Exception:  # a model whose named_modules() misbehaves: the class is enough
        pass
    where = f"`{path}` ({cls})" if path else f"a `{cls}`"
    return f"in the forward() of {where} inside `{type(root).__name__}`, which never returned"


def activity(frame: FrameType | None) -> str:
    """What the run is doing now, as a phrase ("computing the training probe (fact training_probe, for check
    T101)", "building the model (its constructor)"), from the phases and ``frame``'s stack: the timeout message
    and the attribution of captured warnings (``guard/user_warnings``) say it the same way."""
    return _what(list(_PHASES), _frames(frame))


def user_line(frame: FrameType | None) -> str | None:
    """The innermost line of the user's code on ``frame``'s stack ("model.py line 12, in forward"): not
    cnndoctor, the standard library or an installed package; None when there is none."""
    return _user_line(_frames(frame))


def _what(phases: list[tuple[str, str]], frames: list[FrameType]) -> str:
    steps = [*_STEP, *(t for k, t in phases if k == "step")]
    facts = [t for k, t in phases if k == "fact"]
    checks = [t for k, t in phases if k == "check"]
    building = _building(frames)
    if facts:
        what = f"{_FACT_LABELS.get(facts[-1], facts[-1].replace('_', ' '))} (fact {facts[-1]}"
        what += f", for check {checks[-1]})" if checks else ")"
        what = f"building the model (its constructor) for {what}" if building else f"computing {what}"
    elif checks:
        what = f"building the model (its constructor) for check {checks[-1]}" if building else \
            f"running check {checks[-1]}"
    elif building:
        what = "building the model (its constructor)"
    else:
        what = steps[-1] if steps else "running your code"
    return what


def describe(seconds: float, frame: FrameType | None, *, advice: str) -> str:
    """The one-paragraph message for a run stopped after ``seconds``, from the state it is in now."""
    frames = _frames(frame)
    what = _what(list(_PHASES), frames)
    parts = [f"the run took longer than the {_seconds(seconds)} timeout and was stopped while {what}"]
    module = _module_text(list(_MODULES))
    if module:
        parts.append(module)
    line = _user_line(frames)
    if line:
        parts.append(f"at {line}")
    return ", ".join(parts) + ". " + advice


ADVICE = ("Code that never returns (an endless loop in forward(), preprocess or train_step, a deadlock, "
          "a wait on a device) would hang the job forever. Fix the hang; if the run is merely slow, raise the "
          "limit with --timeout SECONDS (or timeout in [tool.cnndoctor]), or use --timeout 0 to disable it.")


class _Watchdog:
    def __init__(self, seconds: float, grace: float, advice: str):
        self.seconds = seconds
        self.grace = grace
        self.advice = advice
        self.active = False
        self.expired = False
        self.message: str | None = None
        self.done = threading.Event()
        self.main = threading.get_ident()
        self.use_alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        self.old_handler = None
        self.old_timer = (0.0, 0.0)  # an outer itimer (pytest-timeout's, say), given back on exit
        self.started = 0.0
        self.hooks = Hooks()  # the global module hooks that track which module is running

    # module tracking -------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        try:
            from torch.nn.modules import module as torch_module
        except Exception:  # torch missing or broken: the message just names no module
            return

        def enter(module, args):
            _MODULES.append(module)

        def leave(module, args, output):
            for i in range(len(_MODULES) - 1, -1, -1):
                if _MODULES[i] is module:
                    del _MODULES[i:]
                    break

        self.hooks.add(torch_module.register_module_forward_pre_hook(enter))
        self.hooks.add(torch_module.register_module_forward_hook(leave, always_call=True))

    # expiry ----------------------------------------------------------------------------------
    def _expire(self, frame: FrameType | None) -> str:
        if self.message is None:
            self.message = describe(self.seconds, frame, advice=self.advice)
        self.expired = True
        return self.message

    def _on_alarm(self, signum, frame) -> None:
        if not self.active:
            return
        raise DiagnosisTimeout(self._expire(frame))

    def _main_frame(self) -> FrameType | None:
        return sys._current_frames().get(self.main)

    def _watch(self) -> None:
        if self.done.wait(self.seconds):
            return
        if not self.use_alarm:
            self._expire(self._main_frame())
            if self.main == threading.main_thread().ident:  # a KeyboardInterrupt, turned into ours on exit
                import _thread

                _thread.interrupt_main()
        if self.done.wait(self.grace if self.use_alarm else self.grace + 1.0):
            return
        # Still running: stuck in native code that never gives the interpreter back. Say why and end it.
        text = describe(self.seconds, self._main_frame(), advice=self.advice)
        text += f" (The process did not respond {self.grace:g} s after the deadline and was ended.)"
        try:
            os.write(2, f"cnndoctor: error: {text}\n".encode("utf-8", "replace"))
        except OSError:
            pass
        os._exit(2)

    # the context -----------------------------------------------------------------------------
    def __enter__(self):
        self._install_hooks()
        self.active = True
        if self.use_alarm:
            self.old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            self.started = time.monotonic()
            self.old_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds, 1.0)
        threading.Thread(target=self._watch, name="cnndoctor-timeout", daemon=True).start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.active = False  # first: an alarm arriving from here on does nothing
        self.done.set()
        if self.use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, self.old_handler if self.old_handler is not None else signal.SIG_DFL)
            if self.old_timer[0] > 0:
                left = self.old_timer[0] - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), self.old_timer[1])
        self.hooks.remove()
        _MODULES.clear()
        _STEP.clear()
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt) and self.expired:
            raise DiagnosisTimeout(self.message) from None
        return False


@contextmanager
def watchdog(seconds: float | None, *, grace: float = DEFAULT_GRACE, advice: str = ADVICE) -> Iterator[None]:
    """Stop what runs inside after ``seconds`` with ``DiagnosisTimeout`` (None or 0: no limit)."""
    if not seconds or seconds <= 0:
        yield
        return
    # a short limit (a test, a tiny CI job) gets a short grace too, never under 2 s
    with _Watchdog(float(seconds), min(float(grace), max(2.0, float(seconds))), advice):
        yield

