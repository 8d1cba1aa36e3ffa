"""Compressed answers of the scanner API: gzip, or brotli, when the client accepts it.

Only the scanner API's JSON (URL namespace "scanner") is compressed. BREACH recovers a secret
from the size of compressed bodies that reflect an attacker's input beside it: the scanner's
JSON carries market data and no secret, while the admin's pages carry CSRF tokens and the ops
API answers with freshly issued API tokens, so those are never compressed (README,
"Compression and BREACH"). Static files are WhiteNoise's, compressed once by collectstatic.
"""

import brotli
from django.conf import settings
from django.utils.cache import patch_vary_headers
from django.utils.text import compress_string

COMPRESSED_NAMESPACE = "scanner"
# Brotli's default quality (11) takes about 20 ms for a 20 kB screen; 5 takes 0.2 ms and is
# still smaller than gzip's default level.
BROTLI_QUALITY = 5
ENCODERS = {
    "br": lambda body: brotli.compress(body, quality=BROTLI_QUALITY, mode=brotli.MODE_TEXT),
    "gzip": compress_string,  # Django's: level 6, no timestamp
}
PREFERENCE = ("br", "gzip")  # the smaller first, when the client likes both as much


def accepted_weights(accept_encoding):
    """{coding: q} from an Accept-Encoding value, names lowercased; a q that is no number counts as 0."""
    weights = {}
    for item in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for name, _, value in (parameter.partition("=") for parameter in parameters):
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        weights[coding.lower()] = q
    return weights


def negotiate(accept_encoding):
    """The coding to answer with ("br", "gzip"), or None for the body as it is (RFC 9110, 12.5.3).

    No header: the body as it is (what clients that say nothing are known to read). A coding
    not named takes the weight of `*`; q=0 refuses it. The body as it is wins only when the
    client names `identity` (or `*`) with a higher weight than every coding it accepts.
    """
    if accept_encoding is None:
        return None
    weights = accepted_weights(accept_encoding)
    anything = weights.get("*", 0.0)
    best = max(PREFERENCE, key=lambda coding: weights.get(coding, anything))  # max keeps the first of equals
    best_q = weights.get(best, anything)
    if best_q == 0 or weights.get("identity", anything) > best_q:
        return None
    return best


def compressible(request, response):
    """A scanner API JSON body, at least PORTAL_COMPRESS_MIN_BYTES long, not encoded yet, not a range."""
    match = request.resolver_match
    if match is None or COMPRESSED_NAMESPACE not in match.namespaces:
        return False
    if response.streaming or response.status_code == 206 or response.has_header("Content-Encoding"):
        return False
    media_type = response.get("Content-Type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return False
    return len(response.content) >= settings.PORTAL_COMPRESS_MIN_BYTES


class CompressionMiddleware:
    """Compresses the scanner API's JSON in the coding the client prefers (see `negotiate`).

    As Django's GZipMiddleware does: `Vary: Accept-Encoding` on every answer that could have been
    compressed, the body kept as it is when compressing makes it no smaller, a strong ETag weakened
    (the bytes differ, the representation does not). No random padding (Django's defence against
    BREACH): these bodies hold no secret.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not compressible(request, response):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        coding = negotiate(request.headers.get("Accept-Encoding"))
        if coding is None:
            return response
        compressed = ENCODERS[coding](response.content)
        if len(compressed) >= len(response.content):
            return response
        response.content = compressed
        response.headers["Content-Length"] = str(len(compressed))
        response.headers["Content-Encoding"] = coding
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag
        return response
