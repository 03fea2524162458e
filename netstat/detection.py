"""Detectors: a cost that depends on neither the weights nor the pixels.

How much work torchvision's detectors do after their backbone depends on how
many boxes survive score thresholds and NMS -- with random weights and an
all-zeros image, anything from 0 to 1000 (fasterrcnn_resnet50_fpn: 535). So
the working copy netstat traces gets fixed counts instead of values:

- two-stage (R-CNN): the RPN hands `proposals` boxes to the box head (the
  model's `rpn.post_nms_top_n()` at inference, 1000, unless asked otherwise),
  and the box head's post-processing hands `detections` boxes to the mask /
  keypoint heads (`roi_heads.detections_per_img`, 100);
- one-stage (RetinaNet, FCOS, SSD): the post-processing returns `detections`
  boxes (`detections_per_img`).

The boxes are a fixed grid inside the image. Score filtering, NMS and top-k,
whose cost depends on values, are not run and not counted. The breakdown
splits the traced cost by module: `roi_heads.box_*` is per proposal,
`roi_heads.mask_*` and `roi_heads.keypoint_*` per detection, everything else
(transform, backbone, neck, RPN or dense head) fixed. torchvision's published
`_ops` hold the boxes that survived its own measurement; `published_gmacs_note`
states them as the fixed part plus so many boxes (`published_boxes`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

PER_PROPOSAL = ("roi_heads.box_",)
PER_DETECTION = ("roi_heads.mask_", "roi_heads.keypoint_")


@dataclass
class DetectorCounts:
    """How many boxes each stage of a traced detector handled."""

    proposals: int  # 0 for a one-stage detector
    detections: int


def _two_stage(model: torch.nn.Module) -> bool:
    detection = sys.modules.get("torchvision.models.detection.generalized_rcnn")
    return detection is not None and isinstance(model, detection.GeneralizedRCNN)


def _one_stage(model: torch.nn.Module) -> bool:
    classes = [getattr(sys.modules.get(f"torchvision.models.detection.{m}"), c, None) for m, c in (("retinanet", "RetinaNet"), ("fcos", "FCOS"), ("ssd", "SSD"))]
    return any(c is not None and isinstance(model, c) for c in classes)


def fix_counts(model: torch.nn.Module, proposals: int | None, detections: int | None) -> DetectorCounts | None:
    """Make the detector `model` (a copy netstat may change) hand fixed box
    counts between its stages; None when it is not a detector."""
    if _two_stage(model):
        counts = DetectorCounts(
            proposals=model.rpn.post_nms_top_n() if proposals is None else proposals,
            detections=model.roi_heads.detections_per_img if detections is None else detections,
        )
        model.rpn.filter_proposals = _FixedProposals(counts.proposals)
        model.roi_heads.postprocess_detections = _FixedRoIDetections(counts.detections)
        return counts
    if _one_stage(model):
        counts = DetectorCounts(proposals=0, detections=model.detections_per_img if detections is None else detections)
        model.postprocess_detections = _FixedDetections(counts.detections)
        return counts
    return None


def grid_boxes(count: int, image_size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """`count` distinct boxes (x1, y1, x2, y2) of a quarter of the image's
    sides, on a grid inside it: the same for every run."""
    h, w = image_size
    i = torch.arange(count, device=like.device, dtype=like.dtype)
    side = max(1, int(count**0.5))
    x1 = (i % side) * (w * 0.75 / side)
    y1 = torch.div(i, side, rounding_mode="floor") % side * (h * 0.75 / side)
    return torch.stack([x1, y1, x1 + w / 4, y1 + h / 4], dim=1)


@dataclass
class _FixedProposals:
    """Stands in for `RegionProposalNetwork.filter_proposals`."""

    count: int

    def __call__(self, proposals, objectness, image_sizes, num_anchors_per_level):
        boxes = [grid_boxes(self.count, size, proposals) for size in image_sizes]
        return boxes, [torch.ones(self.count, device=proposals.device, dtype=proposals.dtype) for _ in image_sizes]


@dataclass
class _FixedRoIDetections:
    """Stands in for `RoIHeads.postprocess_detections`."""

    count: int

    def __call__(self, class_logits, box_regression, proposals, image_shapes):
        boxes = [grid_boxes(self.count, size, class_logits) for size in image_shapes]
        scores = [torch.ones(self.count, device=class_logits.device, dtype=class_logits.dtype) for _ in image_shapes]
        labels = [torch.ones(self.count, device=class_logits.device, dtype=torch.int64) for _ in image_shapes]
        return boxes, scores, labels


@dataclass
class _FixedDetections:
    """Stands in for a one-stage detector's `postprocess_detections`."""

    count: int

    def __call__(self, head_outputs, anchors, image_shapes):
        like = next(iter(head_outputs.values()))
        like = like[0] if isinstance(like, (list, tuple)) else like
        return [
            {
                "boxes": grid_boxes(self.count, size, like),
                "scores": torch.ones(self.count, device=like.device, dtype=like.dtype),
                "labels": torch.ones(self.count, device=like.device, dtype=torch.int64),
            }
            for size in image_shapes
        ]


