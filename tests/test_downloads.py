"""Serving stored audio with HTTP range requests (RFC 9110 §14), on every
route that serves it: the job page's player, the API download, the admin."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils.http import http_date

from synthesis.downloads import CHUNK_BYTES, RangeNotSatisfiable, requested_range
from synthesis.models import Job
from tests.factories import make_job

DATA = bytes(range(256)) * 4  # 1,000+ bytes where every offset is recognisable
SIZE = len(DATA)


@pytest.fixture
def stored(alice):
    job = make_job(alice, Job.Status.COMPLETED)
    name = default_storage.save(f"audio/test/{job.pk}.mp3", ContentFile(DATA))
    Job.objects.filter(pk=job.pk).update(audio=name)
    job.refresh_from_db()
    return job


def getter(route, stored, client, user):
    url = {
        "page": reverse("job_download", args=[stored.pk]),
        "api": f"/api/v1/jobs/{stored.pk}/download",
        "admin": reverse("admin:synthesis_job_audio", args=[stored.pk]),
    }[route]
    client.force_login(user)

    def get(**headers):
        return client.get(url, headers=headers)

    return get


@pytest.fixture(params=["page", "api", "admin"])
def get_any(request, stored, client, alice):
    """GET the stored audio through each of the three routes that serve it."""
    user = request.getfixturevalue("staff") if request.param == "admin" else alice
    return getter(request.param, stored, client, user)


@pytest.fixture
def get(stored, client, alice):
    """GET the stored audio from the job page's player URL."""
    return getter("page", stored, client, alice)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_whole_file_says_ranges_are_accepted(get_any, stored):
    response = get_any()
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(SIZE)
    assert response["ETag"] == f'"{stored.pk.hex}-{SIZE:x}"'
    assert response["Last-Modified"] == http_date(int(stored.completed_at.timestamp()))
    assert f'filename="ttsjobs-{stored.pk}.mp3"' in response["Content-Disposition"]
    assert body(response) == DATA


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=100-199", 100, 199),  # a single range
        ("bytes=0-0", 0, 0),  # the first byte
        ("bytes=900-", 900, SIZE - 1),  # open-ended
        ("bytes=-100", SIZE - 100, SIZE - 1),  # suffix: the last 100 bytes
        ("bytes=-5000", 0, SIZE - 1),  # a suffix longer than the file is the whole file
        ("bytes=1000-99999", 1000, SIZE - 1),  # a last position past the end is the end
        ("Bytes = 5-9", 5, 9),  # the unit is case-insensitive, whitespace allowed
    ],
)
def test_a_satisfiable_range_is_206_with_just_those_bytes(get, header, first, last):
    response = get(Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/mpeg"
    assert body(response) == DATA[first : last + 1]


def test_a_range_on_every_route(get_any):
    response = get_any(Range="bytes=-100")
    assert response.status_code == 206 and response["Content-Range"] == f"bytes {SIZE - 100}-{SIZE - 1}/{SIZE}"
    assert body(response) == DATA[-100:]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", "bytes=-0"])
def test_an_unsatisfiable_range_is_416_naming_the_size(get_any, header):
    response = get_any(Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-9,20-29",  # several ranges: answered with the whole file, not multipart
        "bytes=200-100",  # last before first: invalid, so ignored
        "bytes=abc",
        "bytes=-",
        "bytes=1-2-3",
        "items=0-9",  # a unit we don't know
        "",
    ],
)
def test_several_or_invalid_ranges_get_the_whole_file(get, header):
    response = get(Range=header)
    assert response.status_code == 200
    assert body(response) == DATA


def test_if_range_with_our_etag_or_date_gets_the_range(get, stored):
    etag = get()["ETag"]
    response = get(Range="bytes=10-19", **{"If-Range": etag})
    assert response.status_code == 206 and body(response) == DATA[10:20]
    date = http_date(int(stored.completed_at.timestamp()))
    response = get(Range="bytes=10-19", **{"If-Range": date})
    assert response.status_code == 206 and body(response) == DATA[10:20]


@pytest.mark.parametrize(
    "if_range",
    [
        '"something-else"',  # another version of the file
        "W/{etag}",  # a weak tag never matches (§13.1.5)
        "Mon, 01 Jan 2024 00:00:00 GMT",  # another date
    ],
)
def test_if_range_that_does_not_match_gets_the_whole_file(get_any, if_range):
    etag = get_any()["ETag"]
    response = get_any(Range="bytes=10-19", **{"If-Range": if_range.format(etag=etag)})
    assert response.status_code == 200
    assert body(response) == DATA


def test_if_range_mismatch_ignores_even_an_unsatisfiable_range(get):
    response = get(Range=f"bytes={SIZE}-", **{"If-Range": '"other"'})
    assert response.status_code == 200


def test_revalidation_with_our_etag_is_304(get):
    etag = get()["ETag"]
    response = get(**{"If-None-Match": etag})
    assert response.status_code == 304 and response["ETag"] == etag


def test_head_gives_size_and_ranges_without_the_bytes(client, alice, stored):
    client.force_login(alice)
    for url in (reverse("job_download", args=[stored.pk]), f"/api/v1/jobs/{stored.pk}/download"):
        response = client.head(url)
        assert response.status_code == 200
        assert response["Content-Length"] == str(SIZE) and response["Accept-Ranges"] == "bytes"


def test_a_large_range_is_streamed_in_chunks(alice_client, alice):
    job = make_job(alice, Job.Status.COMPLETED)
    big = bytes(range(256)) * 4096  # 1 MiB
    name = default_storage.save(f"audio/test/{job.pk}.mp3", ContentFile(big))
    Job.objects.filter(pk=job.pk).update(audio=name)
    response = alice_client.get(reverse("job_download", args=[job.pk]), headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    chunks = list(response.streaming_content)
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= CHUNK_BYTES
    assert b"".join(chunks) == big[1000:]


def test_another_users_audio_is_404_even_with_a_range(bob_client, stored):
    response = bob_client.get(reverse("job_download", args=[stored.pk]), headers={"Range": "bytes=0-9"})
    assert response.status_code == 404


# --- the parser alone ----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-3", 2, (0, 1)),
        ("bytes=0-4", 0, None),  # an empty file is sent whole
        ("bytes=0-4, 6-8", 10, None),
        ("bytes= 0-4 ,", 10, (0, 4)),  # empty list elements are allowed (§5.6.1)
        ("bytes=+1-4", 10, None),
        ("bytes=0x1-4", 10, None),
    ],
)
def test_requested_range(header, size, expected):
    assert requested_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0", "bytes=10-20"])
def test_requested_range_past_the_end(header):
    with pytest.raises(RangeNotSatisfiable):
        requested_range(header, 10)
