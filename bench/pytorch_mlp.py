#!/usr/bin/python3
"""PyTorch baseline for gradlab_bench: the same training loops, one thread.

Cases (the same in bench/gradlab_bench.cpp):
  mlp_64-100x10-10_sigmoid/batch:32    64 inputs, 10 hidden Linear+Sigmoid layers of 100, 10 classes
  mlp_784-1024x4-10_sigmoid/batch:256  784 inputs, 4 hidden Linear+Sigmoid layers of 1024, 10 classes
Both: nn.CrossEntropyLoss, SGD lr 0.01, inputs uniform in [0, 1), uniform random
labels, batches drawn in a fixed shuffled order (an index_select per step).
  lstm_2-64-1_T100/batch:32  the adding problem's shapes: nn.LSTM(2, 64) over 100
    steps, nn.Linear(64, 1) on the last step, nn.MSELoss, SGD lr 0.01, inputs
    uniform in [-1, 1), targets uniform in [0, 1) (time-major (T, B, 2) batches
    gathered with index_select, as gradlab gathers its batch).
  rbm_cd1_784x500/batch:100  a straightforward CD-1 update of a 784x500
    Bernoulli RBM, Hinton & Salakhutdinov's rbm.m in PyTorch (lr 0.1, momentum
    0.5, weight cost 0.0002, W ~ 0.1 N(0, 1)), data uniform in [0, 1), 6000
    examples, batches by index_select in a fixed shuffled order.

Prints one line per case: `<name> <samples/s> <samples per CPU second>` (and
`--json` prints JSON). The second rate divides by the process's CPU time
instead of the wall time: on a machine shared with other busy processes it is
the steadier figure.
Exits with status 3 and a message on stderr when torch is not importable.
"""
import argparse
import json
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"pytorch_mlp.py: PyTorch is not available ({e}); install python3-torch", file=sys.stderr)
    sys.exit(3)

CASES = [
    # name, inputs, hidden, depth, classes, batch, examples
    ("train/mlp_64-100x10-10_sigmoid/batch:32", 64, 100, 10, 10, 32, 2048),
    ("train/mlp_784-1024x4-10_sigmoid/batch:256", 784, 1024, 4, 10, 256, 4096),
]


def make_model(inputs, hidden, depth, classes):
    layers = []
    width = inputs
    for _ in range(depth):
        linear = nn.Linear(width, hidden)
        # LeCun normal N(0, 1/fan_in), zero bias, as gradlab's lecun_normal.
        nn.init.normal_(linear.weight, 0.0, (1.0 / width) ** 0.5)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Sigmoid()]
        width = hidden
    out = nn.Linear(width, classes)
    nn.init.normal_(out.weight, 0.0, (1.0 / width) ** 0.5)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


def run_case(name, inputs, hidden, depth, classes, batch, examples, min_time):
    g = torch.Generator().manual_seed(1)
    x_all = torch.rand(examples, inputs, generator=g)
    y_all = torch.randint(0, classes, (examples,), generator=g)
    order = torch.randperm(examples, generator=g)
    model = make_model(inputs, hidden, depth, classes)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    starts = list(range(0, examples - batch + 1, batch))
    index = [order[s:s + batch].contiguous() for s in starts]

    def step(i):
        idx = index[i % len(index)]
        x = x_all.index_select(0, idx)
        y = y_all.index_select(0, idx)
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return timed(name, step, batch, min_time)


LSTM_CASES = [
    # name, inputs, hidden, steps, batch, examples
    ("train/lstm_2-64-1_T100/batch:32", 2, 64, 100, 32, 1024),
]


class LastStep(nn.Module):
    def __init__(self, inputs, hidden):
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[-1])


