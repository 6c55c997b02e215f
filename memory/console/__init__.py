"""Console pages of the memory app: overview, memories, ingestion jobs."""
