#!/usr/bin/python3
"""Compares one gradlab recurrent network with PyTorch (run by torch_compat_test.cpp).

Usage: torch_compat.py DIR, where DIR holds weights.safetensors (gradlab's
weights file) and case.json (the input, targets, lengths, gradlab's outputs,
loss and per-parameter gradients). Builds
torch.nn.ModuleDict({"0": nn.LSTM | nn.RNN, "1": nn.Linear}), so that the
state_dict names are gradlab's ("0.weight_ih_l0", "1.weight", ...), loads the
weights with load_state_dict(strict=True), runs each example alone, truncated
to its length, takes the mean squared error over the valid outputs and
backpropagates. Exit 0 when everything agrees (rtol 1e-4, atol 1e-5), 1 on a
mismatch, 3 when torch cannot be imported. Needs no package besides torch:
the safetensors file is read with json and struct.
"""
import json
import os
import struct
import sys

try:
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means no torch
    print(f"cannot import torch: {e}")
    sys.exit(3)

RTOL, ATOL = 1e-4, 1e-5


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{name}: dtype {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        count = (end - begin) // 4
        values = struct.unpack(f"<{count}f", body[begin:end])
        out[name] = torch.tensor(values, dtype=torch.float64).reshape(info["shape"])
    return out


def close(name, got, want, problems):
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64).reshape(got.shape)
    if not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
        worst = (got - want).abs().max().item()
        problems.append(f"{name}: max |gradlab - torch| = {worst:.3e}\n  gradlab {got.flatten()[:8].tolist()}\n"
                        f"  torch   {want.flatten()[:8].tolist()}")


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    state = read_safetensors(os.path.join(folder, "weights.safetensors"))
    inputs, hidden, outputs = case["inputs"], case["hidden"], case["outputs"]
    kind = case["kind"]
    if kind == "lstm":
        rnn = torch.nn.LSTM(inputs, hidden)
    else:
        rnn = torch.nn.RNN(inputs, hidden, nonlinearity="tanh" if kind == "rnn_tanh" else "relu")
    model = torch.nn.ModuleDict({"0": rnn, "1": torch.nn.Linear(hidden, outputs)}).double()
    model.load_state_dict(state, strict=True)

    x = torch.tensor(case["x"], dtype=torch.float64)  # (T, B, in)
    target = torch.tensor(case["target"], dtype=torch.float64)
    gradlab_out = torch.tensor(case["output"], dtype=torch.float64)
    lengths = case["lengths"]
    every_step = case["sequence"] == "all"
    squared, count = 0.0, 0
    problems = []
    for b, length in enumerate(lengths):
        seq, _ = model["0"](x[:length, b : b + 1, :])  # (length, 1, hidden)
        if every_step:
            y = model["1"](seq[:, 0, :])  # (length, outputs)
            t = target[:length, b, :]
            close(f"output of example {b}", gradlab_out[:length, b, :], y.detach(), problems)
        else:
            y = model["1"](seq[-1, 0, :])  # (outputs,)
            t = target[0, b, :]
            close(f"output of example {b}", gradlab_out[0, b, :], y.detach(), problems)
        squared = squared + ((y - t) ** 2).sum()
        count += y.numel()
    loss = squared / count
    loss.backward()
    if abs(loss.item() - case["loss"]) > ATOL + RTOL * abs(loss.item()):
        problems.append(f"loss: gradlab {case['loss']}, torch {loss.item()}")
    params = dict(model.named_parameters())
    if set(params) != set(case["grads"]):
        problems.append(f"parameter names: torch {sorted(params)}, gradlab {sorted(case['grads'])}")
    for name, p in params.items():
        if name in case["grads"]:
            close(f"grad {name}", case["grads"][name], p.grad, problems)
    if problems:
        print("\n".join(problems))
        return 1
    print(f"compared {kind}, sequence {case['sequence']}: loss {loss.item():.6g}, {len(params)} gradients agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
