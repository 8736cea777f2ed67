"""Open data: the public datasets (proposals, forums, answers, obligations) as CSV and JSON,
streamed in keyset batches with an ``ETag``, and the daily snapshots (docs/open-data.md)."""
