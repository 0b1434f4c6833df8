"""Fine-tuning the embedding model for code search.

Modules: config (TOML recipes), pairs (pair records, provenance, CoSQA pairs,
manifest), sources (fetching real code from Debian / npm), mining (pairs from
an index built by `quarry index`), sampler (call-graph-aware batches), losses,
lora (peft adapters, merge, load), evaluate (CoSQA nDCG before/after,
Matryoshka truncation), run (the training loop, JSONL log, training_info),
plots, command (`quarry train-data`, `quarry train`).

Nothing heavy (torch, sentence-transformers, peft) is imported here.
"""
