"""PyTorch CPU counterpart of ssad-models' `train_step` example, for
`cargo xtask perf train --vs-torch`.

The same step: backbone + Linear(embed, 4) head, cross-entropy on labels
i % 4, SGD (lr 0.1, Nesterov momentum 0.9, weight decay 5e-4) on seeded
uniform-noise images. The networks follow ssad-models' definitions
(`resnet.rs`, `wide_resnet.rs`): CIFAR-stem ResNets and GEOM's pre-activation
WRN. Prints one JSON line with the same fields as `train_step`.

    python train_torch.py --net small32 --batch 128 --steps 5 --threads 2
"""

import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride, 0, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.downsample is None else self.downsample(x)
        return F.relu(out + short)


class ResNet(nn.Module):
    """CIFAR stem (3x3 conv, stride 1, no max-pool); stage i > 0 starts with stride 2."""

    def __init__(self, layers, widths, in_ch):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, cin = [], widths[0]
        for i, (n, planes) in enumerate(zip(layers, widths)):
            for j in range(n):
                blocks.append(BasicBlock(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.embed_dim = cin

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.blocks(x).mean(dim=(2, 3))


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WRN(nn.Module):
    def __init__(self, depth, k, in_ch=3):
        super().__init__()
        w = [16, 16 * k, 32 * k, 64 * k]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_ch, w[0], 3, 1, 1, bias=False)
        blocks = []
        for g, stride in enumerate([1, 2, 2]):
            for i in range(n):
                blocks.append(PreActBlock(w[g] if i == 0 else w[g + 1], w[g + 1], stride if i == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.embed_dim = w[3]

    def forward(self, x):
        return F.relu(self.bn1(self.blocks(self.conv1(x)))).mean(dim=(2, 3))


def network(name):
    if name == "small28":
        return ResNet([1, 1, 1], [16, 32, 64], 1), (1, 28, 28)
    if name == "small32":
        return ResNet([1, 1, 1], [16, 32, 64], 3), (3, 32, 32)
    if name == "resnet18":
        return ResNet([2, 2, 2, 2], [64, 128, 256, 512], 3), (3, 32, 32)
    if name == "wrn-10-4":
        return WRN(10, 4), (3, 32, 32)
    raise SystemExit(f"unknown net {name}: small28, small32, resnet18 or wrn-10-4")


def single_layer(a):
    """One layer on a (B, 64, 32, 32) input, forward and backward of its sum:
    the 64->64 3x3 convolution (conv64) or BatchNorm + ReLU in training mode (bn64)."""
    gen = torch.Generator().manual_seed(1)
    x = ((torch.rand((a.batch, 64, 32, 32), generator=gen) - 0.5) * 2).requires_grad_()
    conv = a.net == "conv64"
    if conv:
        w = ((torch.rand((64, 64, 3, 3), generator=gen) - 0.5) * 0.1).requires_grad_()
        layer = lambda x: F.conv2d(x, w, padding=1)
        params = w.numel()
    else:
        bn = nn.BatchNorm2d(64)
        layer = lambda x: F.relu(bn(x))
        params = sum(p.numel() for p in bn.parameters())
    fwd, bwd = [], []
    cpu_start = 0.0
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            cpu_start = time.process_time()
        x.grad = None
        t0 = time.perf_counter()
        y = layer(x)
        t1 = time.perf_counter()
        y.sum().backward()
        t2 = time.perf_counter()
        if i >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    cpu = (time.process_time() - cpu_start) / a.steps
    med = lambda v: sorted(v)[len(v) // 2]
    f, b = med(fwd), med(bwd)
    gflop = 3 * 2 * a.batch * 64 * 64 * 9 * 32 * 32 / 1e9 if conv else None
    per = lambda t: round(gflop / t, 1) if conv else None
    return {
        "params": params,
        "images_per_s": round(a.batch / (f + b), 2),
        "forward_s": round(f, 4),
        "backward_s": round(b, 4),
        "optimizer_s": 0,
        "cpu_s_per_step": round(cpu, 3),
        "gflop_per_s": per(f + b),
        "gflop_per_cpu_s": per(cpu),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="small28")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.net in ("conv64", "bn64"):
        row = {"net": a.net, "batch": a.batch, "steps": a.steps, "threads": str(torch.get_num_threads()),
               "torch": torch.__version__}
        row.update(single_layer(a))
        row["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(row))
        return
    backbone, (c, h, w) = network(a.net)
    model = nn.Sequential(backbone, nn.Linear(backbone.embed_dim, 4))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand((a.batch, c, h, w), generator=gen)
    y = torch.arange(a.batch) % 4
    fwd, bwd, step = [], [], []
    cpu_start = 0.0
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            cpu_start = time.process_time()
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        loss.item()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            step.append(t3 - t2)
    cpu_per_step = (time.process_time() - cpu_start) / a.steps
    med = lambda v: sorted(v)[len(v) // 2]
    f, b, o = med(fwd), med(bwd), med(step)
    print(json.dumps({
        "net": a.net,
        "batch": a.batch,
        "steps": a.steps,
        "threads": str(torch.get_num_threads()),
        "params": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "images_per_s": round(a.batch / (f + b + o), 2),
        "forward_s": round(f, 4),
        "backward_s": round(b, 4),
        "optimizer_s": round(o, 5),
        "cpu_s_per_step": round(cpu_per_step, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
