"""Facts about how cnndoctor built the user's model: the constructor/``build_model`` arguments."""

from __future__ import annotations

from ..context import fact
from ..load_model import ConstructorArgument

__all__ = ["constructor_arguments"]


@fact
def constructor_arguments(ctx) -> list[ConstructorArgument]:
    """Every parameter of the constructor or ``build_model``: the value used, its source, the user's default.

    Empty for a model handed in as an instance (nothing was constructed).
    """
    return list(ctx.subject.constructor_arguments)
