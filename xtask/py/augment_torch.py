"""torchvision / numpy counterparts of the ssad-augment criterion benches.

Run by `cargo xtask perf augment --vs-torch` inside a throwaway virtualenv; prints
one JSON object {workload: images per second}. Each per-image pipeline runs the
way its reference code feeds a model: a torch DataLoader with `--threads` worker
processes and torch's intra-op threads set to the same number, over images held
in memory (decoding is not timed).

Workloads (same sizes as crates/ssad-augment/benches/augment.rs):
  geom72:   GEOM's 72 transforms (np.fliplr, scipy affine_transform with
            mode='reflect' as keras' apply_affine_transform calls it, np.rot90)
            of 128 1x28x28 images; counts output images.
  cutpaste: Runinho/pytorch-cutpaste CutPasteNormal (PIL crop, ColorJitter(0.1),
            paste) + ToTensor of original and augmented, 64 RGB 256x256 images.
  simclr:   torchvision SimCLR pipeline at 32x32: RandomResizedCrop(scale
            0.08-1), RandomHorizontalFlip, RandomApply(ColorJitter(.4,.4,.4,.1),
            0.8), RandomGrayscale(0.2), RandomApply(GaussianBlur(3, (0.1, 2)),
            0.5), ToTensor; 256 images.
"""
import argparse
import itertools
import json
import math
import random
import time

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


def geom_transforms(t):
    return list(itertools.product((False, True), (0, -t, t), (0, -t, t), range(4)))


def geom_one(img, flip, tx, ty, k):
    x = img
    if flip:
        x = np.fliplr(x)
    if tx != 0 or ty != 0:
        x = np.stack(
            [ndimage.affine_transform(x[:, :, c], np.eye(2), (tx, ty), order=1, mode="reflect")
             for c in range(x.shape[2])],
            axis=2,
        )
    if k != 0:
        x = np.rot90(x, k)
    return np.ascontiguousarray(x)


class GeomSet(Dataset):
    def __init__(self, images):
        self.images = images
        self.members = geom_transforms(round(images.shape[1] / 4))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return torch.from_numpy(np.stack([geom_one(img, *m) for m in self.members]))


class CutPasteNormal:
    """Runinho's CutPasteNormal, with ToTensor applied to both outputs."""

    def __init__(self):
        self.jitter = transforms.ColorJitter(0.1, 0.1, 0.1, 0.1)
        self.to_tensor = transforms.ToTensor()

    def __call__(self, img):
        h, w = img.size[0], img.size[1]
        area = random.uniform(0.02, 0.15) * w * h
        log_ratio = (math.log(0.3), math.log(1 / 0.3))
        aspect = math.exp(random.uniform(*log_ratio))
        cut_w = int(round(math.sqrt(area * aspect)))
        cut_h = int(round(math.sqrt(area / aspect)))
        fh, fw = int(random.uniform(0, h - cut_h)), int(random.uniform(0, w - cut_w))
        patch = self.jitter(img.crop([fw, fh, fw + cut_w, fh + cut_h]))
        th, tw = int(random.uniform(0, h - cut_h)), int(random.uniform(0, w - cut_w))
        augmented = img.copy()
        augmented.paste(patch, [tw, th, tw + cut_w, th + cut_h])
        return self.to_tensor(img), self.to_tensor(augmented)


class PilSet(Dataset):
    def __init__(self, images, transform):
        self.images = images
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def simclr(size):
    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.08, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([transforms.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5),
        transforms.ToTensor(),
    ])


def throughput(dataset, batch, threads, per_item, seconds):
    loader = DataLoader(dataset, batch_size=batch, num_workers=threads, persistent_workers=threads > 0)
    for _ in loader:  # start the workers and warm caches
        pass
    passes, start = 0, time.perf_counter()
    while True:
        for _ in loader:
            pass
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and passes >= 3:
            return passes * len(dataset) * per_item / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    out = {}

    fm = rng.random((128, 28, 28, 1), dtype=np.float32)
    out["geom72"] = throughput(GeomSet(fm), 128, args.threads, 72, args.seconds)

    big = [Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)) for _ in range(64)]
    out["cutpaste"] = throughput(PilSet(big, CutPasteNormal()), 64, args.threads, 1, args.seconds)

    small = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(256)]
    out["simclr"] = throughput(PilSet(small, simclr(32)), 256, args.threads, 1, args.seconds)

    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
