"""Test doubles shipped as real code (as httpx ships MockTransport), and the demo built on them.

fake_upstream   a real aiohttp LLM provider: OpenAI and Anthropic, streamed or not, faults, 429s,
                per-provider profiles; counts the tokens it receives (`sidecar fake-upstream`)
fake_deepinfra  a real aiohttp DeepInfra reranker with injectable faults (`sidecar fake-deepinfra`)
demo            `sidecar demo`: an agent conversation through the sidecar and the fake, with savings
"""
