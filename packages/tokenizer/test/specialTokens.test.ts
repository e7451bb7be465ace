import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fromPretrained, Tokenizer, TokenizerFormatError } from "@densessm/tokenizer";
import { fixturesDir, llamaDir } from "./helpers.js";

let llama: Tokenizer;
let byteLevel: Tokenizer;

beforeAll(async () => {
  llama = await fromPretrained(llamaDir);
  byteLevel = await fromPretrained(resolve(fixturesDir, "tiny-byte-level"));
});

describe("BOS / EOS on request", () => {
  it("LLaMA: BOS by default, EOS when asked, neither when asked", () => {
    const plain = llama.encode("Hello", { addSpecialTokens: false });
    expect(llama.encode("Hello")).toEqual([1, ...plain]);
    expect(llama.encode("Hello", { addEos: true })).toEqual([1, ...plain, 2]);
    expect(llama.encode("Hello", { addBos: false, addEos: true })).toEqual([...plain, 2]);
    expect(llama.encode("Hello", { addBos: false })).toEqual(plain);
    expect(llama.encode("Hello", { addSpecialTokens: false, addBos: true })).toEqual(plain);
    expect(llama.encode("")).toEqual([1]);
  });

  it("byte-level (GPT-NeoX style): nothing by default, <|endoftext|> as BOS/EOS on request", () => {
    const eot = byteLevel.tokenToId("<|endoftext|>") as number;
    expect(byteLevel.bosTokenId).toBe(eot);
    expect(byteLevel.eosTokenId).toBe(eot);
    const plain = byteLevel.encode("Hello world");
    expect(plain).not.toContain(eot);
    expect(byteLevel.encode("Hello world", { addEos: true })).toEqual([...plain, eot]);
    expect(byteLevel.encode("Hello world", { addBos: true, addEos: true })).toEqual([eot, ...plain, eot]);
  });

  it("asking for a BOS the tokenizer does not have is an error", () => {
    const noBos = Tokenizer.fromJSON({ ...byteLevel.toJSON(), added_tokens: [] }, { bos_token: null, eos_token: null });
    expect(() => noBos.encode("x", { addBos: true })).toThrow(TokenizerFormatError);
    expect(() => noBos.encode("x", { addBos: true })).toThrow(/no BOS token/);
  });
});

describe("special tokens in text", () => {
  it("are plain text unless parseSpecialTokens is set", () => {
    const eot = byteLevel.tokenToId("<|endoftext|>") as number;
    expect(byteLevel.encode("a<|endoftext|>b")).not.toContain(eot);
    expect(byteLevel.encode("a<|endoftext|>b", { parseSpecialTokens: true })).toContain(eot);
    expect(byteLevel.decode(byteLevel.encode("a<|endoftext|>b"))).toBe("a<|endoftext|>b");
  });

  it("non-special added tokens are always recognized", () => {
    const json = byteLevel.toJSON();
    const id = byteLevel.vocabSize;
    const withAdded = Tokenizer.fromJSON({
      ...json,
      added_tokens: [...(json.added_tokens ?? []), { id, content: "<tool>", special: false, normalized: false, lstrip: false, rstrip: false, single_word: false }],
    });
    const ids = withAdded.encode("call <tool> now");
    expect(ids).toContain(id);
    expect(withAdded.decode(ids)).toBe("call <tool> now");
    expect(withAdded.isSpecialTokenId(id)).toBe(false);
  });
});

describe("decode with and without special tokens", () => {
  it("LLaMA", () => {
    const ids = llama.encode("Hello world", { addEos: true });
    expect(llama.decode(ids)).toBe("<s> Hello world</s>");
    expect(llama.decode(ids, { skipSpecialTokens: true })).toBe("Hello world");
  });

  it("byte-level", () => {
    const ids = byteLevel.encode(" Hello world", { addBos: true, addEos: true });
    expect(byteLevel.decode(ids)).toBe("<|endoftext|> Hello world<|endoftext|>");
    expect(byteLevel.decode(ids, { skipSpecialTokens: true })).toBe(" Hello world");
  });

  it("rejects ids outside the vocabulary", () => {
    expect(() => llama.decode([1, 99999])).toThrow(/token id 99999 is out of range \(vocabulary size 32000\)/);
    expect(() => llama.decode([-1])).toThrow(RangeError);
  });
});
