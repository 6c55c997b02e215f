"""Retrieval schema: BM25 corpus statistics for the blind index, and a posting index that
lets keyword search probe a small scope's memories directly.

`memory_bm25stat` holds delta rows (see memory/retrieval/blind_index.py): per project and
keyed term hash, a change of document frequency; term 0 carries the document count and the
total document length. It has no foreign key to the project on purpose: Django's test flush
truncates the tables it knows without CASCADE, and a reference from an unmanaged table would
make that fail. The rows hold only keyed hashes and counts.
"""

from django.db import migrations

from tenants.rls import project_isolation

CREATE = """
CREATE TABLE memory_bm25stat (
    id bigserial PRIMARY KEY,
    project_id uuid NOT NULL,
    token bigint NOT NULL,
    doc_delta integer NOT NULL,
    length_delta bigint NOT NULL DEFAULT 0
);
CREATE INDEX memory_bm25stat_project_token
    ON memory_bm25stat (project_id, token) INCLUDE (doc_delta, length_delta);
CREATE INDEX memory_token_memory_token
    ON memory_memorytoken (memory_id, token) INCLUDE (term_frequency);
"""

DROP = """
DROP INDEX IF EXISTS memory_token_memory_token;
DROP TABLE IF EXISTS memory_bm25stat;
"""

BACKFILL = """
INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
SELECT project_id, token, count(*), 0 FROM memory_memorytoken GROUP BY project_id, token;
INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
SELECT project_id, 0, count(DISTINCT memory_id), sum(term_frequency)
FROM memory_memorytoken GROUP BY project_id;
"""


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_row_level_security")]

    operations = [
        migrations.RunSQL(CREATE, DROP),
        project_isolation("memory_bm25stat"),
        # Postings written before this migration (migrations run as the owner, to whom
        # FORCE'd policies apply too, so this only sees rows when run with BYPASSRLS).
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