def run_lstm_case(name, inputs, hidden, steps_per_example, batch, examples, min_time):
    g = torch.Generator().manual_seed(1)
    x_all = torch.rand(steps_per_example, examples, inputs, generator=g) * 2 - 1
    y_all = torch.rand(examples, 1, generator=g)
    order = torch.randperm(examples, generator=g)
    model = LastStep(inputs, hidden)
    loss_fn = nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    starts = list(range(0, examples - batch + 1, batch))
    index = [order[s:s + batch].contiguous() for s in starts]

    def step(i):
        idx = index[i % len(index)]
        x = x_all.index_select(1, idx)
        y = y_all.index_select(0, idx)
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return timed(name, step, batch, min_time)


RBM_CASES = [
    # name, visible, hidden, batch, examples
    ("train/rbm_cd1_784x500/batch:100", 784, 500, 100, 6000),
]


def run_rbm_case(name, visible, hidden, batch, examples, min_time):
    g = torch.Generator().manual_seed(1)
    x_all = torch.rand(examples, visible, generator=g)
    order = torch.randperm(examples, generator=g)
    lr, momentum, weight_cost = 0.1, 0.5, 0.0002
    w = 0.1 * torch.randn(visible, hidden, generator=g)
    hid_bias, vis_bias = torch.zeros(hidden), torch.zeros(visible)
    w_inc, hid_inc, vis_inc = torch.zeros_like(w), torch.zeros(hidden), torch.zeros(visible)
    starts = list(range(0, examples - batch + 1, batch))
    index = [order[s:s + batch].contiguous() for s in starts]

    @torch.no_grad()
    def step(i):
        data = x_all.index_select(0, index[i % len(index)])
        pos_hid = torch.sigmoid(data @ w + hid_bias)
        pos_states = (pos_hid > torch.rand(pos_hid.shape, generator=g)).float()
        neg_data = torch.sigmoid(pos_states @ w.t() + vis_bias)
        neg_hid = torch.sigmoid(neg_data @ w + hid_bias)
        pos_prods, neg_prods = data.t() @ pos_hid, neg_data.t() @ neg_hid
        w_inc.mul_(momentum).add_(lr * ((pos_prods - neg_prods) / batch - weight_cost * w))
        vis_inc.mul_(momentum).add_(lr / batch * (data.sum(0) - neg_data.sum(0)))
        hid_inc.mul_(momentum).add_(lr / batch * (pos_hid.sum(0) - neg_hid.sum(0)))
        w.add_(w_inc)
        vis_bias.add_(vis_inc)
        hid_bias.add_(hid_inc)
        return ((data - neg_data) ** 2).sum()

    return timed(name, step, batch, min_time)


def timed(name, step, batch, min_time):
    """Samples/s of `step` over wall time and over CPU time: rounds of growing
    length until one lasts min_time seconds, after a warm-up."""
    for i in range(10):  # warm-up
        step(i)
    steps = 10
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(steps):
            loss = step(i)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if elapsed >= min_time:
            break
        steps = max(steps * 2, int(steps * min_time / max(elapsed, 1e-6) * 1.2))
    if not torch.isfinite(loss):
        raise RuntimeError(f"{name}: the loss is not finite")
    return steps * batch / elapsed, steps * batch / max(cpu, 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per measured round (default 2)")
    parser.add_argument("--filter", default="", help="run only cases whose name contains this")
    parser.add_argument("--json", action="store_true", help="print a JSON object name -> samples/s")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    results, cpu_results = {}, {}
    for case in CASES + LSTM_CASES + RBM_CASES:
        if args.filter and args.filter not in case[0]:
            continue
        run = run_case if case in CASES else run_lstm_case if case in LSTM_CASES else run_rbm_case
        results[case[0]], cpu_results[case[0]] = run(*case, min_time=args.min_time)
        if not args.json:
            print(f"{case[0]} {results[case[0]]:.1f} {cpu_results[case[0]]:.1f}", flush=True)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "samples_per_second": results,
                          "samples_per_cpu_second": cpu_results}))


if __name__ == "__main__":
    main()
