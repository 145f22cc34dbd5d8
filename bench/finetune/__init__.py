"""`make bench`'s fine-tuning part: frozen against `--fine-tune` on CLINC150 and BANKING77,
full data and few-shot subsets (`python -m bench.finetune` runs it alone)."""
