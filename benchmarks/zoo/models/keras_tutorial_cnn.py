"""Keras 3, the tutorial CNN: Conv1D/MaxPooling1D blocks, Flatten, Dense(64), Dense(K, softmax)."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    model = keras.Sequential([
        keras.Input((seq_len, in_channels)),
        layers.Conv1D(32, 9, padding="same", activation="relu"), layers.MaxPooling1D(4),
        layers.Conv1D(64, 9, padding="same", activation="relu"), layers.MaxPooling1D(4),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


batch_size = 32
