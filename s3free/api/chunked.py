"""Incremental decoder for aws-chunked request bodies, sans-IO.

An aws-chunked body (Content-Encoding: aws-chunked, x-amz-content-sha256:
STREAMING-*) frames the payload as::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<bytes>\\r\\n   ... repeated ...
    0[;chunk-signature=<sig>]\\r\\n
    [<name>:<value>\\r\\n ...  [x-amz-trailer-signature:<sig>\\r\\n]]
    \\r\\n

In the signed modes each chunk's signature chains from the previous one
(starting at the request's seed signature) over "AWS4-HMAC-SHA256-PAYLOAD",
the date, the scope, the previous signature, sha256("") and sha256(chunk); the
trailer block is signed over "AWS4-HMAC-SHA256-TRAILER" ... sha256 of the
"name:value\\n" lines, chained from the final (empty) chunk.

Memory stays bounded whatever the client sends: at most one header or trailer
line (`max_line`) is buffered, unsigned payload passes straight through in the
pieces it arrived in, and a signed chunk — which must not be released before
its signature is checked — is held until it is complete, so signed chunks are
limited to `max_chunk` bytes.

Tolerated variations seen from real clients: a bare LF ending a header or
trailer line, one blank line between the final chunk and the trailers (AWS's
own example), and a stream that ends after the final chunk or after the last
trailer line without the closing blank line.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol

from .errors import S3Error
from .sigv4 import EMPTY_SHA256, STREAMING_MODES, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER

MAX_SIGNED_CHUNK = 16 * 1024 * 1024
MAX_LINE = 4096
MAX_TRAILERS = 16
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIZE, _DATA, _DATA_END, _TRAILER_START, _TRAILER, _DONE = range(6)


class ChunkSigning(Protocol):
    """What chunk signatures are checked with: `sigv4.AuthResult` provides it."""

    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str


def _malformed(why: str) -> S3Error:
    return S3Error("InvalidRequest", f"Malformed aws-chunked body: {why}")


class AwsChunkedDecoder:
    """Feed it the body as it arrives; it returns payload pieces, then `finish()` returns the trailers.

    `mode` is the request's x-amz-content-sha256 (one of sigv4.STREAMING_MODES);
    the signed modes need `signing`. `trailer_names` are the names announced in
    x-amz-trailer (all must arrive, no others may); `decoded_length` is
    x-amz-decoded-content-length when the client sent it. `max_chunk` bounds
    signed chunks only: unsigned ones stream through, so their size costs no
    memory. After an S3Error the decoder must not be used again.
    """

    def __init__(
        self,
        mode: str,
        signing: ChunkSigning | None = None,
        trailer_names: Iterable[str] = (),
        *,
        max_chunk: int = MAX_SIGNED_CHUNK,
        decoded_length: int | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        if mode not in STREAMING_MODES:
            raise ValueError(f"not an aws-chunked mode: {mode!r}")
        self._signed = mode in (STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER)
        if self._signed and signing is None:
            raise ValueError(f"{mode} needs the request's signing context")
        self._allow_trailers = mode != STREAMING_PAYLOAD
        self._signing = signing
        self._previous = signing.seed_signature if signing is not None else ""
        self._expected_trailers = {n.strip().lower() for n in trailer_names if n.strip()}
        self._max_chunk = max_chunk
        self._decoded_length = decoded_length
        self._max_line = max_line

        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self._crlf = 0  # bytes of the CRLF after chunk data seen so far
        self._chunk_signature = b""
        self._hash = hashlib.sha256()
        self._held: list[bytes] = []
        self._skipped_blank = False
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None
        self.decoded_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Consume the next bytes of the body; return the payload pieces now known to be good."""
        if not isinstance(data, bytes):
            data = bytes(data)  # pieces may be held until verified: never keep a buffer the caller reuses
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = data if take == end and pos == 0 else data[pos:pos + take]
                pos += take
                self._remaining -= take
                if self._signed:
                    self._hash.update(piece)
                    self._held.append(piece)
                else:
                    out.append(piece)
                if self._remaining == 0:
                    if self._signed:
                        self._verify_chunk(self._hash.hexdigest())
                        out.extend(self._held)
                        self._held = []
                    self._state = _DATA_END
            elif state == _DATA_END:
                if data[pos] != b"\r\n"[self._crlf]:
                    raise _malformed("chunk data is not followed by CRLF")
                pos += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._crlf = 0
                    self._state = _SIZE
            elif state == _DONE:
                if data[pos:].strip(b"\r\n"):
                    raise _malformed("data after the final chunk")
                pos = end
            else:
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline
                if len(self._line) + stop - pos > self._max_line:
                    raise _malformed("chunk header or trailer line too long")
                self._line += data[pos:stop]
                if newline < 0:
                    pos = end
                else:
                    pos = newline + 1
                    line = bytes(self._line)
                    self._line.clear()
                    self._on_line(line[:-1] if line.endswith(b"\r") else line)
        return out

    def finish(self) -> dict[str, str]:
        """End of body: check completeness (and the trailer signature); return the trailers."""
        if self._state in (_TRAILER_START, _TRAILER):
            if self._line:  # the last trailer line came without its CRLF
                line = bytes(self._line)
                self._line.clear()
                self._on_line(line[:-1] if line.endswith(b"\r") else line)
            if self._state != _DONE:
                self._close_trailers()
        if self._state != _DONE:
            raise S3Error("IncompleteBody", "The aws-chunked body ended before its final chunk.")
        if self._decoded_length is not None and self.decoded_bytes != self._decoded_length:
            raise S3Error("IncompleteBody", f"The decoded body has {self.decoded_bytes} bytes but "
                          f"x-amz-decoded-content-length is {self._decoded_length}.")
        return dict(self._trailers)

    def _on_line(self, line: bytes) -> None:
        if self._state == _SIZE:
            self._on_size_line(line)
        elif self._state == _TRAILER_START and not line:
            if not self._allow_trailers or self._skipped_blank:
                self._close_trailers()
            self._skipped_blank = True
        elif not line:
            self._close_trailers()
        else:
            self._on_trailer_line(line)

    def _on_size_line(self, line: bytes) -> None:
        size_hex, _, extension = line.partition(b";")
        size_hex = size_hex.strip()
        if not size_hex or len(size_hex) > 16 or not _HEX.issuperset(size_hex):
            raise _malformed("bad chunk size")
        size = int(size_hex, 16)
        if self._signed:
            name, _, signature = extension.partition(b"=")
            signature = signature.strip()
            if name.strip() != b"chunk-signature" or len(signature) != 64 or not _HEX.issuperset(signature):
                raise S3Error("SignatureDoesNotMatch", "A signed aws-chunked body has a chunk without a signature.")
            if size > self._max_chunk:
                raise _malformed(f"signed chunk of {size} bytes exceeds the limit of {self._max_chunk}")
            self._chunk_signature = signature.lower()
        self.decoded_bytes += size
        if self._decoded_length is not None and self.decoded_bytes > self._decoded_length:
            raise S3Error("IncompleteBody", "The decoded body is longer than x-amz-decoded-content-length.")
        if size == 0:
            if self._signed:
                self._verify_chunk(EMPTY_SHA256)
            self._state = _TRAILER_START
        else:
            self._remaining = size
            self._hash = hashlib.sha256()
            self._state = _DATA

    def _on_trailer_line(self, line: bytes) -> None:
        if not self._allow_trailers:
            raise S3Error("MalformedTrailerError", "Trailing headers are not allowed with this x-amz-content-sha256.")
        self._state = _TRAILER
        name_b, colon, value_b = line.partition(b":")
        name = name_b.strip().lower()
        if not colon or not name or not name.isascii() or b" " in name:
            raise S3Error("MalformedTrailerError")
        key, value = name.decode("ascii"), value_b.strip().decode("latin-1")
        if key == TRAILER_SIGNATURE:
            if self._trailer_signature is not None:
                raise S3Error("MalformedTrailerError", "More than one trailer signature.")
            self._trailer_signature = value
            return
        if key in self._trailers or len(self._trailers) >= MAX_TRAILERS:
            raise S3Error("MalformedTrailerError", f"Repeated or too many trailers ({key}).")
        self._trailers[key] = value

    def _close_trailers(self) -> None:
        self._state = _DONE
        if self._expected_trailers and set(self._trailers) != self._expected_trailers:
            missing = sorted(self._expected_trailers - set(self._trailers))
            extra = sorted(set(self._trailers) - self._expected_trailers)
            raise S3Error("MalformedTrailerError", f"Trailers do not match x-amz-trailer "
                          f"(missing: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'}).")
        if self._signed and (self._trailers or self._trailer_signature is not None):
            self._verify_trailers()

    def _verify_chunk(self, chunk_sha256: str) -> None:
        expected = self._sign("AWS4-HMAC-SHA256-PAYLOAD", self._previous, EMPTY_SHA256, chunk_sha256)
        if not hmac.compare_digest(expected.encode("ascii"), self._chunk_signature):
            raise S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does not match the one provided.")
        self._previous = expected

    def _verify_trailers(self) -> None:
        provided = (self._trailer_signature or "").lower()
        canonical = "".join(f"{name}:{value}\n" for name, value in self._trailers.items())
        digest = hashlib.sha256(canonical.encode("latin-1")).hexdigest()
        expected = self._sign("AWS4-HMAC-SHA256-TRAILER", self._previous, digest)
        if not hmac.compare_digest(expected.encode("ascii"), provided.encode("latin-1")):
            raise S3Error("SignatureDoesNotMatch",
                          "The trailer signature we calculated does not match the one provided.")

    def _sign(self, algorithm: str, *lines: str) -> str:
        s = self._signing
        assert s is not None
        string_to_sign = "\n".join((algorithm, s.amz_date, s.scope, *lines))
        return hmac.digest(s.signing_key, string_to_sign.encode("ascii"), "sha256").hex()
