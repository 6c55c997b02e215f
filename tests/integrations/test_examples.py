"""The examples run: each against a live Engram (gunicorn) and the local fake
OpenAI-compatible model server, as a user would run them from a shell."""

import json

import pytest

from tests.conftest import Tenant
from tests.support.examples import example_env, run_example
from tests.support.fake_openai import FakeOpenAIServer, FakeReply
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live


def test_chat_example_remembers_across_runs(
    gunicorn_server: LiveServer, live_tenant: Tenant
) -> None:
    with FakeOpenAIServer() as model:
        env = example_env(gunicorn_server, live_tenant.api_key, model)
        model.script_chat(["Nice to meet you, Ada!"])
        first = run_example(
            "chat_with_memory.py",
            ["--user", "ada", "--no-infer", "--message", "I love green tea every morning"],
            env,
        )
        assert "assistant> Nice to meet you, Ada!" in first

        model.script_chat(["Green tea, of course."])
        second = run_example(
            "chat_with_memory.py", ["--user", "ada", "--message", "What should I drink?"], env
        )
        assert "assistant> Green tea, of course." in second
        chats = [r.body for r in model.requests if r.path.endswith("/chat/completions")]
        system_prompt = chats[-1]["messages"][0]["content"]
        assert "I love green tea every morning" in system_prompt  # remembered by the 2nd run


def tool_call_reply(name: str, arguments: dict[str, str]) -> FakeReply:
    """An OpenAI chat completion that asks for one tool call."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{name}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }
                    ],
                },
            }
        ],
    }
    return FakeReply(raw=json.dumps(body).encode())


def test_langchain_agent_saves_then_recalls_through_its_memory_tools(
    gunicorn_server: LiveServer, live_tenant: Tenant
) -> None:
    with FakeOpenAIServer() as model:
        env = example_env(gunicorn_server, live_tenant.api_key, model)
        fact = "The user's favourite drink is green tea."
        model.script_chat([tool_call_reply("save_memory", {"fact": fact}), "Noted!"])
        first = run_example("langchain_agent.py", ["--user", "ada", "I love green tea."], env)
        assert first.strip() == "Noted!"

        model.script_chat(
            [tool_call_reply("search_memory", {"query": "favourite drink"}), "Green tea."]
        )
        second = run_example("langchain_agent.py", ["--user", "ada", "What do I drink?"], env)
        assert second.strip() == "Green tea."
        chats = [r.body for r in model.requests if r.path.endswith("/chat/completions")]
        tool_result = chats[-1]["messages"][-1]
        assert tool_result["role"] == "tool" and fact in tool_result["content"]
