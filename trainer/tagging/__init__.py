"""The entity head: token states of the encoder, BIO tags, training, and its files."""
