"""Event ingestion: validate the wire format, dedupe in the database, attribute, enqueue."""
