"""Keras 3: categorical_crossentropy compiled, but the labels are class ids (fit() stops on the shapes)."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    model = keras.Sequential([keras.Input((seq_len, in_channels)),
                              layers.Conv1D(32, 7, padding="same", activation="relu"),
                              layers.Conv1D(64, 5, padding="same", activation="relu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
