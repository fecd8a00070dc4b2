"""The networks: the Keras model, its layers, the LSTM and GRU cells, and the numpy engine for generation."""
