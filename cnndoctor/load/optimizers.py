"""The user's optimizer, read once and rebuilt exactly for every probe.

A model file may give the optimizer as a factory (``make_optimizer(params)``, a
``functools.partial``), an optimizer class, or an instance built for another model (Keras
``compile()`` is mapped to a factory). What the user's loop would run is what the factory
builds: its class, every param group's learning rate and its other hyperparameters
(momentum, betas, weight decay, nesterov...). ``read_optimizer`` builds it once on a fresh
model and records those settings; ``build_optimizer`` rebuilds it for each probe and, when
a probe asks for another learning rate, scales every group's lr by the same factor, so the
ratios between the user's groups are kept and nothing else changes.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import InputError

__all__ = ["OptimizerSettings", "read_optimizer", "build_optimizer", "optimizer_kind", "own_lr", "DEFAULT_OPTIMIZER"]

DEFAULT_OPTIMIZER = "Adam"

# Param-group keys that are implementation switches, not hyperparameters a user tunes.
_SWITCHES = frozenset({"params", "foreach", "capturable", "differentiable", "fused", "initial_lr", "lr",
                       "decoupled_weight_decay", "param_names"})
# Recorded, but left out of the one-line description: numerical guards nobody tunes to fix a run.
_QUIET = frozenset({"eps"})


def optimizer_kind(opt) -> str:
    """How the optimizer was given: "none", "instance", "class" or "factory"."""
    import torch

    if opt is None:
        return "none"
    if isinstance(opt, torch.optim.Optimizer):
        return "instance"
    if inspect.isclass(opt) and issubclass(opt, torch.optim.Optimizer):
        return "class"
    if callable(opt):
        return "factory"
    raise InputError(f"optimizer/make_optimizer is a {type(opt).__name__}; give a factory make_optimizer(params), "
                     "a torch.optim class or an optimizer instance.")


def _plain(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value) if isinstance(value, float) else int(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a 0-d tensor lr
        return _plain(value.item())
    return str(value)


def _hyperparameters(group: dict) -> dict:
    out = {}
    for key, value in group.items():
        if key in _SWITCHES:
            continue
        if isinstance(value, (int, float, bool, tuple, list)) or value is None or hasattr(value, "item"):
            out[key] = _plain(value)
    return out


@dataclass(frozen=True)
class OptimizerSettings:
    """What the user's optimizer is, as their own code builds it."""

    name: str  # torch.optim class name, e.g. "SGD"
    given_as: str  # "none" (cnndoctor's default), "instance", "class" or "factory"
    where: str  # "make_optimizer in model file", "diagnose(optimizer=...)", "compile() in model file", "default"
    lrs: tuple[float, ...]  # each param group's lr, as built
    hyperparameters: dict = field(default_factory=dict)  # the first group's other settings
    groups: int = 1
    cls: type | None = field(default=None, compare=False)  # the optimizer class, for snippets
    caveat: str | None = None  # what could not be reproduced exactly, said in the report

    @property
    def lr(self) -> float:
        """The reference learning rate: the first param group's."""
        return self.lrs[0]

    def _parts(self, lr: float | None) -> list[str]:
        scale = 1.0 if lr is None or not self.lr else lr / self.lr
        if len(set(self.lrs)) > 1:
            parts = ["lr " + "/".join(_g(x * scale) for x in self.lrs) + f" over {self.groups} param groups"]
        else:
            parts = [f"lr {_g(self.lr if lr is None else lr)}"]
        for key, value in self.hyperparameters.items():
            if key in _QUIET or value is None or value is False:
                continue
            if value is True:
                parts.append(key)
            elif isinstance(value, list):
                parts.append(f"{key} ({', '.join(_g(v) for v in value)})")
            elif value != 0:
                parts.append(f"{key} {_g(value)}")
        return parts

    def describe(self, lr: float | None = None) -> str:
        """``SGD (lr 0.5, momentum 0.9, nesterov)`` — at ``lr`` when a probe runs at another one."""
        return f"{self.name} ({', '.join(self._parts(lr))})"

    def brief(self) -> str:
        """``SGD, momentum 0.9``: the optimizer and what it sets besides the lr (for messages that quote the lr)."""
        return ", ".join([self.name, *self._parts(None)[1:]])

    def call(self, lr: float) -> str:
        """``torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)``: the user's optimizer at ``lr``,
        with every hyperparameter that differs from torch's default written out."""
        import torch

        cls = self.cls or getattr(torch.optim, self.name, None)
        try:
            defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()} if cls else {}
        except (TypeError, ValueError):
            defaults = {}
        module = getattr(cls, "__module__", "") or ""
        path = f"torch.optim.{self.name}" if module.startswith("torch.optim") or cls is None else \
            f"{module}.{cls.__qualname__}"
        args = [f"lr={_g(lr)}"]
        for key, value in self.hyperparameters.items():
            default = _plain(defaults.get(key, object()))
            if key in defaults and value != default and not (isinstance(value, list) and default is None):
                args.append(f"{key}={tuple(value) if isinstance(value, list) else value!r}")
        return f"{path}(model.parameters(), {', '.join(args)})"

    def to_dict(self) -> dict:
        return {"name": self.name, "given_as": self.given_as, "where": self.where, "lr": self.lr,
                "param_group_lrs": list(self.lrs), "hyperparameters": dict(self.hyperparameters),
                "description": self.describe()}


