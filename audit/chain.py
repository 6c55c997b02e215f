"""The hash of an audit row: SHA-256 over the previous hash and the row's canonical JSON."""

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_content(
    *,
    chain_id: str,
    seq: int,
    org_id: str,
    project_id: str | None,
    occurred_at: str,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    extra: dict[str, Any],
) -> str:
    content = {
        "chain_id": chain_id,
        "seq": seq,
        "org_id": org_id,
        "project_id": project_id,
        "occurred_at": occurred_at,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "request_id": request_id,
        "extra": extra,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()
