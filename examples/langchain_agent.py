"""A LangChain tool-calling agent whose long-term memory is Engram, through the unchanged
`mem0ai` MemoryClient. The model decides when to look something up and when to save a
fact; both tools are scoped to one end user.

    pip install langchain-core langchain-openai   # pinned in requirements-dev.txt
    export ENGRAM_HOST=http://127.0.0.1:8000 ENGRAM_API_KEY=eng_...
    export OPENAI_BASE_URL=... OPENAI_API_KEY=... CHAT_MODEL=gpt-4o-mini
    python examples/langchain_agent.py --user alice "My favourite drink is green tea."
    python examples/langchain_agent.py --user alice "What should I order at the cafe?"

The same two tools drop into a LangGraph `create_react_agent(model, tools)` unchanged.
"""

import argparse
import os
import sys
from collections.abc import Iterable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langchain_openai import ChatOpenAI
from mem0 import MemoryClient

SYSTEM = (
    "You are a helpful assistant with long-term memory tools. Before answering anything "
    "about the user, call search_memory. When the user tells you a durable fact about "
    "themselves (preferences, plans, biography), call save_memory with it in one sentence."
)
MAX_STEPS = 6


def memory_tools(memory: MemoryClient, user_id: str) -> list[BaseTool]:
    @tool
    def search_memory(query: str) -> str:
        """Search what you remember about the user; returns one fact per line."""
        found = memory.search(query, filters={"user_id": user_id}, top_k=5)
        hits = found["results"] if isinstance(found, dict) else found
        return "\n".join(f"- {hit['memory']}" for hit in hits) or "Nothing remembered yet."

    @tool
    def save_memory(fact: str) -> str:
        """Remember one durable fact about the user, phrased as a full sentence."""
        # infer=False: the model already distilled the fact; store it as written.
        memory.add([{"role": "user", "content": fact}], user_id=user_id, infer=False)
        return "Saved."

    return [search_memory, save_memory]


def run_agent(model: BaseChatModel, tools: list[BaseTool], question: str) -> str:
    """The tool-calling loop: call the model, run the tools it asks for, repeat."""
    bound = model.bind_tools(tools)
    by_name = {item.name: item for item in tools}
    messages: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(question)]
    for _ in range(MAX_STEPS):
        reply = bound.invoke(messages)
        messages.append(reply)
        calls = getattr(reply, "tool_calls", None) or []
        if not calls:
            return str(reply.content)
        for call in calls:
            result = by_name[call["name"]].invoke(call["args"])
            messages.append(ToolMessage(content=str(result), tool_call_id=call["id"]))
    return "(stopped: too many tool calls)"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("question")
    parser.add_argument("--user", default="demo-user")
    parser.add_argument("--model", default=os.environ.get("CHAT_MODEL", "gpt-4o-mini"))
    args = parser.parse_args(list(argv) if argv is not None else None)
    memory = MemoryClient(
        api_key=os.environ["ENGRAM_API_KEY"],
        host=os.environ.get("ENGRAM_HOST", "http://127.0.0.1:8000"),
    )
    model = ChatOpenAI(model=args.model, max_retries=1)  # OPENAI_BASE_URL / OPENAI_API_KEY
    print(run_agent(model, memory_tools(memory, args.user), args.question), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
