"""Pure stages of the ingestion pipeline: extraction, scoring, deduplication, resolution.

Everything here works on plain data (dataclasses, strings, numpy arrays) and never touches
Django models or the database, so each stage can be tested alone; the Celery task wires
them to storage.
"""
