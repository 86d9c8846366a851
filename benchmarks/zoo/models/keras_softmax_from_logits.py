"""Keras 3: Dense(K, softmax) compiled with from_logits=True, a double softmax."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    model = keras.Sequential([keras.Input((seq_len, in_channels)),
                              layers.Conv1D(32, 7, padding="same", activation="relu"),
                              layers.Conv1D(64, 5, padding="same", activation="relu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


batch_size = 16
