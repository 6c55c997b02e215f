// The npm `mem0ai` MemoryClient against a live Engram: add, search, list, get, delete, and
// the webhook calls. Run by tests/integrations/test_js_client.py with ENGRAM_HOST and
// ENGRAM_API_KEY set; prints one JSON line per step and exits non-zero on the first failure.
import assert from "node:assert/strict";
import { MemoryClient } from "mem0ai";

const host = process.env.ENGRAM_HOST;
const apiKey = process.env.ENGRAM_API_KEY;
const userId = `js-${Date.now()}`;

function step(name, value) {
  console.log(JSON.stringify({ step: name, value }));
  return value;
}

async function main() {
  assert.ok(host && apiKey, "ENGRAM_HOST and ENGRAM_API_KEY must be set");
  const client = new MemoryClient({ apiKey, host });

  const added = await client.add(
    [{ role: "user", content: "I love green tea every morning" }],
    { userId, infer: false },
  );
  const results = Array.isArray(added) ? added : added.results;
  assert.equal(results[0].memory, "I love green tea every morning");
  const memoryId = step("add", results[0].id);

  const found = await client.search("tea", { filters: { user_id: userId } });
  const hits = Array.isArray(found) ? found : found.results;
  assert.equal(step("search", hits[0].memory), "I love green tea every morning");

  const listed = await client.getAll({ filters: { user_id: userId } });
  const all = Array.isArray(listed) ? listed : listed.results;
  assert.deepEqual(step("list", all.map((m) => m.id)), [memoryId]);

  assert.equal(step("get", (await client.get(memoryId)).memory), "I love green tea every morning");

  const webhook = await client.createWebhook({
    name: "js smoke",
    url: "https://hooks.example.com/engram",
    eventTypes: ["memory_add"],
  });
  assert.ok(step("webhook", webhook.webhookId).startsWith("wh_"));
  assert.equal((await client.getWebhooks()).length, 1);
  await client.deleteWebhook({ webhookId: webhook.webhookId });

  const deleted = await client.delete(memoryId);
  step("delete", deleted.message);
  const after = await client.getAll({ filters: { user_id: userId } });
  assert.equal((Array.isArray(after) ? after : after.results).length, 0);
  step("done", true);
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
