"""Evaluation: metrics, benchmark readers, protocols and reports."""
