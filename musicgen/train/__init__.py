"""Training: the loop, its Keras callbacks, checkpoints and their previews, several devices."""
