"""The PyTorch side of the device check: DenseGAU-RetNet training steps and batch-1 decoding, timed.

By default the model is our own PyTorch DenseGAU-RetNet (models/reference/densessm_reference.py:
the official parameter names, written from the paper's equations), not the official code: training
runs the official parallel form (the O(L^2) retention the official training uses), decoding the
recurrent form token by token (the official recurrent loop). `check` runs both forms against the
official logits of models/dense-gau-retnet-tiny. With "official" set to the path of the official
modeling file (WailordHe/DenseSSM's modeling_dense_gau_retnet.py, which needs `transformers`), that
file's LlamaForCausalLM is timed instead; that path could not be tried where this was written.

    python3 reference.py '{"mode": "train", "shape": {...}, "dtype": "bf16", "device": "cuda"}'

Prints one JSON line.
"""
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for candidate in (HERE, os.path.join(HERE, "..", "..", "..", "models", "reference")):
    if os.path.exists(os.path.join(candidate, "densessm_reference.py")):
        sys.path.insert(0, candidate)
        break

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from densessm_reference import DenseGauRetNetForCausalLM, read_weights, rotate_every_two  # noqa: E402


def positions(model, start, length, device):
    rel = model.model.retnet_rel_pos
    index = torch.arange(start, start + length, dtype=torch.float32, device=device)
    angle, decay = rel.angle.float().to(device), rel.decay.float().to(device)
    return index, torch.sin(index[:, None] * angle), torch.cos(index[:, None] * angle), decay


def parallel_logits(model, ids):
    """The official parallel form, in float32 (bfloat16 matrix products under autocast)."""
    m, length = model.model, ids.shape[1]
    index, sin, cos, decay = positions(model, 0, length, ids.device)
    lag = index[:, None] - index[None, :]
    mask = torch.where(lag >= 0, torch.exp(lag.clamp(min=0) * decay[:, None, None]), torch.zeros((), device=ids.device))
    mask = mask / mask.sum(-1, keepdim=True).sqrt()
    x, ring = m.embed_tokens(ids), []
    for i, layer in enumerate(m.layers):
        out, kv = layer.self_attn(layer.input_layernorm(x), sin, cos, mask, ring if i > 0 else [])
        x = x + out
        ring = (ring + [kv])[-model.config.get("dense_block_layers", 1):]
    return model.lm_head(m.norm(x))


