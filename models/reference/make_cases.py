"""Writes the official tiny models in every format a user may have them in, with their float64
logits, for the tests (run in this folder with Debian's python3-torch: `/usr/bin/python3
make_cases.py`).

- dense-gau-retnet: the official checkpoint (../dense-gau-retnet-official-bin, an f16 .bin with
  the rel-pos buffers) re-saved as safetensors with the buffers and as an f32 .bin. The f16 values
  widen exactly, so the official float64 logits in its case.json hold for every variant.
- mamba: state-spaces' checkpoint (../mamba-tiny-bin, an f32 .bin with a tied head) re-saved as
  safetensors and as an f16 .bin. There are no official float64 logits for Mamba, so our
  reference (densessm_reference.py, checked here against the official float32 logits) computes
  them on the stored weights.

cases.json lists every variant with the logits file it is judged against.
"""
import json
import os
import shutil

import torch

from densessm_reference import load_strict, read_weights, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)


def folder(name, config_from):
    path = os.path.join(HERE, name)
    os.makedirs(path, exist_ok=True)
    shutil.copy(os.path.join(MODELS, config_from, "config.json"), os.path.join(path, "config.json"))
    return path


def logits64(path, ids):
    with torch.no_grad():
        return load_strict(path)(torch.tensor(ids)).tolist()


cases = []

# ---- DenseGAU-RetNet ----
official = os.path.join(MODELS, "dense-gau-retnet-official-bin")
case = json.load(open(os.path.join(official, "case.json")))
state = torch.load(os.path.join(official, "pytorch_model.bin"), weights_only=True)
wide = {k: v.float() for k, v in state.items()}
path = folder("dense-gau-retnet-safetensors-buffers", "dense-gau-retnet-official-bin")
write_safetensors(os.path.join(path, "model.safetensors"), wide, {"format": "pt"})
path = folder("dense-gau-retnet-bin-f32", "dense-gau-retnet-official-bin")
torch.save(wide, os.path.join(path, "pytorch_model.bin"))
ours = torch.tensor(logits64(path, case["input_ids"]), dtype=torch.float64)
check = (ours - torch.tensor(case["logits_parallel_f64"], dtype=torch.float64)).abs().max().item()
print(f"dense-gau-retnet: our float64 reference vs the official float64 logits: {check:.2e}")
assert check < 1e-5, check
for name in ["dense-gau-retnet-official-bin", "reference/dense-gau-retnet-safetensors-buffers", "reference/dense-gau-retnet-bin-f32"]:
    cases.append({"model": name, "case": "dense-gau-retnet-official-bin/case.json"})

# ---- Mamba ----
source = os.path.join(MODELS, "mamba-tiny-bin")
mcase = json.load(open(os.path.join(source, "case.json")))
ids = mcase["input_ids"]
ours = torch.tensor(logits64(source, ids), dtype=torch.float64)
err = (ours - torch.tensor(mcase["logits_parallel"], dtype=torch.float64)).abs().max().item()
print(f"mamba: our float64 reference vs the official float32 logits: {err:.2e}")
assert err < 1e-4, err
state = read_weights(source)
path = folder("mamba-safetensors", "mamba-tiny-bin")
write_safetensors(os.path.join(path, "model.safetensors"), {k: v.clone() for k, v in state.items()}, {"format": "pt"})
path = folder("mamba-bin-f16", "mamba-tiny-bin")
half = state["backbone.embedding.weight"].half()
torch.save({k: (half if v.data_ptr() == state["backbone.embedding.weight"].data_ptr() else v.half()) for k, v in state.items()}, os.path.join(path, "pytorch_model.bin"))
f32_logits, f16_logits = os.path.join(HERE, "mamba-f32-logits.json"), os.path.join(HERE, "mamba-f16-logits.json")
for out, weights in [(f32_logits, source), (f16_logits, path)]:
    logits = logits64(weights, ids)
    json.dump({"input_ids": ids, "logits_parallel_f64": logits, "logits_recurrent_f64": logits, "reference": "densessm_reference.py (float64)"}, open(out, "w"))
for name, logits in [("mamba-tiny-bin", f32_logits), ("reference/mamba-safetensors", f32_logits), ("reference/mamba-bin-f16", f16_logits)]:
    cases.append({"model": name, "case": f"reference/{os.path.basename(logits)}"})

json.dump(cases, open(os.path.join(HERE, "cases.json"), "w"), indent=1)
print("wrote", len(cases), "cases")
