import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromPretrained, loadTokenizer, tokenizeJsonl } from "@densessm/tokenizer";
import { llamaDir, readLlamaFixture } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "densessm-jsonl-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cases = readLlamaFixture();

function readIds(path: string): number[][] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { ids: number[] }).ids);
}

describe("tokenizeJsonl", () => {
  const input = join(tmp, "in.jsonl");
  // Blank lines between records are skipped; records keep their order.
  writeFileSync(input, cases.map((c) => JSON.stringify({ text: c.text, extra: 1 })).join("\n\n") + "\n");

  it("--no-special: sentencepiece's plain encode, in input order", async () => {
    const output = join(tmp, "plain.jsonl");
    const result = await tokenizeJsonl({ tokenizer: llamaDir, input, output, addSpecialTokens: false });
    expect(result.records).toBe(cases.length);
    expect(readIds(output)).toEqual(cases.map((c) => c.ids));
    expect(result.tokens).toBe(cases.reduce((n, c) => n + c.ids.length, 0));
  });

  it("default: with BOS, from a loaded tokenizer", async () => {
    const output = join(tmp, "bos.jsonl");
    await tokenizeJsonl({ tokenizer: await fromPretrained(llamaDir), input, output });
    expect(readIds(output)).toEqual(cases.map((c) => [1, ...c.ids]));
  });

  it("names the file and line of a bad record and leaves no partial output", async () => {
    const bad = join(tmp, "bad.jsonl");
    writeFileSync(bad, '{"text": "ok"}\n{"text": 3}\n');
    const output = join(tmp, "bad-out.jsonl");
    await expect(tokenizeJsonl({ tokenizer: llamaDir, input: bad, output })).rejects.toThrow(`${bad}:2: expected an object with a string "text" field`);
    writeFileSync(bad, '{"text": "ok"}\n{"text": \n');
    await expect(tokenizeJsonl({ tokenizer: llamaDir, input: bad, output })).rejects.toThrow(`${bad}:2: not valid JSON`);
    expect(existsSync(output)).toBe(false);
  });
});

describe("loadTokenizer", () => {
  it("loads a directory, a tokenizer.json, a tokenizer.model, or a renamed file of either kind", async () => {
    const text = " Hello  world \n🦙";
    const expected = (await fromPretrained(llamaDir)).encode(text);
    copyFileSync(resolve(llamaDir, "tokenizer.json"), join(tmp, "llama.json"));
    copyFileSync(resolve(llamaDir, "tokenizer.model"), join(tmp, "llama.spm"));
    for (const path of [llamaDir, resolve(llamaDir, "tokenizer.json"), resolve(llamaDir, "tokenizer.model"), join(tmp, "llama.json"), join(tmp, "llama.spm")]) {
      expect((await loadTokenizer(path)).encode(text), path).toEqual(expected);
    }
  });

  it("says what is missing", async () => {
    await expect(loadTokenizer(join(tmp, "nope"))).rejects.toThrow(`${join(tmp, "nope")}: no such file or directory`);
    await expect(fromPretrained(tmp)).rejects.toThrow(`${tmp}: no tokenizer.json or tokenizer.model found`);
  });
});
