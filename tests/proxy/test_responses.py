"""The sidecar's own error answers in the OpenAI error shape, as the OpenAI and Anthropic SDKs read them."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from aiohttp import web

from sidecar.proxy.responses import error_response


def test_shape_status_and_headers():
    resp = error_response(429, "sidecar_queue_timeout", "queued too long", headers={"Retry-After": "3"})
    assert resp.status == 429 and resp.content_type == "application/json"
    assert resp.headers["Retry-After"] == "3"
    assert resp.body is not None
    assert json.loads(bytes(resp.body)) == {
        "error": {
            "message": "queued too long",
            "type": "sidecar_queue_timeout",
            "param": None,
            "code": "sidecar_queue_timeout",
        }
    }


def test_the_message_is_escaped_as_json():
    resp = error_response(400, "bad", 'a "quoted"\nmessage é')
    assert resp.body is not None
    assert json.loads(bytes(resp.body))["error"]["message"] == 'a "quoted"\nmessage é'


@pytest.fixture
async def server(aiohttp_server):
    async def handle(request: web.Request) -> web.Response:
        return error_response(413, "request_too_large", "request body over 1024 bytes")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return await aiohttp_server(app, host="127.0.0.1")


async def test_the_openai_sdk_reads_code_and_message(server):
    async with openai.AsyncOpenAI(api_key="k", base_url=str(server.make_url("/v1")), max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 413
    assert info.value.code == "request_too_large"
    assert "request body over 1024 bytes" in info.value.message


async def test_the_anthropic_sdk_reads_type_and_message(server):
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=str(server.make_url("")), max_retries=0
    ) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 413
    assert "request body over 1024 bytes" in info.value.message
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "request_too_large"
