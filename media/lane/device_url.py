"""A camera's or sound card's URL as it may be shown: in a lane fault, which the centre
sends to every console user, in a log line, in an error message.

Cameras take their password in the URL (``rtsp://admin:pass@192.168.1.64/...``), some
in a query parameter (``videostream.cgi?user=admin&pwd=...``), and XMEye-style DVRs in
the path (``rtsp://host:554/user=admin&password=...&channel=1``). Each is masked as
``***``; the rest stays, so the installer can still tell which camera and which path
failed. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"
# Parameter names that hold a secret: password, passwd, pwd, loginpas, token, api_key,
# secret, auth, signature, credential. A harmless name masked costs a log line's detail;
# a secret shown costs the camera.
_SECRET_NAME: Final = re.compile(r"pas|pwd|token|key|secret|auth|sig|credential", re.IGNORECASE)
# ``name=value`` in a path segment or the query, up to the next separator.
_PAIR: Final = re.compile(r"(?P<lead>^|[/?&;])(?P<name>[^/?&;#=]+)=(?P<value>[^/?&;#]*)")


def shown(url: str) -> str:
    """``url`` with the password in its userinfo and the values of secret-named
    parameters replaced by ``***``; text that is not a URL (a file, ``hw:1,0``) as it is.

    The authority ends at the first ``/``, ``?`` or ``#`` and the userinfo at its last
    ``@``, as FFmpeg's ``av_url_split`` reads a URL, so a password holding ``@`` is
    masked whole.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, host = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    if at and password:
        authority = f"{user}:{MASK}@{host}"
    tail, hash_, fragment = tail.partition("#")
    return f"{scheme}://{authority}{_PAIR.sub(_masked, tail)}{hash_}{fragment}"


def holds_secret(url: str) -> bool:
    """Whether ``url`` carries a password or a secret-named parameter, which has no
    place on a command line (every user of the machine sees it in ``ps``)."""
    return shown(url) != url


def _masked(pair: re.Match[str]) -> str:
    if not pair["value"] or not _SECRET_NAME.search(pair["name"]):
        return pair[0]
    return f"{pair['lead']}{pair['name']}={MASK}"


def scrubbed(text: str, url: str) -> str:
    """``text`` with ``url`` in it shown as ``shown`` shows it: FFmpeg's errors name
    the input they failed on."""
    return text.replace(url, shown(url)) if url else text
