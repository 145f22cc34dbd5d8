"""The frozen encoder's features: `encoder` reads its folder into an identity, `pooling` is
the torch module the trainer embeds with and the exporter traces, `encoding` runs it,
`cache` keeps features on disk, `embed` combines the two."""
