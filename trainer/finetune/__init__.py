"""Fine-tuning the sentence encoder on a bot's examples (`intent-train train --fine-tune`).

`tuning` runs one recipe over the encoder, `comparison` tunes it again per fold where the bot
is cross-validated and decides between the frozen and the tuned model, `storage` writes the
tuned encoder into the model folder for the exporter.
"""
