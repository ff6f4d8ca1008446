"""Canary secrets and the scan for them (issue 7, item 4): used by test_canary.py.

A canary is a unique random string that holds every character that makes an encoding differ from
the raw text (space, ``/ % + : & = " \\``, 2- and 3-byte UTF-8), between two random fragments made of
letters that never occur in hex digests (``g``-``z``). :func:`needles` gives every form a leaked
canary could take in output or files -- raw, latin-1, base64 (alone, as ``user:password``, at each
of the three alignments inside a longer base64 text), URL-encoded (``quote``, ``quote_plus``),
JSON-escaped (ASCII and not), ``repr``, hex -- plus the random fragments alone, which survive
truncation and any escaping that keeps letters as they are. :class:`Scanner` looks for all of them
in bytes and remembers where each hit was.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

LETTERS = "ghjkmnpqrstvwxyz"  # no hex digit: a fragment can never be part of an hmac digest
SPECIALS = ' /%+:&="\\é€ü'  # every encoding below writes each of these differently
LATIN1_SPECIALS = ' /%+:&="\\éü'  # HTTP header values (basic auth, bearer, headers) must be latin-1


def make_canary(rng: random.Random, label: str, *, latin1: bool = False) -> str:
    """``cnry-<label>-<8 letters><specials><8 letters>``; ``latin1`` drops the 3-byte character."""
    head = "".join(rng.choice(LETTERS) for _ in range(8))
    tail = "".join(rng.choice(LETTERS) for _ in range(8))
    return f"cnry-{label}-{head}{LATIN1_SPECIALS if latin1 else SPECIALS}{tail}"


def fragments(canary: str) -> list[str]:
    """The two random 8-letter fragments of a canary (each unique enough to be a needle alone)."""
    body = canary.split("-", 2)[2]
    return [body[:8], body[-8:]]


def _b64_forms(data: bytes) -> set[bytes]:
    """Base64 of ``data`` as it appears alone, and inside a longer base64 text at each alignment
    (the characters that depend on the neighbours are cut off)."""
    forms: set[bytes] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(data))
        forms.add(encode(data).rstrip(b"="))
        for pad in (0, 1, 2):
            text = encode(b"\0" * pad + data)
            lead = (pad * 8 + 5) // 6  # characters that depend on the bytes before the data
            forms.add(text[lead:].rstrip(b"=")[:-3])  # and the last ones may mix with what follows
    return forms


def needles(canary: str, *, user: str | None = None) -> dict[bytes, str]:
    """Every byte string whose presence means the canary leaked -> the name of the form."""
    found: dict[bytes, str] = {}

    def add(text: bytes | str, form: str) -> None:
        data = text.encode() if isinstance(text, str) else text
        found.setdefault(data, form)

    raw = canary.encode()
    add(raw, "raw")
    try:
        latin = canary.encode("latin-1")
    except UnicodeEncodeError:
        latin = None
    if latin is not None:
        add(latin, "raw latin-1")
    for data, label in ((raw, "utf-8"), (latin, "latin-1")):
        if data is None:
            continue
        if user is not None:  # before the value alone: a match of the pair is the more telling one
            pair = user.encode("latin-1" if label == "latin-1" else "utf-8") + b":" + data
            for form in _b64_forms(pair):
                add(form, f"base64 of user:password ({label})")
        for form in _b64_forms(data):
            add(form, f"base64 ({label})")
        add(data.hex(), f"hex ({label})")
        add(data.hex().upper(), f"HEX ({label})")
    add(quote(canary, safe=""), "url-encoded (quote, safe='')")
    add(quote(canary), "url-encoded (quote)")
    add(quote_plus(canary), "url-encoded (quote_plus)")
    add(json.dumps(canary)[1:-1], "json-escaped (ascii)")
    add(json.dumps(canary, ensure_ascii=False)[1:-1], "json-escaped (utf-8)")
    add(repr(canary)[1:-1], "repr")
    add(canary.encode("unicode_escape"), "unicode_escape")
    for piece in fragments(canary):
        add(piece, "random fragment")
    return found


@dataclass(frozen=True)
class Hit:
    canary: str      # the label of the canary (what it was used for)
    form: str        # which encoding was found
    where: str       # "stdout of <command>", a file path, ...


@dataclass
class Scanner:
    """Searches bytes for every form of every canary; remembers hits and what was scanned."""

    canaries: dict[str, str]                 # label -> canary value
    users: dict[str, str] = field(default_factory=dict)  # label -> basic auth user name
    hits: list[Hit] = field(default_factory=list)
    outputs_scanned: int = 0
    files_scanned: set[str] = field(default_factory=set)
    file_reads: int = 0
    bytes_scanned: int = 0
    _needles: list[tuple[bytes, str, str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for label, value in self.canaries.items():
            for needle, form in needles(value, user=self.users.get(label)).items():
                self._needles.append((needle, label, form))

    def find(self, data: bytes) -> list[tuple[str, str]]:
        """(canary label, form) for each canary found in ``data`` (first form found per canary)."""
        self.bytes_scanned += len(data)
        found: dict[str, str] = {}
        for needle, label, form in self._needles:
            if label not in found and needle in data:
                found[label] = form
        return sorted(found.items())

    def scan(self, data: bytes, where: str) -> list[Hit]:
        new = [Hit(label, form, where) for label, form in self.find(data)]
        self.hits.extend(new)
        return new

    def scan_output(self, text: str, where: str) -> list[Hit]:
        self.outputs_scanned += 1
        return self.scan(text.encode("utf-8", "surrogateescape"), where)

    def scan_tree(self, root: Path, skip: set[Path], where: str = "") -> list[Hit]:
        """Every regular file under ``root`` but ``skip`` (the test's own inputs); files may vanish."""
        new: list[Hit] = []
        if not root.exists():
            return new
        for path in sorted(root.rglob("*")):
            if path in skip or not path.is_file() or path.is_symlink():
                continue
            try:
                data = path.read_bytes()
            except (FileNotFoundError, PermissionError):
                continue
            self.files_scanned.add(str(path))
            self.file_reads += 1
            new += self.scan(data, f"{path}{where}")
        return new
