"""Scale-out: many repositories into one Milvus store, indexed with Ray (`quarry org`)."""
