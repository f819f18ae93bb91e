"""On-device anonymization: faces and number plates masked before anything is written.

Public API (used by the survey pipeline)::

    from voirie.anonymize import Anonymizer, AnonymizationError
    anonymizer = Anonymizer.default()
    anonymized = anonymizer(frame)      # AnonymizedFrame, or AnonymizationError: drop the frame
    anonymizer.name                     # goes into FrameRecord.anonymizer
    anonymized.horizon                  # "calibrated", "estimated" or "whole_frame" (anonymize/horizon.py)
"""

from voirie.anonymize.anonymizer import Anonymizer, AnonymizerOptions
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.horizon import HorizonEstimator, HorizonView
from voirie.anonymize.maskers import BlurMasker, PixelateMasker, SolidMasker, make_masker

__all__ = [
    "AnonymizationError",
    "Anonymizer",
    "AnonymizerOptions",
    "BlurMasker",
    "HorizonEstimator",
    "HorizonView",
    "PixelateMasker",
    "SolidMasker",
    "make_masker",
]
