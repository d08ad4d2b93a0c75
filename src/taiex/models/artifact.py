"""The one artifact format of every kind of model: bytes to store, checked when read back.

Layout (integers big-endian)::

    offset  size  field
    0       12    magic b"TAIEX-MODEL\\n"
    12      2     format version (FORMAT_VERSION)
    14      4     header length n
    18      8     payload length m
    26      32    sha256 of the header and the payload together
    58      n     header: a UTF-8 JSON object {"kind", "libraries", "metadata"}
    58 + n  m     payload: the kind's own serialisation (torch state, skops, ...)

The header says what the payload is (``kind``), which library versions wrote it (``libraries``) and
the model's own description (``metadata``: config, training range, scores). The checksum covers the
header too, so a flipped byte anywhere after the magic is caught: in the lengths as a truncated or
overlong artifact, in the version as an unsupported format, elsewhere as a checksum mismatch.

How a payload is read safely is the kind's business (``torch.load(weights_only=True)``, skops with
audited types); this module never deserialises code.

Format 1 was two formats, one per kind (``TAIEX-LSTM\\n`` and ``TAIEXCLF``), written only by
development versions before 0.1.0, which no release shipped: they are refused in one line naming
them (issue 20), and a registry whose champion is one falls back as for any artifact that does not
load. Only format 2 is read and written.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from typing import Any, TypedDict

from taiex import __version__
from taiex.errors import ArtifactError

MAGIC = b"TAIEX-MODEL\n"
FORMAT_VERSION = 2
_PREFIX = struct.Struct(
    f">{len(MAGIC)}sHIQ32s"
)  # magic, version, header and payload lengths, sha256

# Format 1's markers, recognised only to say what such an artifact is.
_FORMAT1_MAGICS = {b"TAIEX-LSTM\n": "lstm", b"TAIEXCLF": "classifier"}


class Header(TypedDict, total=False):
    """What a kind gives :func:`pack` besides its payload."""

    libraries: Mapping[str, str]  # name -> version of what the payload depends on
    metadata: Mapping[str, object]  # the model's description: JSON values


class Unpacked(TypedDict):
    """An artifact's header, as :func:`unpack` reads it."""

    kind: str
    format_version: int
    libraries: dict[str, str]
    metadata: dict[str, object]


def pack(kind: str, header: Header, payload: bytes) -> bytes:
    """The artifact of a ``kind`` model: ``header`` holds ``metadata`` (the model's description)
    and ``libraries`` (name -> version of what the payload depends on; taiex is added)."""
    document = {
        "kind": kind,
        "libraries": {"taiex": __version__, **header.get("libraries", {})},
        "metadata": header.get("metadata", {}),
    }
    try:
        text = json.dumps(document, sort_keys=True, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:  # a programming error: the model's metadata
        raise ArtifactError(f"{kind} artifact header is not plain JSON: {exc}") from exc
    digest = hashlib.sha256(text + payload).digest()
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text), len(payload), digest)
    return prefix + text + payload


def unpack(data: bytes, expected_kind: str) -> tuple[Unpacked, bytes]:
    """Check an artifact and return its header and payload; :class:`ArtifactError` otherwise.

    The header has ``kind``, ``format_version``, ``libraries`` and ``metadata``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ArtifactError(f"a model artifact is bytes, got {type(data).__name__}")
    data = bytes(data)
    if data.startswith(MAGIC):
        header, payload = _unpack_v2(data)
    else:
        for magic, kind in _FORMAT1_MAGICS.items():
            if data.startswith(magic):
                raise ArtifactError(
                    f"{kind} artifact of format 1, written by a development version before "
                    f"taiex 0.1.0, which this taiex {__version__} does not read: train a new "
                    f"model (`taiex train {kind}`)"
                )
        raise ArtifactError(
            f"not a taiex model artifact: {len(data)} bytes starting {data[:16]!r}, "
            f"expected the marker {MAGIC!r}"
        )
    if header["kind"] != expected_kind:
        raise ArtifactError(
            f"the artifact holds a {header['kind']} model, not the {expected_kind} model expected"
        )
    return header, payload


def _unpack_v2(data: bytes) -> tuple[Unpacked, bytes]:
    if len(data) < _PREFIX.size:
        raise ArtifactError(
            f"model artifact is truncated: {len(data)} bytes, shorter than its "
            f"{_PREFIX.size}-byte prefix"
        )
    _, version, header_size, payload_size, digest = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        reads = f"this taiex {__version__} reads format {FORMAT_VERSION}"
        if version > FORMAT_VERSION:
            raise ArtifactError(
                f"model artifact format version {version} is newer than {reads}: upgrade taiex"
            )
        raise ArtifactError(f"model artifact format version {version} is unknown; {reads}")
    expected = _PREFIX.size + header_size + payload_size
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its prefix says"
        raise ArtifactError(f"model artifact is {what}: {len(data)} bytes, expected {expected}")
    text = data[_PREFIX.size : _PREFIX.size + header_size]
    payload = data[_PREFIX.size + header_size :]
    _check_digest(hashlib.sha256(text + payload).digest(), digest, "model artifact")
    document = _json_object(text, "model artifact header")
    try:
        header: Unpacked = {
            "kind": str(document["kind"]),
            "format_version": version,
            "libraries": dict(document["libraries"]),
            "metadata": dict(document["metadata"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"model artifact header lacks {exc} or holds a bad value") from exc
    return header, payload


def _check_digest(actual: bytes, expected: bytes, what: str) -> None:
    if actual != expected:
        raise ArtifactError(
            f"{what} fails its checksum (sha256 {actual.hex()[:16]}..., recorded "
            f"{expected.hex()[:16]}...): it is corrupt"
        )


def _json_object(text: bytes, what: str) -> dict[str, Any]:  # JSON: the caller checks it
    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"{what} is a JSON {type(document).__name__}, not an object")
    return document
