"""Keep each memory's embedding inside its row (storage PLAIN) instead of letting TOAST move
it out.

A row over ~2 KB is shrunk by TOAST, which moves its largest out-of-line-able column out
first: with a 384-dimension vector (1,544 bytes) beside a turn's ciphertext, that was the
vector, for 30% of LoCoMo's turns (5,940 of 20,100 rows in our quality database). A search
that scores a scope whole then fetched those vectors from the TOAST table one by one. With
the vector pinned in the row TOAST moves the ciphertexts instead, which are read only for
the ten memories returned. Measured on LoCoMo's raw turns (the same table rewritten both
ways), the ranking statement's median went from 3.7-3.9 ms to 3.2-3.9 ms: a small gain,
within the run-to-run spread.

Only for vectors of up to 1,000 dimensions (4 KB): a row must fit in an 8 KB page, and a
larger vector is better out of line than the row unstorable. Rows written before this
migration keep their layout until they are rewritten (VACUUM FULL memory_memory, or an
update of the row)."""

from django.db import migrations

# pgvector keeps a vector column's dimensions in its type modifier.
PLAIN_WHEN_SMALL = """
DO $$
BEGIN
    IF (SELECT atttypmod FROM pg_attribute
        WHERE attrelid = 'memory_memory'::regclass AND attname = 'embedding') BETWEEN 1 AND 1000
    THEN
        ALTER TABLE memory_memory ALTER COLUMN embedding SET STORAGE PLAIN;
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("memory", "0007_token_indexes_not_repeated")]

    operations = [
        migrations.RunSQL(
            PLAIN_WHEN_SMALL,
            reverse_sql="ALTER TABLE memory_memory ALTER COLUMN embedding SET STORAGE EXTERNAL",
        )
    ]
