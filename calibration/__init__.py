"""Calibration: camera intrinsics, mounting and the ground-plane mapping to metres."""
