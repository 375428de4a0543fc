"""Baselines: supervised U-Net, DatasetDDPM-unsup (K-means), GrabCut, and quoted rows."""
