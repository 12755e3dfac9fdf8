from matcher.webhooks import signing

# HMAC-SHA256("s3cret", b"1700000000.{}"), worked out with `printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret`
EXPECTED = "v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    assert signing.signature("s3cret", 1700000000, b"{}") == EXPECTED


def test_verify_takes_the_right_signature_within_the_tolerance_only() -> None:
    body = b"{}"
    assert signing.verify("s3cret", "1700000000", body, EXPECTED, now=1700000000 + 300)
    assert signing.verify("s3cret", "1700000000", body, "v0=old, " + EXPECTED, now=1700000000)
    assert not signing.verify("s3cret", "1700000000", body, EXPECTED, now=1700000000 + 301)  # too old
    assert not signing.verify("s3cret", "1700000000", body, EXPECTED, now=1700000000 - 301)  # from the future
    assert not signing.verify("other", "1700000000", body, EXPECTED, now=1700000000)
    assert not signing.verify("s3cret", "1700000000", b"{ }", EXPECTED, now=1700000000)
    assert not signing.verify("s3cret", "1700000001", body, EXPECTED, now=1700000000)
    assert not signing.verify("s3cret", "soon", body, EXPECTED, now=1700000000)
