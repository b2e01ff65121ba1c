"""Encryption at rest of camera credentials (Fernet: AES-128-CBC + HMAC-SHA256).

The Fernet key is derived from the `secret_key` setting with HKDF, so any long random string
works as a setting. Losing the key loses the stored credentials (cameras must be re-entered),
never the footage.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guetteur.domain.cameras import Credentials
from guetteur.domain.errors import GuetteurError


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise GuetteurError("No secret key configured: set GUETTEUR_SECRET_KEY.")
        self._secret = secret_key.encode()
        self._fernet = Fernet(base64.urlsafe_b64encode(self.derive(b"fernet")))

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose (HKDF-SHA-256 of the secret key): the credentials'
        encryption key and the audit chain's HMAC key are independent."""
        salt = b"guetteur-credentials" if purpose == b"fernet" else b"guetteur"
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                    info=purpose).derive(self._secret)

    def seal(self, creds: Credentials | None) -> bytes | None:
        if creds is None:
            return None
        payload = json.dumps({"u": creds.username, "p": creds.password}).encode()
        return self._fernet.encrypt(payload)

    def open(self, token: bytes | None) -> Credentials | None:
        if token is None:
            return None
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise GuetteurError(
                "Camera credentials cannot be decrypted: the secret key changed. Re-enter the "
                "camera's credentials with `guetteur camera update`.") from None
        return Credentials(data["u"], data["p"])

    def seal_text(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def open_text(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise GuetteurError("A stored secret cannot be decrypted: the secret key changed. "
                                "Reset the account's second factor.") from None
