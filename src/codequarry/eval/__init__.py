"""Evaluation harness: BEIR retrieval sets and repository fixtures, scored with the shipped search.

Modules: metrics (plain functions), beir (BEIR sets + the legs over a corpus),
fixture (repository fixtures), systems (what is compared), evaluators (the
one evaluator contract), report / plots (outputs), cache (embeddings and
fixture copies), command (`quarry eval`). Nothing heavy is imported here.
"""
