"""Anonymize: faces and number plates masked on the device before anything is written; fail-closed."""
