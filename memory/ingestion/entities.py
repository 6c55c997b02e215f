"""Entities and relations of a stored fact: people, places, organizations, preferences and
the typed edges between them ("alice" -lives_in-> "Berlin"), in the memory's user/agent
scope. Names are ciphertexts; a keyed hash of the normalised name deduplicates them, so the
same place mentioned by a hundred memories is one entity with a hundred mentions."""

from uuid import uuid4

from memory.ingestion.facts import CandidateFact, ExtractedEntity
from memory.models import Entity, EntityMention, Memory, Relation
from memory.records import seal
from tenants.keyring import FieldContext, keyed_hash

ENTITY_TABLE = "memory_entity"
# Extractors name the speakers generically; in a scope they are its user and agent.
SELF_NAMES = {"user": "person", "assistant": "thing"}
MAX_NAME_CHARS = 200


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def _self_name(memory: Memory, name: str) -> str:
    """'user' is the scope's user id ('alice'), 'assistant' its agent id, when known."""
    lowered = _normalised(name)
    if lowered == "user" and memory.user_id:
        return memory.user_id
    if lowered == "assistant" and memory.agent_id:
        return memory.agent_id
    return name


def _wanted_entities(memory: Memory, fact: CandidateFact) -> dict[str, ExtractedEntity]:
    """By normalised name: the fact's entities, plus relation endpoints it did not list."""
    wanted: dict[str, ExtractedEntity] = {}
    for entity in fact.entities:
        name = _self_name(memory, entity.name.strip())[:MAX_NAME_CHARS]
        if name:
            wanted.setdefault(_normalised(name), ExtractedEntity(name, entity.type))
    for relation in fact.relations:
        for endpoint in (relation.source, relation.target):
            kind = SELF_NAMES.get(_normalised(endpoint), "thing")
            name = _self_name(memory, endpoint.strip())[:MAX_NAME_CHARS]
            if name:
                wanted.setdefault(_normalised(name), ExtractedEntity(name, kind))
    return wanted


def _upserted(memory: Memory, wanted: dict[str, ExtractedEntity]) -> dict[str, Entity]:
    """Insert missing entities (ON CONFLICT DO NOTHING), then read back all of them."""
    project_id = memory.project_id
    hashes = {key: keyed_hash(project_id, key, domain="entity-name") for key in wanted}
    rows = []
    for key, entity in wanted.items():
        entity_id = uuid4()
        context = FieldContext(table=ENTITY_TABLE, row_id=str(entity_id), field="name")
        rows.append(
            Entity(
                id=entity_id,
                project_id=project_id,
                user_id=memory.user_id,
                agent_id=memory.agent_id,
                name_ciphertext=seal(project_id, entity.name, context, memory.user_id),
                name_hash=hashes[key],
                entity_type=entity.type,
            )
        )
    Entity.objects.bulk_create(rows, ignore_conflicts=True)
    stored = Entity.objects.filter(
        project_id=project_id,
        user_id=memory.user_id,
        agent_id=memory.agent_id,
        name_hash__in=list(hashes.values()),
    )
    by_hash: dict[str, list[Entity]] = {}
    for row in stored:
        by_hash.setdefault(row.name_hash, []).append(row)
    # One name can exist under two types ("Paris" the place, "Paris" the person): prefer
    # the type this fact gave, else any.
    return {
        key: next(
            (r for r in by_hash[digest] if r.entity_type == wanted[key].type), by_hash[digest][0]
        )
        for key, digest in hashes.items()
        if digest in by_hash
    }


def entities_record(*, memory: Memory, fact: CandidateFact) -> tuple[int, int]:
    """Link the memory to its entities and store its relations; (mentions, relations)."""
    wanted = _wanted_entities(memory, fact)
    if not wanted:
        return 0, 0
    entities = _upserted(memory, wanted)
    EntityMention.objects.bulk_create(
        [
            EntityMention(project_id=memory.project_id, entity=entity, memory=memory)
            for entity in {e.id: e for e in entities.values()}.values()
        ],
        ignore_conflicts=True,
    )
    relations = []
    for relation in fact.relations:
        source = entities.get(_normalised(_self_name(memory, relation.source.strip())))
        target = entities.get(_normalised(_self_name(memory, relation.target.strip())))
        if source is not None and target is not None and relation.relation.strip():
            relations.append(
                Relation(
                    project_id=memory.project_id,
                    source=source,
                    target=target,
                    relation=relation.relation.strip()[:64],
                    memory=memory,
                    confidence=fact.confidence,
                )
            )
    Relation.objects.bulk_create(relations)
    return len(entities), len(relations)
