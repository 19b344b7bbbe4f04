"""Canonical article URLs: the same article reached through different links gets one URL.

``canonical_url`` runs ``url_normalize`` (scheme, host case, percent-encoding, default
ports), then removes what does not identify the article: the fragment, tracking query
parameters, AMP variants (``amp.`` host, ``/amp/`` segment, ``.amp`` suffix, ``?amp``) and
a trailing slash; the remaining query parameters are sorted. ``http`` and ``https`` are
the same article, so the scheme is always ``https``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from url_normalize import url_normalize

# Query parameters that only say how a reader arrived, never which article it is.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ocid",
        "cmpid",
        "ref",
        "ref_src",
        "ref_url",
        "src",
        "ito",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "spm",
        "share",
        "amp",
        "outputtype",
        "output",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "at_")
AMP_VALUES = frozenset({"amp", "1", "true", ""})
_WEB_SCHEMES = frozenset({"http", "https"})
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}(?::\d+)?$|^localhost(?::\d+)?$")


def _is_tracking(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in {"outputtype", "output"}:
        return value.lower() == "amp"  # ?outputType=amp marks the AMP page; other values may matter
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _strip_amp_path(path: str) -> str:
    segments = [segment for segment in path.split("/") if segment.lower() != "amp"]
    path = "/".join(segments) or "/"
    if path.lower().endswith(".amp"):
        path = path[: -len(".amp")]
    elif path.lower().endswith(".amp.html"):
        path = path[: -len(".amp.html")] + ".html"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def canonical_url(url: str) -> str | None:
    """The canonical form of an http(s) article URL, or None when ``url`` is not one."""
    if not url or not url.strip():
        return None
    try:
        normalized = url_normalize(url.strip())
        parts = urlsplit(normalized or "")
    except ValueError:
        return None
    host = parts.netloc.lower()
    if parts.scheme not in _WEB_SCHEMES or not _HOST.match(host):
        return None
    if host.startswith("amp."):
        host = host[len("amp.") :]
    query = sorted(
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(name, value)
    )
    return urlunsplit(("https", host, _strip_amp_path(parts.path), urlencode(query, safe=":/@!$'()*+,;~"), ""))
