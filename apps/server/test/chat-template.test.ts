// Chat prompts: the model's Jinja chat_template when tokenizer_config.json has one, else the
// documented plain layout; message boundaries that fall on token boundaries become cache points.
import { folderSource } from "@densessm/core";
import { tokenizerFromFiles } from "@densessm/tokenizer";
import { describe, expect, it } from "vitest";
import { ChatTemplate } from "../src/index.js";
import { modelDir } from "./helpers.js";

const tokenizer = await tokenizerFromFiles(folderSource(modelDir("mamba-tiny")));
const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi" },
];

describe("ChatTemplate", () => {
  it("renders tokenizer_config.json's chat_template with bos/eos tokens and the generation prompt", () => {
    const template = ChatTemplate.fromConfig(tokenizer, {
      bos_token: "<s>",
      eos_token: { content: "</s>" },
      chat_template: "{{ bos_token }}{% for m in messages %}{{ '[' + m['role'] + '] ' + m['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '[assistant] ' }}{% endif %}",
    });
    expect(template.source).toBe("tokenizer_config.json");
    expect(template.stop).toEqual([]);
    const chat = template.render(messages);
    expect(chat.text).toBe("<s>[system] Be brief.</s>[user] Hi</s>[assistant] ");
    // Special tokens in the text are parsed, and no second BOS is added.
    expect(chat.tokens.filter((t) => t === tokenizer.bosTokenId)).toHaveLength(1);
    expect(chat.tokens.filter((t) => t === tokenizer.eosTokenId)).toHaveLength(2);
    expect(chat.boundaries).toEqual([chat.tokens.indexOf(tokenizer.eosTokenId!) + 1]);
  });

  it("picks the default of several named templates, and names a template that does not parse", () => {
    const named = ChatTemplate.fromConfig(tokenizer, { chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "{{ messages[0]['content'] }}" }] });
    expect(named.render(messages).text).toBe("Be brief.");
    expect(() => ChatTemplate.fromConfig(tokenizer, { chat_template: "{% for %}" })).toThrow(/chat_template does not parse/);
  });

  it("falls back to the plain layout, which stops before the next user turn", () => {
    const plain = ChatTemplate.fromConfig(tokenizer, {});
    expect(plain.source).toBe("plain");
    expect(plain.stop).toEqual(["\nUser:"]);
    const chat = plain.render([...messages, { role: "assistant", content: "Hello." }, { role: "user", content: "Bye" }]);
    expect(chat.text).toBe("Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:");
    expect(chat.tokens).toEqual(tokenizer.encode(chat.text));
    expect(chat.boundaries).toEqual(["Be brief.\n", "Be brief.\nUser: Hi\n", "Be brief.\nUser: Hi\nAssistant: Hello.\n"].map((t) => tokenizer.encode(t).length));
  });
});
