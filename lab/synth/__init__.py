"""Synthetic data with known ground truth: damage scenes, hard faces and plates, calibration targets, server records."""
