"""Our own PyTorch reference of the two official layouts, for Debian's python3-torch (1.13).

The modules carry the official code's attribute names (WailordHe/DenseSSM's DenseGAU-RetNet with
its persistent RetNetRelPos buffers; state-spaces' MambaLMHeadModel), so `load_state_dict(...,
strict=True)` accepts exactly the checkpoints the official code accepts. The forward passes are
written from the papers' math in float64 (DenseGAU-RetNet in the official parallel form, Mamba
with the sequential selective scan) and are checked against the official logits in make_cases.py.
"""
import json
import math
import struct

import torch
from torch import nn
import torch.nn.functional as F

# ---- safetensors (the format is small enough not to need the package) ----

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}
CODES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin : 8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[e["dtype"]]).reshape(e["shape"]) if raw else torch.zeros(e["shape"], dtype=DTYPES[e["dtype"]])
    return out


def read_weights(folder):
    """Every tensor of a folder: model.safetensors, its shards, or pytorch_model.bin (weights_only)."""
    import os

    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        out = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            out.update(read_safetensors(os.path.join(folder, shard)))
        return out
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return read_safetensors(os.path.join(folder, "model.safetensors"))
    return torch.load(os.path.join(folder, "pytorch_model.bin"), weights_only=True)


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes() if t.dtype != torch.bfloat16 else t.detach().contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- DenseGAU-RetNet (official names) ----


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class HiddenProjection(nn.Module):
    def __init__(self, dim, mid, out):
        super().__init__()
        self.fc1 = nn.Linear(dim, mid, bias=False)
        self.fc2 = nn.Linear(mid, out, bias=False)

    def forward(self, x):
        return self.fc2(F.silu(self.fc1(x)))


