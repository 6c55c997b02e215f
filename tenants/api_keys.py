"""API key format and hashing: `eng_<key id>_<secret>`, stored as an HMAC of the whole key.

The key id is public (it is the lookup handle and the prefix shown in the console); the
secret carries ~190 bits of entropy, so a fast keyed hash is enough: a slow password hash
would only add latency to every request.
"""

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

from django.conf import settings

KEY_ID_LENGTH = 12
SECRET_LENGTH = 32
_ALPHABET = string.ascii_letters + string.digits
KEY_PATTERN = re.compile(r"^eng_([A-Za-z0-9]{12})_([A-Za-z0-9]{32})$")


@dataclass(frozen=True)
class NewKeyMaterial:
    key_id: str
    plaintext: str
    secret_hash: str


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_api_key(plaintext: str) -> str:
    pepper = settings.ENGRAM_API_KEY_PEPPER.encode()
    return hmac.new(pepper, plaintext.encode(), hashlib.sha256).hexdigest()


def new_key_material() -> NewKeyMaterial:
    key_id = _random(KEY_ID_LENGTH)
    plaintext = f"eng_{key_id}_{_random(SECRET_LENGTH)}"
    return NewKeyMaterial(key_id=key_id, plaintext=plaintext, secret_hash=hash_api_key(plaintext))


def parse_key_id(plaintext: str) -> str | None:
    match = KEY_PATTERN.match(plaintext)
    return match.group(1) if match else None


def secret_matches(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(plaintext), stored_hash)
