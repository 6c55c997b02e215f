"""A CrewAI crew whose long-term memory is Engram, through the unchanged `mem0ai`
MemoryClient. Before the crew runs, what Engram remembers about the user that bears on
the request goes into the task; afterwards the exchange is added to Engram, so the next
run remembers it.

    # crewai needs older openai/pydantic/mcp than Engram pins: give it its own venv
    python3.11 -m venv ~/.venvs/crewai
    ~/.venvs/crewai/bin/pip install --no-deps -r requirements-examples.txt
    export ENGRAM_HOST=http://127.0.0.1:8000 ENGRAM_API_KEY=eng_...
    export OPENAI_BASE_URL=... OPENAI_API_KEY=... CHAT_MODEL=gpt-4o-mini
    ~/.venvs/crewai/bin/python examples/crewai_crew.py --user alice "I'm allergic to peanuts."
    ~/.venvs/crewai/bin/python examples/crewai_crew.py --user alice "Which snack is safe for me?"

CrewAI's own memory stays off (`memory=False`: it would embed into a local vector store);
Engram is the memory. CrewAI's anonymous telemetry and trace prompts are off unless you
set CREWAI_DISABLE_TELEMETRY / OTEL_SDK_DISABLED / CREWAI_TRACING_ENABLED yourself. With
inference on (the default) Engram's workers extract durable facts from the exchange;
`--no-infer` stores the messages as-is.
"""

import argparse
import os
import sys
from collections.abc import Iterable
from typing import Any

from mem0 import MemoryClient

# Read when crewai is imported (in build_crew): no telemetry.crewai.com, no tracing prompt.
QUIET_CREWAI = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
}
TASK = (
    "A customer writes: {request}\n\n"
    "What you remember about this customer from earlier conversations:\n{memories}\n\n"
    "Answer the customer directly. Use what you remember when it is relevant; never "
    "invent facts about the customer."
)


def remembered(memory: MemoryClient, user_id: str, query: str, top_k: int = 5) -> list[str]:
    found = memory.search(query, filters={"user_id": user_id}, top_k=top_k)
    results = found["results"] if isinstance(found, dict) else found
    return [hit["memory"] for hit in results]


def build_crew(model: str) -> Any:
    """One support agent, one task; `{request}` and `{memories}` are kickoff inputs."""
    for name, value in QUIET_CREWAI.items():
        os.environ.setdefault(name, value)
    from crewai import LLM, Agent, Crew, Process, Task

    # An explicit base_url sends any model name (llama3.1, ...) through CrewAI's own OpenAI
    # client; without one, a name it does not know as OpenAI's would need litellm.
    llm = LLM(model=f"openai/{model}", base_url=os.environ.get("OPENAI_BASE_URL"))
    agent = Agent(
        role="Customer support agent",
        goal="Resolve the customer's request in a few friendly sentences",
        backstory="You know the customers well and remember what they told you before.",
        llm=llm,
        allow_delegation=False,
        verbose=False,
    )
    task = Task(description=TASK, expected_output="A short, personal answer", agent=agent)
    return Crew(agents=[agent], tasks=[task], process=Process.sequential, memory=False)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("request")
    parser.add_argument("--user", default="demo-user", help="the end user's id in Engram")
    parser.add_argument("--no-infer", action="store_true", help="store messages verbatim")
    parser.add_argument("--model", default=os.environ.get("CHAT_MODEL", "gpt-4o-mini"))
    args = parser.parse_args(list(argv) if argv is not None else None)
    memory = MemoryClient(
        api_key=os.environ["ENGRAM_API_KEY"],
        host=os.environ.get("ENGRAM_HOST", "http://127.0.0.1:8000"),
    )
    crew = build_crew(args.model)
    memories = remembered(memory, args.user, args.request)
    listed = "\n".join(f"- {fact}" for fact in memories) or "- (nothing yet)"
    answer = str(crew.kickoff(inputs={"request": args.request, "memories": listed}).raw)
    exchange = [
        {"role": "user", "content": args.request},
        {"role": "assistant", "content": answer},
    ]
    memory.add(exchange, user_id=args.user, infer=not args.no_infer)
    print(answer, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
