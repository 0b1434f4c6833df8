"""Search stage: lexical and dense legs, fusion and ranking rules, the Searcher."""
