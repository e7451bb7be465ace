import { Template } from "@huggingface/jinja";
import type { Tokenizer } from "@densessm/tokenizer";

/** One chat message, its content already flattened to text. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/**
 * When a model folder has no `chat_template` in tokenizer_config.json, chats are laid out as plain
 * text — a system message as it is, then each turn on its own line as "User: …" / "Assistant: …",
 * ending with "Assistant:" for the model to continue — encoded with the tokenizer's usual special
 * tokens (BOS). Generation stops before the model starts the next "\nUser:" turn.
 */
export const PLAIN_TEMPLATE_STOP = "\nUser:";

/** A rendered chat: the prompt's tokens and where each message ends in them (prefix-cache points). */
export interface RenderedChat {
  readonly text: string;
  readonly tokens: number[];
  /** Token counts after which a message boundary falls exactly on a token boundary. */
  readonly boundaries: number[];
}

/**
 * How chat messages become a prompt: the model's own Jinja chat template when its
 * tokenizer_config.json has one (rendered by @huggingface/jinja, the implementation transformers.js
 * uses, with `messages`, `bos_token`, `eos_token` and `add_generation_prompt: true`, encoded without
 * adding special tokens, as transformers' apply_chat_template does), else the plain template above.
 */
export class ChatTemplate {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template | undefined,
    private readonly specials: { bos_token: string; eos_token: string },
  ) {}

  /** From tokenizer_config.json's fields (`chat_template`: a string, or a list of named templates). */
  static fromConfig(tokenizer: Tokenizer, config: Readonly<Record<string, unknown>> | undefined): ChatTemplate {
    const raw = config?.chat_template;
    const source = typeof raw === "string" ? raw : Array.isArray(raw) ? pickNamed(raw) : undefined;
    let template: Template | undefined;
    if (source !== undefined) {
      try {
        template = new Template(source);
      } catch (e) {
        throw new Error(`tokenizer_config.json: chat_template does not parse (${(e as Error).message})`);
      }
    }
    return new ChatTemplate(tokenizer, template, { bos_token: tokenText(config?.bos_token), eos_token: tokenText(config?.eos_token) });
  }

  /** "tokenizer_config.json" or "plain". */
  get source(): string {
    return this.template ? "tokenizer_config.json" : "plain";
  }

  /** Stop strings the template implies (the plain template's next turn). */
  get stop(): string[] {
    return this.template ? [] : [PLAIN_TEMPLATE_STOP];
  }

  render(messages: readonly ChatMessage[]): RenderedChat {
    const text = this.text(messages, true);
    const tokens = this.encode(text);
    // A message boundary is a cache point when the prompt's tokens up to it are exactly the
    // tokens of the chat cut there (a merge across the boundary would make them differ).
    const boundaries: number[] = [];
    for (let i = 1; i < messages.length; i++) {
      const head = this.text(messages.slice(0, i), false);
      if (!text.startsWith(head)) continue;
      const ids = this.encode(head, true);
      if (ids.length < tokens.length && ids.every((t, j) => t === tokens[j])) boundaries.push(ids.length);
    }
    return { text, tokens, boundaries };
  }

  private text(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    if (this.template) return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specials });
    const turns = messages.map((m) => (m.role === "system" || m.role === "developer" ? `${m.content}\n` : `${m.role === "assistant" ? "Assistant" : "User"}: ${m.content}\n`));
    return turns.join("") + (addGenerationPrompt ? "Assistant:" : "");
  }

  private encode(text: string, prefix = false): number[] {
    if (this.template) return this.tokenizer.encode(text, { addSpecialTokens: false, parseSpecialTokens: true });
    // The plain layout adds the tokenizer's special tokens; a prefix must not end with an EOS.
    const ids = this.tokenizer.encode(text);
    return prefix && ids.at(-1) === this.tokenizer.eosTokenId ? ids.slice(0, -1) : ids;
  }
}

function pickNamed(list: readonly unknown[]): string | undefined {
  const named = list.filter((t): t is { name: string; template: string } => typeof t === "object" && t !== null && typeof (t as { template?: unknown }).template === "string");
  return (named.find((t) => t.name === "default") ?? named[0])?.template;
}

function tokenText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") return (value as { content: string }).content;
  return "";
}
