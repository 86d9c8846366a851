"""Keras 3: the last Dense has no activation, and the loss keeps its default from_logits=False."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    model = keras.Sequential([keras.Input((seq_len, in_channels)),
                              layers.Conv1D(32, 7, padding="same"), layers.BatchNormalization(),
                              layers.Activation("relu"),
                              layers.Conv1D(64, 5, padding="same"), layers.BatchNormalization(),
                              layers.Activation("relu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(num_classes)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
