"""Models: the ONNX detector runtime, the model registry, training and evaluation."""
