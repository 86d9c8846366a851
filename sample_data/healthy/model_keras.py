"""The Keras twin of model.py: the same fully convolutional network with Keras 3 layers.

`cnndoctor run` runs it on Keras's PyTorch backend (`pip install "cnndoctor[keras]"`) and,
as for the torch model, gives it a clean bill.
"""

import keras
from keras import layers


def build_model(in_channels: int, num_classes: int, seq_len: int):
    def block(filters: int, kernel: int):
        return [layers.Conv1D(filters, kernel, padding="same"), layers.BatchNormalization(), layers.Activation("relu")]

    model = keras.Sequential([keras.Input((seq_len, in_channels)), *block(32, 7), *block(64, 5), *block(64, 3),
                              layers.GlobalAveragePooling1D(), layers.Dense(num_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


batch_size = 8
