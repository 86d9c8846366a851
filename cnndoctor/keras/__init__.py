"""Keras 3 models, diagnosed through the torch backend: support (backend, compile mapping, models), the
layer-by-layer trace and the Keras way of the verified fixes.

``import keras`` inside these modules is the real Keras library; it is imported only when a Keras model is
met. This package re-exports nothing, so importing it never imports Keras.
"""
