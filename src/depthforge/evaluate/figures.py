"""Figure grids, every tile the ground truth's size::

    image          | ground truth  | each model's depth
    scored pixels  | colour scales | each model's AbsRel (its mean in the label)

Depth is shown as nearness (near = warm) with one colour scale per sample, shared by the ground
truth and every model; errors are absolute relative errors from 0 (black) to 0.5 (white-yellow).
"Scored pixels" is the image with the pixels left out of the metrics dimmed; "colour scales" gives
both scales with their end values. Pixels without a value (no ground truth, not scored) are grey.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

NO_DATA = (128, 128, 128)
ERROR_MAX = 0.5


def _nearness(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.where(depth > 0, 1.0 / depth, np.nan)
    return near if mask is None else np.where(mask, near, np.nan)


def _scaled(values: np.ndarray, low: float, high: float, cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    finite = np.isfinite(values)
    scaled = np.clip((np.nan_to_num(values) - low) / max(high - low, 1e-12), 0, 1)
    rgb = (colormaps[cmap](scaled)[..., :3] * 255).round().astype(np.uint8)
    rgb[~finite] = NO_DATA
    return rgb


def _font(height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The default font, larger on large tiles."""
    return ImageFont.load_default(size=max(10, height // 25))


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    picture = Image.fromarray(tile)
    draw = ImageDraw.Draw(picture)
    font = _font(tile.shape[0])
    _, _, right, bottom = draw.textbbox((3, 2), text, font=font)
    draw.rectangle([0, 0, right + 3, bottom + 2], fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def _scales(size: tuple[int, int], nearness: tuple[float, float], unit: str) -> np.ndarray:
    """A white tile with the depth scale (far to near, in ``unit``) and the AbsRel scale as colour
    bars, each with its title and end values."""
    height, width = size
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw, font = ImageDraw.Draw(picture), _font(height)
    text_height = font.getbbox("Ag")[3]
    ramp = np.tile(np.linspace(0, 1, width * 8 // 10), (max(1, height // 8), 1))
    far, near = (f"{1 / value:.3g}" if value > 0 else "inf" for value in nearness)
    bars = [(f"depth ({unit})", "Spectral_r", far, near), ("AbsRel", "inferno", "0", f"{ERROR_MAX:g}+")]
    left, row = width // 10, height // 10
    for title, cmap, low, high in bars:
        draw.text((left, row), title, fill=(0, 0, 0), font=font)
        row += text_height + 2
        picture.paste(Image.fromarray(_scaled(ramp, 0, 1, cmap)), (left, row))
        row += ramp.shape[0] + 2
        draw.text((left, row), low, fill=(0, 0, 0), font=font)
        draw.text(
            (left + ramp.shape[1] - draw.textlength(high, font=font), row), high, fill=(0, 0, 0), font=font
        )
        row += 2 * text_height
    return np.asarray(picture)


def figure_grid(
    image: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    predictions: dict[str, np.ndarray],
    unit: str = "m",
) -> np.ndarray:
    """One sample's grid; ``predictions`` are aligned metric depth maps at the ground truth's size,
    ``mask`` the scored pixels."""
    height, width = gt.shape
    image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
    gt_near = _nearness(gt, mask)
    finite = gt_near[np.isfinite(gt_near)]
    low, high = np.percentile(finite, (2, 98)) if finite.size else (0.0, 1.0)
    dimmed = np.where(mask[..., None], image, image // 4)
    top = [_label(image, "image"), _label(_scaled(gt_near, low, high, "Spectral_r"), "ground truth")]
    bottom = [_label(dimmed, "scored pixels"), _scales((height, width), (low, high), unit)]
    for name, depth in predictions.items():
        top.append(_label(_scaled(_nearness(depth), low, high, "Spectral_r"), name))
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.where(mask, np.abs(depth - gt) / gt, np.nan)
        mean = f" {np.nanmean(error):.3f}" if mask.any() else ""
        bottom.append(_label(_scaled(error, 0.0, ERROR_MAX, "inferno"), f"{name} AbsRel{mean}"))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
