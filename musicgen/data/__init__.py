"""Training data: converting a folder of music into tensors, and streaming them back in batches."""
