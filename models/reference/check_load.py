"""Loads a model folder into the reference modules with strict=True (every key the official code
has, no other) and compares its float64 logits with a case file's. Used by the `densessm convert`
test: `/usr/bin/python3 check_load.py FOLDER CASE.json [TOLERANCE]` prints one line, exits 0 on a
match."""
import json
import sys

import torch

from densessm_reference import load_strict

folder, case_file = sys.argv[1], sys.argv[2]
tolerance = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
case = json.load(open(case_file))
try:
    model = load_strict(folder)
except RuntimeError as e:
    print(f"strict load failed: {' '.join(str(e).split())}")
    sys.exit(1)
with torch.no_grad():
    logits = model(torch.tensor(case["input_ids"]))
err = (logits - torch.tensor(case["logits_parallel_f64"], dtype=torch.float64)).abs().max().item()
print(f"loaded with strict=True; max |logits - reference| = {err:.3e}")
sys.exit(0 if err <= tolerance else 1)
