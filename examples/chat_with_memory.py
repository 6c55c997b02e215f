"""A chat loop that remembers across runs: any OpenAI-compatible model + Engram, through
the unchanged `mem0ai` MemoryClient (only `host=` points at Engram).

    export ENGRAM_HOST=http://127.0.0.1:8000 ENGRAM_API_KEY=eng_...
    export OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=... CHAT_MODEL=llama3.1
    python examples/chat_with_memory.py --user alice
    you> I'm vegetarian and I live in Lisbon.
    ...   (Ctrl-D; a later run remembers)
    python examples/chat_with_memory.py --user alice --message "Where should I eat tonight?"

Each turn: search the user's memories for the message, put the best ones in the system
prompt, ask the model, then add the exchange to Engram. With inference on (the default)
Engram's workers extract durable facts from it; `--no-infer` stores the messages as-is.
"""

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from mem0 import MemoryClient
from openai import OpenAI

SYSTEM_PROMPT = (
    "You are a helpful assistant with long-term memory. Facts you remember about the user:\n"
    "{memories}\nUse them when relevant; never invent facts about the user."
)
HISTORY_TURNS = 10


def remembered(memory: MemoryClient, user_id: str, query: str, top_k: int = 5) -> list[str]:
    found = memory.search(query, filters={"user_id": user_id}, top_k=top_k)
    results = found["results"] if isinstance(found, dict) else found
    return [hit["memory"] for hit in results]


def prompt_messages(
    memories: list[str], history: list[dict[str, str]], text: str
) -> list[dict[str, str]]:
    listed = "\n".join(f"- {fact}" for fact in memories) or "- (nothing yet)"
    system = {"role": "system", "content": SYSTEM_PROMPT.format(memories=listed)}
    return [system, *history[-2 * HISTORY_TURNS :], {"role": "user", "content": text}]


def chat_turn(
    memory: MemoryClient,
    llm: OpenAI,
    *,
    model: str,
    user_id: str,
    text: str,
    history: list[dict[str, str]],
    infer: bool,
) -> str:
    messages = prompt_messages(remembered(memory, user_id, text), history, text)
    completion = llm.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    reply = completion.choices[0].message.content or ""
    exchange = [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
    memory.add(exchange, user_id=user_id, infer=infer)
    history.extend(exchange)
    return reply


def user_lines(given: list[str] | None) -> Iterator[str]:
    if given:
        yield from given
        return
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip():
            yield line.strip()


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--user", default="demo-user", help="the end user's id in Engram")
    parser.add_argument("--message", action="append", help="say this instead of reading stdin")
    parser.add_argument("--no-infer", action="store_true", help="store messages verbatim")
    parser.add_argument("--model", default=os.environ.get("CHAT_MODEL", "gpt-4o-mini"))
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    memory = MemoryClient(
        api_key=os.environ["ENGRAM_API_KEY"],
        host=os.environ.get("ENGRAM_HOST", "http://127.0.0.1:8000"),
    )
    llm = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
    history: list[dict[str, Any]] = []
    for text in user_lines(args.message):
        reply = chat_turn(
            memory,
            llm,
            model=args.model,
            user_id=args.user,
            text=text,
            history=history,
            infer=not args.no_infer,
        )
        print(f"assistant> {reply}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
