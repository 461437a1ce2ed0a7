"""The HTTP side: the page, its assets and health, with security headers (the real
server, in process)."""

import json
import urllib.error
import urllib.request

import pytest

from ..inprocess import serving_in_thread
from .conftest import NO_MODELS


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_in_thread(tmp_path_factory.mktemp("http"), **NO_MODELS) as srv:
        yield srv.base


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers, response.read()


def test_the_page_is_served_with_a_strict_content_security_policy(base):
    status, headers, body = get(base + "/")
    assert status == 200 and b"<html" in body.lower()
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_page_loads_nothing_from_another_site(base):
    _, _, body = get(base + "/")
    assert b'src="http' not in body and b'href="http' not in body


def test_assets_and_health_are_served(base):
    assert get(base + "/static/app.js")[0] == 200
    assert get(base + "/static/i18n/fr.json")[0] == 200
    status, _, body = get(base + "/healthz")
    assert status == 200 and b'"ok"' in body


def test_unknown_paths_are_404_without_internals(base):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(base + "/nope")
    assert caught.value.code == 404
    body = caught.value.read()
    assert b"Traceback" not in body
    assert json.loads(body) == {"code": "not_found", "text": "There is nothing here."}


def test_the_chat_socket_over_plain_http_asks_for_an_upgrade(base):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(base + "/v1/ws")
    assert caught.value.code == 426
    assert caught.value.headers["upgrade"] == "websocket"
    assert json.loads(caught.value.read())["code"] == "upgrade_required"
