"""Keras 3, the tutorial slip: Conv1D layers followed by Dense with no Flatten or global pooling."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    model = keras.Sequential([keras.Input((seq_len, in_channels)),
                              layers.Conv1D(32, 7, activation="relu"), layers.MaxPooling1D(2),
                              layers.Conv1D(64, 5, activation="relu"),
                              layers.Dense(64, activation="relu"), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
