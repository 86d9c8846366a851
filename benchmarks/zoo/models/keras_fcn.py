"""Keras 3: conv-BN-ReLU ×3, global average pooling, Dense(K, softmax), sparse categorical cross-entropy."""

import keras
from keras import layers


def build_model(in_channels, num_classes, seq_len):
    def block(filters, kernel):
        return [layers.Conv1D(filters, kernel, padding="same"), layers.BatchNormalization(), layers.Activation("relu")]

    model = keras.Sequential([keras.Input((seq_len, in_channels)), *block(32, 7), *block(64, 5), *block(32, 3),
                              layers.GlobalAveragePooling1D(), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


batch_size = 16
