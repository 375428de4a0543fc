"""What a trained model produces: segmentations, sample sets in shards, interpolations, the
prediction files that hold region maps, and the pictures made of them."""
