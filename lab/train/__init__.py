"""Training, evaluation, export and packaging of the damage and plate models (``train`` extra)."""