class RetNetRelPos(nn.Module):
    def __init__(self, heads, key_dim):
        super().__init__()
        angle = 1.0 / (10000 ** torch.linspace(0, 1, key_dim // 2))
        self.register_buffer("angle", angle.unsqueeze(-1).repeat(1, 2).flatten())
        self.register_buffer("decay", torch.log(1 - 2 ** (-5 - torch.arange(heads, dtype=torch.float))))


class GauRetention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, qk, h = c["hidden_size"], c["query_key_dim"], c["num_attention_heads"]
        e = d * c.get("v_factor", 2)
        eps = c.get("rms_norm_eps", 1e-6)
        released = "intermediate_k_select_scale" in c or "intermediate_v_select_scale" in c
        k_mid = int(d // c.get("intermediate_k_select_scale", 32)) if released else d // 32
        v_mid = int(d // c.get("intermediate_v_select_scale", 32)) if released else d // 32
        self.heads, self.key_dim, self.e = h, qk // h, e
        self.q_proj = nn.Linear(d, qk, bias=False)
        self.k_proj = nn.Linear(d, qk, bias=False)
        self.group_norm = RMSNorm(e // h, eps)
        self.to_hidden = nn.Sequential(nn.Linear(d, 2 * e, bias=False), nn.SiLU())
        self.to_out = nn.Sequential(nn.Linear(e, d, bias=False), nn.Dropout(0))
        self.k_select = HiddenProjection(d, k_mid, qk)
        self.v_select = HiddenProjection(d, v_mid, e)
        self.k_norm = RMSNorm(qk, eps)
        self.v_norm = RMSNorm(e, eps)

    def forward(self, x, sin, cos, mask, earlier):
        b, L, _ = x.shape
        q = F.silu(self.q_proj(x))
        k = F.silu(self.k_proj(x)) * self.key_dim**-0.5
        v, gate = self.to_hidden(x).chunk(2, dim=-1)
        kv = (k, v)
        if earlier:
            kg, vg = F.silu(self.k_select(x)), F.silu(self.v_select(x))
            k = self.k_norm(k + sum(kg * kp for kp, _ in earlier))
            v = self.v_norm(v + sum(vg * vp for _, vp in earlier))
        heads = lambda t, w: t.view(b, L, self.heads, w).transpose(1, 2)
        qr, kr = (heads(t, self.key_dim) * cos + rotate_every_two(heads(t, self.key_dim)) * sin for t in (q, k))
        scores = (qr @ kr.transpose(-1, -2)) * mask
        scores = scores / scores.detach().abs().sum(-1, keepdim=True).clamp(min=1, max=5e4)
        out = (scores @ heads(v, self.e // self.heads)).transpose(1, 2)
        out = self.group_norm(out).reshape(b, L, self.e) * gate
        return self.to_out(out), kv


def rotate_every_two(x):
    return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)


class GauLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = GauRetention(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c.get("rms_norm_eps", 1e-6))


class GauModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(GauLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c.get("rms_norm_eps", 1e-6))
        self.retnet_rel_pos = RetNetRelPos(c["num_attention_heads"], c["query_key_dim"] // c["num_attention_heads"])


class DenseGauRetNetForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = GauModel(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, ids):
        m, L = self.model, ids.shape[1]
        index = torch.arange(L, dtype=torch.float64)
        angle, decay = m.retnet_rel_pos.angle.double(), m.retnet_rel_pos.decay.double()
        sin, cos = torch.sin(index[:, None] * angle), torch.cos(index[:, None] * angle)
        lag = index[:, None] - index[None, :]
        mask = torch.where(lag >= 0, torch.exp(lag.clamp(min=0) * decay[:, None, None]), torch.zeros(()).double())
        mask = mask / mask.sum(-1, keepdim=True).sqrt()
        x, ring = m.embed_tokens(ids), []
        for i, layer in enumerate(m.layers):
            out, kv = layer.self_attn(layer.input_layernorm(x), sin, cos, mask, ring if i > 0 else [])
            x = x + out
            ring = (ring + [kv])[-self.config.get("dense_block_layers", 1) :]
        return self.lm_head(m.norm(x))


# ---- Mamba (state-spaces names) ----


class MambaMixer(nn.Module):
    def __init__(self, c):
        super().__init__()
        ssm = c.get("ssm_cfg", {})
        d = c["d_model"]
        self.d_inner = int(ssm.get("expand", 2) * d)
        self.d_state = ssm.get("d_state", 16)
        self.dt_rank = math.ceil(d / 16) if ssm.get("dt_rank", "auto") == "auto" else ssm["dt_rank"]
        d_conv = ssm.get("d_conv", 4)
        self.in_proj = nn.Linear(d, 2 * self.d_inner, bias=ssm.get("bias", False))
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1, bias=ssm.get("conv_bias", True))
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.zeros(self.d_inner, self.d_state))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d, bias=ssm.get("bias", False))

    def forward(self, u):
        L = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L]).transpose(1, 2)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        h = torch.zeros(u.shape[0], self.d_inner, self.d_state, dtype=u.dtype)
        ys = []
        for t in range(L):
            h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
            ys.append((h * C[:, t, None, :]).sum(-1) + self.D * x[:, t])
        return self.out_proj(torch.stack(ys, dim=1) * F.silu(z))


class MambaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.mixer = MambaMixer(c)
        self.norm = RMSNorm(c["d_model"], c.get("norm_epsilon", 1e-5))


class MambaBackbone(nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        self.embedding = nn.Embedding(vocab, c["d_model"])
        self.layers = nn.ModuleList(MambaBlock(c) for _ in range(c["n_layer"]))
        self.norm_f = RMSNorm(c["d_model"], c.get("norm_epsilon", 1e-5))


class MambaLMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        multiple = c.get("pad_vocab_size_multiple", 8)
        vocab = -(-c["vocab_size"] // multiple) * multiple
        self.backbone = MambaBackbone(c, vocab)
        self.lm_head = nn.Linear(c["d_model"], vocab, bias=False)
        if c.get("tie_embeddings", True):
            self.lm_head.weight = self.backbone.embedding.weight

    def forward(self, ids):
        hidden, residual = self.backbone.embedding(ids), None
        for layer in self.backbone.layers:
            residual = hidden if residual is None else hidden + residual
            hidden = layer.mixer(layer.norm(residual))
        return self.lm_head(self.backbone.norm_f(hidden + residual))


def build(config):
    """The reference module for a config.json (DenseGAU-RetNet or Mamba)."""
    return MambaLMHeadModel(config) if "d_model" in config else DenseGauRetNetForCausalLM(config)


def load_strict(folder):
    """Builds the model of a folder and loads its weights with strict=True, in float64."""
    config = json.load(open(f"{folder}/config.json"))
    model = build(config)
    model.load_state_dict({k: v.double() for k, v in read_weights(folder).items()}, strict=True)
    return model.double().eval()
