"""Entities (slots): the typed spans, lexicons and decoding shared by the trainer and the server."""