class Recurrent:
    """The recurrent form, one token per call: S = carry·S + inject·kᵀv, o = q·S (the official running-scale bookkeeping)."""

    def __init__(self, model, batch, device):
        self.model, self.position = model, 0
        attn = model.model.layers[0].self_attn
        self.gammas = torch.exp(model.model.retnet_rel_pos.decay.float()).tolist()
        self.states = [torch.zeros(batch, attn.heads, attn.key_dim, attn.e // attn.heads, device=device) for _ in model.model.layers]

    def step(self, tokens):
        model, p = self.model, self.position
        _, sin, cos, _ = positions(model, p, 1, tokens.device)
        scale = lambda g, t: (1 - g ** (t + 1)) / (1 - g)
        carry = torch.tensor([0.0 if p == 0 else g * math.sqrt(scale(g, p - 1) / scale(g, p)) for g in self.gammas], device=tokens.device)
        inject = torch.tensor([1 / math.sqrt(scale(g, p)) for g in self.gammas], device=tokens.device)
        x, ring = model.model.embed_tokens(tokens[:, None]), []
        for i, layer in enumerate(model.model.layers):
            a = layer.self_attn
            h = layer.input_layernorm(x)
            q = F.silu(a.q_proj(h))
            k = F.silu(a.k_proj(h)) * a.key_dim**-0.5
            v, gate = a.to_hidden(h).chunk(2, dim=-1)
            kv = (k, v)
            if i > 0:
                kg, vg = F.silu(a.k_select(h)), F.silu(a.v_select(h))
                k = a.k_norm(k + sum(kg * kp for kp, _ in ring))
                v = a.v_norm(v + sum(vg * vp for _, vp in ring))
            b = tokens.shape[0]
            heads = lambda t, w: t.view(b, 1, a.heads, w).transpose(1, 2)
            qr, kr = (heads(t, a.key_dim) * cos + rotate_every_two(heads(t, a.key_dim)) * sin for t in (q, k))
            vh = heads(v, a.e // a.heads)
            s = self.states[i] * carry[None, :, None, None] + kr.transpose(-1, -2).float() @ vh.float() * inject[None, :, None, None]
            self.states[i] = s
            out = (qr.float() @ s).transpose(1, 2)
            out = a.group_norm(out).reshape(b, 1, a.e) * gate
            x = x + a.to_out(out)
            ring = (ring + [kv])[-model.config.get("dense_block_layers", 1):]
        self.position += 1
        return model.lm_head(model.model.norm(x))[:, 0]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device, dtype):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")


def official_model(path, config, device):
    import importlib.util

    from transformers import LlamaConfig  # the official file builds on transformers

    spec = importlib.util.spec_from_file_location("official_dense_gau_retnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LlamaForCausalLM(LlamaConfig(**config)).to(device)


def train(opts, device):
    shape, dtype = opts["shape"], opts["dtype"]
    config = shape["config"]
    official = opts.get("official")
    model = official_model(official, config, device) if official else DenseGauRetNetForCausalLM(config).to(device)
    model.train()
    fused = {"fused": True} if device.type == "cuda" else {}
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, **fused)
    except (TypeError, RuntimeError):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch, length, vocab = shape["batch"], shape["seq"], config["vocab_size"]
    losses = []

    def step(s):
        ids = ((torch.arange(batch * length, device=device) * 7919 + s * 104729) % vocab).view(batch, length)
        with autocast(device, dtype):
            if official:
                loss = model(input_ids=ids, labels=ids).loss
            else:
                logits = parallel_logits(model, ids)
                loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())  # the loss read back every step, as ours

    t = time.perf_counter()
    step(0)
    synchronize(device)
    warmup = time.perf_counter() - t
    t = time.perf_counter()
    for s in range(1, shape["trainSteps"] + 1):
        step(s)
    synchronize(device)
    seconds = time.perf_counter() - t
    return {"tokensPerSecond": shape["trainSteps"] * batch * length / seconds, "secondsPerStep": seconds / shape["trainSteps"], "warmupSeconds": warmup, "losses": losses, "parameters": sum(p.numel() for p in model.parameters())}


@torch.no_grad()
def decode(opts, device):
    shape, dtype = opts["shape"], opts["dtype"]
    config = shape["config"]
    official = opts.get("official")
    model = (official_model(official, config, device) if official else DenseGauRetNetForCausalLM(config).to(device)).eval()
    prompt = torch.tensor([[(i * 31 + 7) % config["vocab_size"] for i in range(shape["prompt"])]], device=device)
    with autocast(device, dtype):
        if official:
            out = model(input_ids=prompt, use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1].argmax(-1)

            def step(token):
                nonlocal past
                out = model(input_ids=token[:, None], past_key_values=past, use_cache=True)
                past = out.past_key_values
                return out.logits[:, -1].argmax(-1)
        else:
            loop = Recurrent(model, 1, device)
            for t in range(shape["prompt"]):
                logits = loop.step(prompt[:, t])
            token = logits.argmax(-1)

            def step(token):
                return loop.step(token).argmax(-1)

        for _ in range(8):  # warm-up, as ours
            token = step(token)
        synchronize(device)
        t = time.perf_counter()
        for _ in range(shape["decodeTokens"]):
            token = step(token)
            token.item()  # each token read back, as ours
        synchronize(device)
        seconds = time.perf_counter() - t
    return {"tokensPerSecond": shape["decodeTokens"] / seconds, "tokens": shape["decodeTokens"], "batch": 1}


@torch.no_grad()
def check(opts, device):
    """Both forms of this reference against the official logits of models/dense-gau-retnet-tiny, in float32."""
    folder = os.path.join(opts["models"], "dense-gau-retnet-tiny")
    config = json.load(open(os.path.join(folder, "config.json")))
    case = json.load(open(os.path.join(folder, "case.json")))
    model = DenseGauRetNetForCausalLM(config)
    # The fixture's safetensors leaves out the rel-pos buffers (computed from the config, as here).
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in read_weights(folder).items()}, strict=False)
    assert not unexpected and all(k.startswith("model.retnet_rel_pos.") for k in missing), (missing, unexpected)
    model = model.to(device).eval()
    ids = torch.tensor(case["input_ids"], device=device)
    parallel = (parallel_logits(model, ids).cpu() - torch.tensor(case["logits_parallel"])).abs().max().item()
    loop = Recurrent(model, ids.shape[0], device)
    steps = torch.stack([loop.step(ids[:, t]) for t in range(ids.shape[1])], dim=1).cpu()
    recurrent = (steps - torch.tensor(case["logits_recurrent"])).abs().max().item()
    return {"maxAbsError": max(parallel, recurrent), "parallel": parallel, "recurrent": recurrent}


def main():
    opts = json.loads(sys.argv[1])
    device = torch.device(opts.get("device", "cuda"))
    result = {"check": check, "train": train, "decode": decode}[opts["mode"]](opts, device)
    result.update({"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "dtype": opts["dtype"], "model": opts.get("official") or "densessm_reference.DenseGauRetNetForCausalLM (ours, from the paper's equations)"})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
