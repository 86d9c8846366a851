"""Keras 3, kept from a binary tutorial: Dense(1, sigmoid) and binary_crossentropy on a K-class problem."""

import keras
from keras import layers


def build_model(in_channels, seq_len):
    model = keras.Sequential([keras.Input((seq_len, in_channels)),
                              layers.Conv1D(32, 7, padding="same", activation="relu"),
                              layers.Conv1D(64, 5, padding="same", activation="relu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