def _g(x) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else str(x)


def _first_lr(made) -> float:
    return float(_plain(made.param_groups[0]["lr"]))


def _call_factory(opt, params):
    import torch

    try:
        made = opt(params)
    except Exception as exc:  # the user's factory: their error, in their words
        raise InputError(f"make_optimizer/optimizer raised {type(exc).__name__}: {exc}. cnndoctor calls it as "
                         "make_optimizer(params) with the model's parameters (a list of tensors), as a training "
                         "loop would; make it accept that.") from None
    if not isinstance(made, torch.optim.Optimizer):
        raise InputError(f"make_optimizer/optimizer returned {type(made).__name__}, not a torch optimizer.")
    return made


def build_optimizer(opt, params, lr: float) -> Any:
    """The user's optimizer over ``params``, as their code builds it, with its learning rate at ``lr``.

    A factory's optimizer keeps everything it builds; when ``lr`` differs from its first group's
    learning rate, every group's lr is multiplied by the same factor, so the ratios between the
    user's groups stay theirs (at the user's own lr the factor is exactly 1).
    """
    import torch

    params = list(params)
    kind = optimizer_kind(opt)
    if kind == "none":
        return torch.optim.Adam(params, lr=lr)
    if kind == "instance":  # a module-level instance bound to another model: same class, groups and settings
        accepted = inspect.signature(type(opt)).parameters  # defaults may hold keys the constructor does not take
        settings = {k: v for k, v in opt.defaults.items() if k in accepted}
        groups = _matched_groups(opt, params, accepted)
        if groups is None:
            return type(opt)(params, **{**settings, "lr": lr})
        made = type(opt)(groups, **settings)
        _scale(made, lr)
        return made
    if kind == "class":
        return opt(params, lr=lr)
    made = _call_factory(opt, params)
    _scale(made, lr)
    return made


def _scale(made, lr: float) -> None:
    """Every group's lr times ``lr / first group's lr`` (exactly nothing at the user's own lr)."""
    ref = _first_lr(made)
    if lr != ref:
        for group in made.param_groups:
            group["lr"] = lr if ref <= 0 else float(group["lr"]) * (lr / ref)


def _matched_groups(opt, params: list, accepted) -> list[dict] | None:
    """The instance's param groups over ``params``, matched by position; None unless it has several groups
    whose tensors have, in order, exactly the shapes of ``params``."""
    groups = opt.param_groups
    theirs = [p for g in groups for p in g["params"]]
    if len(groups) < 2 or len(theirs) != len(params) or any(a.shape != b.shape for a, b in zip(theirs, params)):
        return None
    out, start = [], 0
    for g in groups:
        n = len(g["params"])
        settings = {k: v for k, v in g.items() if k != "params" and k in accepted}
        out.append({**settings, "params": params[start:start + n]})
        start += n
    return out


def own_lr(opt) -> float | None:
    """The learning rate an optimizer class defaults to (None when it has no numeric default)."""
    try:
        default = inspect.signature(opt).parameters["lr"].default
    except (KeyError, TypeError, ValueError):
        return None
    default = _plain(default)
    return float(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else None


def read_optimizer(opt, build_params: Callable[[], Any], *, lr: float, where: str) -> OptimizerSettings:
    """What the user's optimizer is: for a factory, built once on ``build_params()`` and read.

    ``lr`` is what a class or cnndoctor's default Adam is built with; a factory and an instance
    carry their own learning rates, which are read, never replaced.
    """
    import torch

    kind = optimizer_kind(opt)
    if kind == "instance":
        made = build_optimizer(opt, list(build_params()), float(_plain(opt.param_groups[0]["lr"])))
        caveat = None
        if len(opt.param_groups) > 1 and len(made.param_groups) == 1:
            caveat = (f"The optimizer instance in the model file has {len(opt.param_groups)} param groups over another "
                      "model's parameters that cannot be matched to a fresh model's (their shapes differ in order), "
                      "so the probes use one group with its defaults. Define make_optimizer(params) to keep your "
                      "groups.")
        return _settings(made, kind, where, caveat)
    if kind == "none":  # read from the signature: building any torch optimizer imports torch._dynamo (seconds)
        return _default_settings(lr)
    if kind == "class":
        made = build_optimizer(opt, [torch.zeros(1, requires_grad=True)], lr)
        return _settings(made, kind, "default" if kind == "none" else where)
    return _settings(_call_factory(opt, list(build_params())), kind, where)


def _default_settings(lr: float) -> OptimizerSettings:
    """cnndoctor's default Adam at ``lr``, read off the constructor's signature, equal to what building it and
    reading its param group gives (a test holds the two equal): a run that never trains (``--select A101``)
    then never imports what the first optimizer imports."""
    import torch

    group = {name: p.default for name, p in inspect.signature(torch.optim.Adam).parameters.items()
             if name != "params" and p.default is not inspect.Parameter.empty}
    group["lr"] = lr
    return OptimizerSettings("Adam", "none", "default", (float(lr),), _hyperparameters(group), 1, torch.optim.Adam)


def _settings(made, kind: str, where: str, caveat: str | None = None) -> OptimizerSettings:
    groups = made.param_groups
    return OptimizerSettings(type(made).__name__, kind, where, tuple(float(_plain(g["lr"])) for g in groups),
                             _hyperparameters(groups[0]), len(groups), type(made), caveat)
