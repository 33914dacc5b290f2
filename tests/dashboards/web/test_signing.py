"""Signed frame URLs without a server: good for their frame, role and lifetime only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from dashboards.web.signing import FrameUrls

SECRET = "s" * 40
NOW = 1_800_000_000.0


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["exp"][0], query["sig"][0]


def test_a_url_is_good_for_its_frame_role_and_lifetime_only() -> None:
    urls = FrameUrls(SECRET, ttl_s=300)
    path, exp, sig = parts(urls.url("frame", "gate-17", "viewer", now=NOW))
    assert path == "/dashboard/api/frames/gate-17.jpg"
    assert int(exp) == NOW + 300
    assert urls.refusal("frame", "gate-17", "viewer", exp, sig, now=NOW) is None
    assert urls.refusal("frame", "gate-17", "viewer", exp, sig, now=NOW + 299) is None
    refused = {
        "unsigned": urls.refusal("frame", "gate-17", "viewer", "", "", now=NOW),
        "no sig": urls.refusal("frame", "gate-17", "viewer", exp, "", now=NOW),
        "expired": urls.refusal("frame", "gate-17", "viewer", exp, sig, now=NOW + 301),
        "other frame": urls.refusal("frame", "gate-18", "viewer", exp, sig, now=NOW),
        "other role": urls.refusal("frame", "gate-17", "poi", exp, sig, now=NOW),
        "camera route": urls.refusal("camera", "gate-17", "viewer", exp, sig, now=NOW),
        "longer life": urls.refusal("frame", "gate-17", "viewer", str(int(exp) + 3600), sig),
        "tampered sig": urls.refusal("frame", "gate-17", "viewer", exp, sig[:-2] + "AA", now=NOW),
        "not a number": urls.refusal("frame", "gate-17", "viewer", "1e9", sig, now=NOW),
        "negative": urls.refusal("frame", "gate-17", "viewer", "-1", sig, now=NOW),
    }
    assert all(refused.values()), refused
    assert "expired" in str(refused["expired"])
    assert "signature" in str(refused["other role"])


def test_replicas_sharing_the_session_secret_accept_each_others_urls() -> None:
    issued = FrameUrls(SECRET, ttl_s=300).url("camera", "gate", "poi", now=NOW)
    path, exp, sig = parts(issued)
    assert path == "/dashboard/api/cameras/gate/frame.jpg"
    assert FrameUrls(SECRET, ttl_s=300).refusal("camera", "gate", "poi", exp, sig, now=NOW) is None
    assert FrameUrls("t" * 40, ttl_s=300).refusal("camera", "gate", "poi", exp, sig, now=NOW)
    # no secret: a random key per process, like the sessions
    a, b = FrameUrls("", ttl_s=300), FrameUrls("", ttl_s=300)
    _, exp, sig = parts(a.url("frame", "x", "viewer", now=NOW))
    assert a.refusal("frame", "x", "viewer", exp, sig, now=NOW) is None
    assert b.refusal("frame", "x", "viewer", exp, sig, now=NOW)


def test_a_url_far_past_the_lifetime_is_refused() -> None:
    """A URL minted with a longer lifetime (settings changed since) is not honoured."""
    _, exp, sig = parts(FrameUrls(SECRET, ttl_s=86_400).url("frame", "x", "viewer", now=NOW))
    assert "too far" in str(
        FrameUrls(SECRET, ttl_s=300).refusal("frame", "x", "viewer", exp, sig, now=NOW)
    )


def test_ids_are_quoted_into_the_path() -> None:
    url = FrameUrls(SECRET, ttl_s=60).url("frame", "cam a/b?c", "viewer", now=NOW)
    assert url.startswith("/dashboard/api/frames/cam%20a%2Fb%3Fc.jpg?exp=")
