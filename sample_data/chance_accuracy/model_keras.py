"""The Keras twin of model.py: the same tutorial CNN, written with Keras 3 layers.

The mistake is the same: the recordings are fed exactly as the sensor logged them (16-bit
counts around 32768), with no scaling. `cnndoctor run` runs it on Keras's PyTorch backend
(`pip install "cnndoctor[keras]"`) and names the same cause as for the torch model.
"""

import keras
from keras import layers


def build_model(in_channels: int, num_classes: int, seq_len: int):
    model = keras.Sequential([
        keras.Input((seq_len, in_channels)),
        layers.Conv1D(32, 9, padding="same", activation="relu"), layers.MaxPooling1D(4),
        layers.Conv1D(64, 9, padding="same", activation="relu"), layers.MaxPooling1D(4),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


batch_size = 32
