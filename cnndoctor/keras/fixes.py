"""Verified fixes for Keras models: the same repairs as ``diagnosis.fixes`` says them, made the Keras way.

A Keras model's layers are not torch submodules, so the torch fixers (which swap modules)
cannot reach them. These edit a fresh Keras model — its last Dense layer's activation or
width, its layers' ``trainable`` flags — or the compiled loss, and never the user's model.
"""

from __future__ import annotations

import dataclasses

from .support import KerasLoss, is_keras_loss, is_keras_model, keras_layers, output_layer, probe_ready

__all__ = ["is_keras_subject", "classification_head", "flip_from_logits", "linear_output", "rebuild_head",
           "unfreeze_layers"]


def is_keras_subject(subject) -> bool:
    return is_keras_loss(subject.loss_fn) or is_keras_model(subject.build_model())


def _output_layer(model):
    last = output_layer(model)
    return last if type(last).__name__ == "Dense" else None


def _edited(subject, edit):
    original = subject.factory

    def factory():
        return edit(original())

    return dataclasses.replace(subject, factory=factory)


def flip_from_logits(subject):
    """The compiled loss with ``from_logits`` made to match the output (L202)."""
    loss = subject.loss_fn
    if not isinstance(loss, KerasLoss) or loss.kind not in ("cross_entropy", "cross_entropy_probs", "bce",
                                                             "bce_logits"):
        return None
    fixed = loss.with_from_logits(not loss.from_logits)
    return (dataclasses.replace(subject, loss_fn=fixed),
            f"compiling {loss.name} with from_logits={not loss.from_logits}")


def linear_output(subject):
    """The last Dense layer without its activation: raw logits (L203)."""
    import keras

    if _output_layer(subject.build_model()) is None:
        return None

    def edit(model):
        _output_layer(model).activation = keras.activations.get(None)
        return model

    return _edited(subject, edit), "removing the last Dense layer's activation"


def rebuild_head(subject, *, units: int, activation: str | None, loss: KerasLoss | None = None):
    """The last Dense layer rebuilt with ``units`` outputs and ``activation`` (L201, L204); optionally a new loss."""
    import keras

    if _output_layer(subject.build_model()) is None:
        return None
    activation = _keras_activation(activation, units)

    def edit(model):
        last = _output_layer(model)

        def clone(layer):
            config = layer.get_config()
            if layer is last:
                config.update(units=int(units), activation=activation)
            return layer.__class__.from_config(config)

        return probe_ready(keras.models.clone_model(model, clone_function=clone))

    fixed = _edited(subject, edit)
    if loss is not None:
        fixed = dataclasses.replace(fixed, loss_fn=loss)
    what = f"setting the last Dense layer to {units} units" + (f" with {activation}" if activation else "")
    return fixed, what + (f" and compiling with {loss.shown}" if loss is not None else "")


def classification_head(subject, k: int):
    """Dense(K, softmax) with sparse_categorical_crossentropy, or Dense(1, sigmoid) with BCE for K = 2 (L204)."""
    if k == 2:
        return rebuild_head(subject, units=1, activation="sigmoid", loss=KerasLoss("binary_crossentropy", "bce", False))
    return rebuild_head(subject, units=k, activation="softmax",
                        loss=KerasLoss("sparse_categorical_crossentropy", "cross_entropy_probs", False))


def unfreeze_layers(subject):
    """Every layer trainable (T103)."""

    def edit(model):
        for layer in keras_layers(model, include_self=True):
            layer.trainable = True
        return model

    return _edited(subject, edit), "setting trainable=True on every layer"


def _keras_activation(name: str | None, units: int) -> str | None:
    """A Keras activation name for the rebuilt head: softmax over one unit is always 1, so sigmoid."""
    if name == "softmax" and units == 1:
        return "sigmoid"
    return name if name in ("softmax", "sigmoid", "relu", "tanh", "log_softmax", "elu", "selu", "gelu") else None
