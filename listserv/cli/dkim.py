# SPDX-License-Identifier: Apache-2.0
"""``listserv dkim keygen``: make a DKIM signing key and print the DNS record to publish.

The key is a 2048-bit RSA key (PEM, made by cryptography, which signs with
it too) or, with --type ed25519, an Ed25519 key (RFC 8463: the base64 of its
32-byte seed, by PyNaCl). The file is created with mode 0600 and never
overwritten.
"""

import argparse
import base64
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.encoding import Base64Encoder
from nacl.signing import SigningKey
from pydantic import TypeAdapter, ValidationError

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands
from listserv.errors import ListservError
from listserv.settings import ED25519_SELECTOR, RSA_SELECTOR, Selector, Settings, idna

TXT_STRING = 255  # longest character-string in a TXT record (RFC 1035, 3.3)


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("dkim", help=COMMANDS["dkim"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = sub.add_parser("keygen", help="make a signing key for a domain and print the "
                            "DNS TXT record to publish")
    keygen.add_argument("domain", help="the lists' mail domain (the d= of the signatures)")
    keygen.add_argument("--type", choices=("rsa", "ed25519"), default="rsa",
                        help="the key type (default: rsa); ed25519 signs in addition to rsa")
    keygen.add_argument("--selector", help=f"the selector (default: {RSA_SELECTOR}, "
                        f"or {ED25519_SELECTOR} with --type ed25519)")
    keygen.add_argument("--dir", type=Path, default=Path("."),
                        help="where to write DOMAIN.SELECTOR.pem (ed25519: DOMAIN.SELECTOR.key; "
                        "default: here)")
    keygen.set_defaults(run=run_keygen)


async def run_keygen(args: argparse.Namespace, settings: Settings) -> int:
    ed25519 = args.type == "ed25519"
    domain = _domain(args.domain)
    selector = args.selector or (ED25519_SELECTOR if ed25519 else RSA_SELECTOR)
    try:
        TypeAdapter(Selector).validate_python(selector)  # the settings' rule
    except ValidationError:
        raise ListservError(f"not a DKIM selector: {selector!r} (letters, digits, '-' and '.')") \
            from None
    path = args.dir / f"{domain}.{selector}.{'key' if ed25519 else 'pem'}"
    private, record = _new_key(ed25519)
    _write_new(path, private)
    print(f"{selector}._domainkey.{domain}. IN TXT {_quoted(record)}")
    setting = "LISTSERV_DKIM_ED25519" if ed25519 else "LISTSERV_DKIM"
    print(f"; key written to {path}: set {setting}_SELECTOR={selector} and "
          f"{setting}_PRIVATE_KEY={path.resolve()} (or a dkim_keys entry for {domain})")
    return 0


def _domain(text: str) -> str:
    try:
        domain = idna(text).rstrip(".")
    except UnicodeError:
        domain = ""
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        raise ListservError(f"not a mail domain: {text!r}")
    return domain


def _new_key(ed25519: bool) -> tuple[bytes, str]:
    """A new private key as its file holds it, and the TXT record of its public key."""
    if ed25519:
        seed = SigningKey.generate()
        public = seed.verify_key.encode(Base64Encoder).decode("ascii")
        return seed.encode(Base64Encoder), f"v=DKIM1; k=ed25519; p={public}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    info = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; h=sha256; p={base64.b64encode(info).decode('ascii')}"


def _write_new(path: Path, contents: bytes) -> None:
    """Create path with mode 0600, only if it does not exist yet, holding contents."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ListservError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(contents)


def _quoted(record: str) -> str:
    """The record as one or more quoted strings, none longer than a TXT string may be."""
    return " ".join(f'"{record[i:i + TXT_STRING]}"' for i in range(0, len(record), TXT_STRING))
