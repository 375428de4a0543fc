"""Baselines: supervised U-Net, DatasetDDPM-unsup (K-means), GrabCut, the trivial and colour
priors (centred disc, all foreground, K-means on RGB), and quoted rows."""
