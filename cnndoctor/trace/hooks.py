"""One way to attach hooks: collect the handles in ``Hooks`` and they all come off when the block ends.

Forward, forward pre-, gradient and global module hooks return a handle with ``remove()``. ``Hooks``
keeps those handles and removes them in ``__exit__``, even when the user's code raises; given a model,
it also puts ``model.training`` back as it was when the ``Hooks`` was made::

    with Hooks(model) as hooks:
        for module in model.modules():
            hooks.add(module.register_forward_hook(post))
        model.eval()
        model(x)

A recorder that keeps its hooks past one block registers them under ``with Hooks() as hooks`` and keeps
them with ``hooks.pop_all()`` once all are attached, so a failure halfway leaves none behind.
This module imports nothing.
"""

from __future__ import annotations

__all__ = ["Hooks"]


class Hooks:
    """Hook handles removed together on exit; with ``model``, also that model's training mode restored."""

    def __init__(self, model=None):
        self.handles: list = []
        self._model = model
        self._was_training = model.training if model is not None else None

    def add(self, handle):
        """Keep ``handle`` (what ``register_*_hook`` returned) to remove it on exit; returns it."""
        self.handles.append(handle)
        return handle

    def pop_all(self) -> Hooks:
        """Move the handles to a new ``Hooks`` (which the caller removes later); this one is left empty."""
        kept = Hooks()
        kept.handles, self.handles = self.handles, []
        return kept

    def remove(self) -> None:
        """Remove every handle kept so far (once: they are forgotten)."""
        handles, self.handles = self.handles, []
        for handle in handles:
            handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        try:
            self.remove()
        finally:
            if self._model is not None:
                self._model.train(self._was_training)
        return False