@dataclass
class DetectorCost:
    """A detector's MAdds and FLOPs: fixed + per proposal x proposals + per detection x detections."""

    proposals: int
    detections: int
    fixed_madds: int
    per_proposal_madds: int | None  # None when no proposal ran (nothing to divide)
    per_detection_madds: int | None
    fixed_flops: int
    per_proposal_flops: int | None
    per_detection_flops: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def breakdown(counts: DetectorCounts, modules: list[str], madds: list[int], flops: list[int]) -> DetectorCost:
    """Split per-op costs (with the module path that ran each op) into the
    fixed part and the per-proposal and per-detection parts."""
    sums = {"fixed": [0, 0], "proposal": [0, 0], "detection": [0, 0]}
    for path, m, f in zip(modules, madds, flops):
        part = "proposal" if path.startswith(PER_PROPOSAL) else "detection" if path.startswith(PER_DETECTION) else "fixed"
        sums[part][0] += m
        sums[part][1] += f

    def per(part: str, n: int, i: int) -> int | None:
        return sums[part][i] // n if n else None

    return DetectorCost(
        proposals=counts.proposals,
        detections=counts.detections,
        fixed_madds=sums["fixed"][0],
        per_proposal_madds=per("proposal", counts.proposals, 0),
        per_detection_madds=per("detection", counts.detections, 0),
        fixed_flops=sums["fixed"][1],
        per_proposal_flops=per("proposal", counts.proposals, 1),
        per_detection_flops=per("detection", counts.detections, 1),
    )


def counts_of(model: torch.nn.Module) -> DetectorCounts | None:
    """The box counts `fix_counts` gave `model` (None: not a fixed detector)."""
    if _two_stage(model) and isinstance(model.rpn.filter_proposals, _FixedProposals):
        return DetectorCounts(model.rpn.filter_proposals.count, model.roi_heads.postprocess_detections.count)
    fixed = getattr(model, "postprocess_detections", None) if _one_stage(model) else None
    return DetectorCounts(0, fixed.count) if isinstance(fixed, _FixedDetections) else None


def published_boxes(cost: DetectorCost, gmacs: float) -> tuple[int, int] | None:
    """(proposals, detections), at most the traced counts and the fewest
    detections first, for which fixed part + boxes is `gmacs` to torchvision's
    three decimals; None when no count of boxes gives it."""
    per_proposal, per_detection = cost.per_proposal_madds or 0, cost.per_detection_madds or 0
    for detections in range(cost.detections + 1 if per_detection else 1):
        rest = gmacs * 1e9 - cost.fixed_madds - detections * per_detection
        proposals = min(max(round(rest / per_proposal), 0), cost.proposals) if per_proposal else 0
        if round((cost.fixed_madds + proposals * per_proposal + detections * per_detection) / 1e9, 3) == gmacs:
            return proposals, detections
    return None


def published_gmacs_note(cost: DetectorCost, gmacs: float) -> str:
    """Why a detector's GMACs differ from torchvision's published figure:
    that figure holds the boxes that survived torchvision's own measurement
    (random weights, a random image), the fixed part plus so many boxes."""
    counted = (f"{cost.proposals:,} proposals and " if cost.proposals else "") + f"{cost.detections:,} detections"
    boxes = published_boxes(cost, gmacs)
    if boxes is None:
        return (
            f"torchvision's figure holds the boxes that survived its own measurement (random weights, a random image), but no count of them "
            f"up to the {counted} traced here, on top of the fixed part ({cost.fixed_madds:,} MAdds), gives {gmacs} G."
        )
    terms = [f"the fixed part {cost.fixed_madds:,}"]
    if cost.per_proposal_madds:
        terms.append(f"{boxes[0]:,} proposals × {cost.per_proposal_madds:,}")
    if cost.per_detection_madds:
        terms.append(f"{boxes[1]:,} detections × {cost.per_detection_madds:,}")
    return (
        f"torchvision's figure holds the boxes that survived its own measurement (random weights, a random image): "
        f"{gmacs} G = {' + '.join(terms)} MAdds; here the heads get {counted}."
    )
