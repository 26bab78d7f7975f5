"""Fetch a call's recording from the PBX for the archive in Odoo's filestore.

Plain Python (``requests``, no Odoo import); ``models/vpbx_recording.py`` calls it from a
scheduled action, never from a webhook request. What it refuses, and why:

- a link that is not http(s) (``recording_url.playable_url``), and any host that resolves to a
  loopback, private, link-local, multicast or reserved address (the PBX's link is text from
  outside: it must not make Odoo read its own network), unless the account lists that host
  (an on-premises PBX on the office network); redirects are followed by hand, each checked;
- more than ``max_bytes`` (by Content-Length, else while reading), and more than ``timeout``
  seconds in all;
- a body that is not audio: its first bytes must be a known audio format (WAV, MP3, Ogg, FLAC,
  MP4/M4A, WebM), whatever Content-Type says (a PBX's login page is HTML with status 200).

Errors carry a kind (``FetchError.kind``) the model stores, and whether a later attempt may
succeed (``retry``): a time-out or a 5xx may pass, a 404 (the PBX's link expired) will not.
"""

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import requests

from .recording_url import playable_url

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
#: (magic bytes at offset, offset, mimetype)
AUDIO_MAGIC = (
    (b"RIFF", 0, "audio/wav"),  # checked with WAVE at 8 below
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"ftyp", 4, "audio/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "audio/webm"),
)
#: HTTP statuses that mean the recording is gone: no retry
GONE = frozenset({401, 403, 404, 410})


class FetchError(Exception):
    """kind: one of the archive's error kinds; detail: technical text (status, sizes)."""

    def __init__(self, kind, detail="", retry=False):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retry = retry


def audio_type(head):
    """The mimetype of an audio file starting with `head`, or None."""
    for magic, offset, mimetype in AUDIO_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if magic == b"RIFF" and head[8:12] != b"WAVE":
                continue
            return mimetype
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MP3 frame without ID3 tag
    return None


def _public(address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_host(url, allowed_hosts=(), resolve=socket.getaddrinfo):
    """Refuse (FetchError 'refused') a URL whose host is not public, unless allowed."""
    if not playable_url(url):
        raise FetchError("not_http", url[:200] if isinstance(url, str) else "")
    host = urlsplit(url).hostname
    if host in {h.strip().lower() for h in allowed_hosts if h.strip()}:
        return
    try:
        infos = resolve(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise FetchError("unreachable", f"{host}: {error}", retry=True) from None
    addresses = {info[4][0] for info in infos}
    private = sorted(a for a in addresses if not _public(a))
    if not addresses or private:
        raise FetchError("refused", f"{host} -> {', '.join(private) or 'nothing'}")


def fetch(url, max_bytes, timeout, allowed_hosts=(), session=None, resolve=socket.getaddrinfo):
    """``(content, mimetype)`` of the recording at `url`; FetchError otherwise."""
    deadline = time.monotonic() + timeout
    session = session or requests.Session()
    for _hop in range(MAX_REDIRECTS + 1):
        check_host(url, allowed_hosts, resolve)
        left = deadline - time.monotonic()
        try:
            # one figure (connect, and each read): the whole download is bounded by `deadline`
            response = session.get(url, stream=True, allow_redirects=False, timeout=max(left, 0.1))
        except requests.Timeout:
            raise FetchError("timeout", f"{timeout:g} s", retry=True) from None
        except requests.RequestException as error:
            raise FetchError("unreachable", type(error).__name__, retry=True) from None
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code in GONE:
                raise FetchError("gone", f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise FetchError(
                    "http_error", f"HTTP {response.status_code}", retry=response.status_code >= 500
                )
            return _read(response, max_bytes, deadline, timeout)
    raise FetchError("http_error", f"more than {MAX_REDIRECTS} redirects")


def _read(response, max_bytes, deadline, timeout):
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError("too_large", f"{int(length):,} > {max_bytes:,} bytes")
    parts, size = [], 0
    try:
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError("too_large", f"> {max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise FetchError("timeout", f"{timeout:g} s", retry=True)
            parts.append(chunk)
    except requests.RequestException as error:
        raise FetchError("timeout", f"{timeout:g} s ({type(error).__name__})", retry=True) from None
    content = b"".join(parts)
    mimetype = audio_type(content[:16])
    if not mimetype:
        declared = response.headers.get("Content-Type", "?").split(";")[0]
        raise FetchError("not_audio", f"{declared}, {len(content):,} bytes")
    return content, mimetype
