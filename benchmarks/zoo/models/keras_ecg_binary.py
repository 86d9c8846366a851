"""Keras 3, the ECG-tutorial binary classifier: Dense(1, sigmoid) with binary cross-entropy on 0/1 labels."""

import keras
from keras import layers


def build_model(in_channels, seq_len):
    model = keras.Sequential([
        keras.Input((seq_len, in_channels)),
        layers.Conv1D(32, 7, padding="same"), layers.BatchNormalization(), layers.Activation("relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(64, 5, padding="same"), layers.BatchNormalization(), layers.Activation("relu"),
        layers.GlobalAveragePooling1D(), layers.Dropout(0.2), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
