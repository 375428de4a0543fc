"""Evaluation: segmentation metrics, FID/KID and mask consistency (docs/evaluation.md)."""
