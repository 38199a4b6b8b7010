"""A DPoP client for the tests (RFC 9449 proofs, RFC 7638 thumbprints), written
with python3-cryptography so the server is checked against an independent
implementation."""
import base64
import hashlib
import json
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class DpopKey:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        nums = self.key.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(nums.x.to_bytes(32, "big")),
                    "y": b64u(nums.y.to_bytes(32, "big"))}

    def thumbprint(self) -> str:
        canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": self.jwk["x"], "y": self.jwk["y"]},
                               separators=(",", ":"), sort_keys=True)
        return b64u(hashlib.sha256(canonical.encode()).digest())

    def sign_jws(self, header: dict, payload: dict) -> str:
        signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(payload).encode())
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def proof(self, method: str, url: str, token: str = None, iat: int = None, jti: str = None, header=None,
              extra=None) -> str:
        h = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        h.update(header or {})
        p = {"jti": jti or str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time()) if iat is None else iat}
        if token is not None:
            p["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        p.update(extra or {})
        return self.sign_jws(h, p)


def decode_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
