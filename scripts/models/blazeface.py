"""MediaPipe BlazeFace full-range: pre-processing, anchors, decoding, NMS, and face-chip alignment.

This file is the specification the Swift decoder follows (Faces module).

Model (face_detection_full_range.tflite, converted to ONNX by tflite2onnx):
  input  'input'  [1, 3, 192, 192] float32, NCHW, RGB, normalised (x / 127.5) - 1  (x in 0..255)
  output 'reshaped_regressor_face_4'  [1, 2304, 16]  per anchor: dx, dy, w, h, then 6 keypoints (x, y)
  output 'reshaped_classifier_face_4' [1, 2304, 1]   per anchor: score logit

Anchors (MediaPipe face_detection_full_range_common.pbtxt, SsdAnchorsCalculator):
  num_layers 1, strides [4], input 192x192, anchor_offset 0.5, aspect_ratios [1.0],
  fixed_anchor_size true, interpolated_scale_aspect_ratio 0.0
  -> one feature map of 192/4 = 48 x 48 cells, ONE anchor per cell: 48 * 48 = 2304 anchors,
     row-major (y outer, x inner): anchor i = (cx, cy) = ((x + 0.5) / 48, (y + 0.5) / 48), w = h = 1.
  (The short-range model differs: strides [8, 16, 16, 16], 2 anchors per cell, 896 anchors.)

Decoding (TensorsToDetectionsCalculator; x_scale = y_scale = w_scale = h_scale = 192,
reverse_output_order true = raw order x, y, w, h), in normalised letterbox coordinates 0..1:
  cx = raw[0] / 192 + anchor.cx        cy = raw[1] / 192 + anchor.cy
  w  = raw[2] / 192                    h  = raw[3] / 192
  keypoint k (0..5): (raw[4 + 2k] / 192 + anchor.cx, raw[5 + 2k] / 192 + anchor.cy)
  score = sigmoid(clip(logit, -100, 100)); keep score >= 0.6 (min_score_thresh)
  keypoints: 0 right eye (subject's; image left), 1 left eye, 2 nose tip, 3 mouth centre,
             4 right ear tragion, 5 left ear tragion
NMS: MediaPipe's weighted NMS, IoU threshold 0.3: take the highest-score remaining detection, all
remaining detections with IoU > 0.3 to it form a cluster; the output box/keypoints are the
score-weighted mean of the cluster, the score is the top score.

Letterbox: the frame is scaled by s = 192 / max(W, H) (aspect kept), centred, padded with black
(0 -> -1 after normalisation). Un-mapping: x_frame = (x_norm * 192 - pad_x) / s, same for y.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

INPUT = 192
STRIDE = 4
GRID = INPUT // STRIDE            # 48
NUM_ANCHORS = GRID * GRID         # 2304
SCORE_THRESH = 0.6
IOU_THRESH = 0.3
CLIP = 100.0


def ort_session(path, threads=1, exact=False):
    """onnxruntime on the CPU with one thread by default (as the device would give inference one
    core): shared by the model checks, the evaluation and the benchmarks (which also ask for 2).

    exact=True: the int8 arithmetic the file defines, even where onnxruntime's fused U8S8 kernels
    saturate (x86-64 without VNNI; ort_host.py): what the model checks judge the file by."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if exact:
        import ort_host
        path = ort_host.reference_model(path)
    return ort.InferenceSession(path if isinstance(path, bytes) else str(path), so, providers=["CPUExecutionProvider"])


def anchors() -> np.ndarray:
    """[2304, 2] anchor centres (cx, cy), normalised; row-major over the 48x48 grid."""
    ys, xs = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    return np.stack([(xs.ravel() + 0.5) / GRID, (ys.ravel() + 0.5) / GRID], 1).astype(np.float32)


ANCHORS = anchors()


def letterbox(img: Image.Image, size: int = INPUT):
    """PIL RGB image -> (NCHW float32 tensor normalised to [-1, 1], scale, pad_x, pad_y)."""
    w, h = img.size
    s = size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas = Image.new("RGB", (size, size))
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), (px, py))
    x = np.asarray(canvas, np.float32) / 127.5 - 1.0
    return x.transpose(2, 0, 1)[None].copy(), s, px, py


def decode(regressors: np.ndarray, scores: np.ndarray, thresh: float = SCORE_THRESH):
    """Raw outputs [1,2304,16], [1,2304,1] -> (boxes [n,4] x0,y0,x1,y1 normalised,
    keypoints [n,6,2] normalised, scores [n]) before NMS."""
    r = regressors.reshape(NUM_ANCHORS, 16).astype(np.float64)
    logit = np.clip(scores.reshape(NUM_ANCHORS).astype(np.float64), -CLIP, CLIP)
    sc = 1.0 / (1.0 + np.exp(-logit))
    keep = np.nonzero(sc >= thresh)[0]
    a = ANCHORS[keep].astype(np.float64)
    r = r[keep] / INPUT
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return boxes, kps, sc[keep]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a [4] against boxes b [n,4] (x0, y0, x1, y1)."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def weighted_nms(boxes, kps, scores, iou_thresh: float = IOU_THRESH):
    """MediaPipe weighted NMS -> list of (box [4], keypoints [6,2], score)."""
    order = np.argsort(-scores, kind="stable")
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        ov = iou(boxes[i], boxes) > iou_thresh
        cluster = np.nonzero(ov & alive)[0]
        cluster = np.union1d(cluster, [i])
        wts = scores[cluster][:, None]
        box = (boxes[cluster] * wts).sum(0) / wts.sum()
        kp = (kps[cluster].reshape(len(cluster), -1) * wts).sum(0).reshape(6, 2) / wts.sum()
        out.append((box, kp, float(scores[i])))
        alive[cluster] = False
    return out


