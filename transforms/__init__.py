"""The work of akhbar: sources, cleaning, normalization, dedup, tagging and the Elasticsearch sink."""
