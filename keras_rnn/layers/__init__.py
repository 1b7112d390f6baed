"""Custom Keras layers (all registered under the "keras_rnn" package for .keras files)."""

from keras_rnn.layers.attention import BahdanauAttention
from keras_rnn.layers.cells import (
    CoupledLSTMCell,
    MultiplicativeCell,
    MUTCell,
    PeepholeLSTMCell,
    SlidesGRUCell,
    SlidesLSTMCell,
)
from keras_rnn.layers.decoder import AttentionDecoder
from keras_rnn.layers.readout import EchoStateNetwork, FreshNormalEquations, RidgeReadout
from keras_rnn.layers.reservoir import (
    ESNInitializer,
    Reservoir,
    ReservoirCell,
    check_size,
    echo_state_property,
    estimated_bytes,
)
from keras_rnn.layers.sequence import ESNClassifier, SequencePooling, StepMask

__all__ = [
    "AttentionDecoder",
    "CoupledLSTMCell",
    "MUTCell",
    "MultiplicativeCell",
    "PeepholeLSTMCell",
    "SlidesGRUCell",
    "SlidesLSTMCell",
    "BahdanauAttention",
    "ESNClassifier",
    "ESNInitializer",
    "EchoStateNetwork",
    "FreshNormalEquations",
    "Reservoir",
    "ReservoirCell",
    "RidgeReadout",
    "SequencePooling",
    "StepMask",
    "check_size",
    "echo_state_property",
    "estimated_bytes",
]