def detect(run, img: Image.Image, thresh: float = SCORE_THRESH):
    """run(tensor) -> (regressors, scores). Returns detections in frame pixels:
    list of dict(box=[x0,y0,x1,y1], keypoints=[6,2], score)."""
    x, s, px, py = letterbox(img)
    reg, sc = run(x)
    dets = weighted_nms(*decode(reg, sc, thresh))
    out = []
    for box, kp, score in dets:
        b = (box.reshape(2, 2) * INPUT - [px, py]) / s
        k = (kp * INPUT - [px, py]) / s
        out.append(dict(box=b.reshape(4), keypoints=k, score=score))
    return out


def detect_tiled(run, img: Image.Image, thresh: float = SCORE_THRESH, grid: int = 2,
                 overlap: float = 0.25):
    """Whole frame + grid x grid overlapping tiles, merged by a cross-tile NMS (IoU 0.3)."""
    dets = detect(run, img, thresh)
    w, h = img.size
    tw, th = w / (grid - (grid - 1) * overlap), h / (grid - (grid - 1) * overlap)
    for gy in range(grid):
        for gx in range(grid):
            x0, y0 = round(gx * tw * (1 - overlap)), round(gy * th * (1 - overlap))
            x1, y1 = min(w, round(x0 + tw)), min(h, round(y0 + th))
            for d in detect(run, img.crop((x0, y0, x1, y1)), thresh):
                d["box"] = d["box"] + [x0, y0, x0, y0]
                d["keypoints"] = d["keypoints"] + [x0, y0]
                dets.append(d)
    if not dets:
        return []
    boxes = np.stack([d["box"] for d in dets])
    kps = np.stack([d["keypoints"] for d in dets])
    scores = np.array([d["score"] for d in dets])
    return [dict(box=b, keypoints=k, score=s) for b, k, s in weighted_nms(boxes, kps, scores)]


# ---- face chips for the dlib embedder ----------------------------------------------------------
CHIP = 150
# dlib's get_face_chip_details(shape5, 150, padding 0.25) template: eye centres are the means of
# the template's eye-corner points ((0.8596+0.6461)/2, (0.2135+0.2290)/2) and
# ((0.1206+0.3341)/2, (0.2137+0.2291)/2), mapped by (p + 0.25) / 1.5 * 150.
EYE_TEMPLATE = np.array([[(0.1205750620789 + 0.3340850613712) / 2, (0.2137274526848 + 0.2290642403242) / 2],
                         [(0.8595674595992 + 0.6460604764104) / 2, (0.2134981538014 + 0.2289674387677) / 2]])
EYE_TEMPLATE = (EYE_TEMPLATE + 0.25) / 1.5 * CHIP   # image-left eye first: ~(47.7, 47.1), (100.3, 47.1)


def eye_similarity(kps: np.ndarray, scale_jitter: float = 1.0, angle_jitter: float = 0.0):
    """Similarity transform (chip <- frame) from the two eye keypoints (kp 0 = image-left eye,
    kp 1 = image-right eye) onto EYE_TEMPLATE. Returns 2x3 matrix M mapping frame -> chip."""
    src = np.asarray(kps[:2], np.float64)
    dst = EYE_TEMPLATE
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    scale = np.linalg.norm(vd) / max(np.linalg.norm(vs), 1e-9) * scale_jitter
    ang = np.arctan2(vd[1], vd[0]) - np.arctan2(vs[1], vs[0]) + angle_jitter
    c, s = scale * np.cos(ang), scale * np.sin(ang)
    R = np.array([[c, -s], [s, c]])
    t = (dst[0] + dst[1]) / 2 - R @ ((src[0] + src[1]) / 2)
    return np.hstack([R, t[:, None]])


def face_chip(img: Image.Image, kps: np.ndarray, **jitter) -> np.ndarray:
    """150x150 RGB chip (HxWx3 uint8) aligned on the eyes, bilinear sampling."""
    M = eye_similarity(kps, **jitter)
    A = np.vstack([M, [0, 0, 1]])
    inv = np.linalg.inv(A)  # chip -> frame, what PIL's AFFINE transform wants
    chip = img.transform((CHIP, CHIP), Image.AFFINE, tuple(inv[:2].ravel()), resample=Image.BILINEAR)
    return np.asarray(chip, np.uint8)


def chip_tensor(chip: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 chip -> [1,3,150,150] float32, plain RGB 0..255 (normalisation is in the graph)."""
    return chip.astype(np.float32).transpose(2, 0, 1)[None].copy()


def load_rgb(path) -> Image.Image:
    img = Image.open(path)
    img.load()
    return img.convert("RGB")


def downscale(img: Image.Image, long_side: int = 640) -> tuple[Image.Image, float]:
    """Detector input for big frames (the notes: run on long side ~640). Returns (image, factor)."""
    w, h = img.size
    f = long_side / max(w, h)
    if f >= 1:
        return img, 1.0
    return img.resize((round(w * f), round(h * f)), Image.BILINEAR), f
