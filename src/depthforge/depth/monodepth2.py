"""monodepth2 and md4all: a ResNet encoder and monodepth2's depth decoder, in plain torch.

The module's parameter names are those of the public code, so released weights load unchanged:
``encoder.`` + monodepth2's ``ResnetEncoder`` keys (``encoder.conv1.weight``,
``encoder.layer1.0.conv1.weight`` ...) and ``decoder.`` + its ``DepthDecoder`` keys
(``decoder.0.conv.conv.weight`` ... ``decoder.13.conv.weight``: upconvs (4, 0), (4, 1) ... (0, 1),
then the disparity heads of scales 0-3). md4all wraps the same two modules as
``depth_model.encoder`` / ``depth_model.decoder`` in its Lightning checkpoint.

The output is monodepth2's scaled disparity at full resolution, ``1 / max_depth + (1 / min_depth -
1 / max_depth) * sigmoid``: inverse depth. monodepth2 trained on monocular video knows depth only up
to scale (relative inverse depth); md4all is trained with velocity supervision and evaluated
without scaling to the ground truth (inverse depth in 1/m).

Load released weights into a factory's module::

    network = monodepth2_resnet18()
    load_monodepth2(network.module, "mono_640x192/encoder.pth", "mono_640x192/depth.pth")
    network = md4all_resnet50()  # or md4all_resnet18(), whichever encoder the checkpoint has
    load_md4all(network.module, "md4allDDa_nuscenes.ckpt")
"""

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from depthforge.depth.network import Network, check_state, read_state
from depthforge.depth.preprocess import Preprocessing
from depthforge.depth.spaces import DepthSpace

LAYERS = {18: [2, 2, 2, 2], 50: [3, 4, 6, 3]}
DECODER_CHANNELS = [16, 32, 64, 128, 256]
CLASSIFIER = re.compile(r"(^|\.)fc\.(weight|bias)$")  # torchvision's ImageNet head, unused by monodepth2


def _conv_bn(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(channels_in, channels_out, kernel, stride, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(channels_out)]


def _shortcut(channels_in: int, channels_out: int, stride: int) -> nn.Module | None:
    """torchvision's ``downsample``: a strided 1x1 convolution where the shapes change."""
    if stride == 1 and channels_in == channels_out:
        return None
    return nn.Sequential(*_conv_bn(channels_in, channels_out, 1, stride))


class BasicBlock(nn.Module):
    """ResNet-18's block: two 3x3 convolutions and the identity (torchvision's names)."""

    expansion = 1

    def __init__(self, channels_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(channels_in, planes, 3, stride)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(channels_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """ResNet-50's block: 1x1, strided 3x3, 1x1 (x4 channels) and the identity (torchvision v1.5)."""

    expansion = 4

    def __init__(self, channels_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(channels_in, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(channels_in, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision's ResNet without its classifier (``avgpool``, ``fc``)."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        block = BasicBlock if num_layers == 18 else Bottleneck
        self.conv1, self.bn1 = _conv_bn(3, 64, 7, 2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 64
        for index, (planes, blocks) in enumerate(zip([64, 128, 256, 512], LAYERS[num_layers], strict=True)):
            stride = 1 if index == 0 else 2
            layer = [block(channels, planes, stride)]
            channels = planes * block.expansion
            layer += [block(channels, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))


class ResnetEncoder(nn.Module):
    """monodepth2's encoder: the features after conv1 and after each of the four stages."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        if num_layers not in LAYERS:
            raise ValueError(f"ResNet-{num_layers}: only {sorted(LAYERS)} are built in")
        self.encoder = ResNet(num_layers)
        expansion = 1 if num_layers == 18 else 4
        self.num_ch_enc = [64] + [channels * expansion for channels in (64, 128, 256, 512)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.encoder
        features = [net.relu(net.bn1(net.conv1(x)))]
        features.append(net.layer1(net.maxpool(features[-1])))
        for stage in (net.layer2, net.layer3, net.layer4):
            features.append(stage(features[-1]))
        return features


class Conv3x3(nn.Module):
    """Reflection padding and a 3x3 convolution (monodepth2's layers.py)."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(channels_in, channels_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """``Conv3x3`` and ELU (monodepth2's layers.py)."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = Conv3x3(channels_in, channels_out)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


class DepthDecoder(nn.Module):
    """monodepth2's decoder: five upconv pairs with skips and nearest x2 upsampling, then a sigmoid
    disparity head per scale, in the order of its ``nn.ModuleList(list(self.convs.values()))``.

    Only the full-resolution head (scale 0) runs; those of scales 1-3, used by monodepth2's training
    loss alone, are kept so that its checkpoints load.
    """

    def __init__(self, num_ch_enc: list[int]) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        for i in range(4, -1, -1):
            channels_in = num_ch_enc[-1] if i == 4 else DECODER_CHANNELS[i + 1]
            channels, skip = DECODER_CHANNELS[i], num_ch_enc[i - 1] if i > 0 else 0
            convs += [ConvBlock(channels_in, channels), ConvBlock(channels + skip, channels)]
        convs += [Conv3x3(DECODER_CHANNELS[scale], 1) for scale in range(4)]
        self.decoder = nn.ModuleList(convs)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for i in range(4, -1, -1):
            x = F.interpolate(self.decoder[2 * (4 - i)](x), scale_factor=2, mode="nearest")
            x = self.decoder[2 * (4 - i) + 1](torch.cat([x, features[i - 1]], 1) if i > 0 else x)
        return torch.sigmoid(self.decoder[10](x))


class Monodepth2(nn.Module):
    """Encoder and decoder: ``pixel_values [B, 3, h, w]`` (h, w multiples of 32) -> scaled disparity
    ``[B, 1, h, w]`` in [1 / max_depth, 1 / min_depth].

    ``standardize``: each image is first standardised by its own mean and std (md4all's "Image"
    normalisation, its choice when day or night is not known); otherwise the input is used as given.
    """

    def __init__(
        self, num_layers: int, min_depth: float, max_depth: float, standardize: bool = False
    ) -> None:
        super().__init__()
        self.encoder = ResnetEncoder(num_layers)
        self.decoder = DepthDecoder(self.encoder.num_ch_enc)
        self.min_disparity, self.max_disparity = 1 / max_depth, 1 / min_depth
        self.standardize = standardize

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values
        if self.standardize:
            flat = x.flatten(1)
            x = (x - flat.mean(1).view(-1, 1, 1, 1)) / flat.std(1).view(-1, 1, 1, 1)
        disparity = self.decoder(self.encoder(x))
        return self.min_disparity + (self.max_disparity - self.min_disparity) * disparity


def monodepth2_resnet18() -> Network:
    """monodepth2's KITTI model (ResNet-18, 640x192, depth 0.1-100, up to scale), randomly initialised.

    Its encoder normalises by ``(x - 0.45) / 0.225``; here ``Preprocessing`` does it, resizing with
    antialiased bicubic where monodepth2's ``test_simple.py`` uses PIL's Lanczos."""
    preprocessing = Preprocessing(height=192, width=640, mean=(0.45,) * 3, std=(0.225,) * 3)
    return Network(Monodepth2(18, 0.1, 100.0), preprocessing, DepthSpace.RELATIVE_INVERSE_DEPTH)


def _md4all(num_layers: int) -> Network:
    preprocessing = Preprocessing(height=320, width=576, mean=(0.0,) * 3, std=(1.0,) * 3)
    module = Monodepth2(num_layers, 0.1, 80.0, standardize=True)
    return Network(module, preprocessing, DepthSpace.INVERSE_DEPTH)


def md4all_resnet50() -> Network:
    """md4all's monodepth2 for nuScenes (576x320, depth 0.1-80, 1/m) with ResNet-50, randomly initialised.

    md4all's public configs keep its default ResNet-18 encoder: a released checkpoint that does not
    fit names its first wrong shape; try ``md4all_resnet18``."""
    return _md4all(50)


def md4all_resnet18() -> Network:
    """As ``md4all_resnet50`` with ResNet-18, md4all's default encoder (``MODEL.DEPTH.ENCODER.VERSION``)."""
    return _md4all(18)


def _read(path: str | Path, part: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint under ``prefix`` (removed) that make ``part``'s state dict: keys and
    shapes checked, the first mismatch named; other entries (monodepth2's ``height``, ``width``,
    ``use_stereo``; torchvision's ``fc``) are ignored."""
    state = {
        key.removeprefix(prefix): value
        for key, value in read_state(path).items()
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and not CLASSIFIER.search(key)
    }
    check_state(part, state, str(path), prefix)
    return state


def load_monodepth2(module: Monodepth2, encoder_path: str | Path, decoder_path: str | Path) -> None:
    """monodepth2's released ``encoder.pth`` and ``depth.pth`` (``torch.load(weights_only=True)``)."""
    encoder = _read(encoder_path, module.encoder)
    decoder = _read(decoder_path, module.decoder)
    module.encoder.load_state_dict(encoder)
    module.decoder.load_state_dict(decoder)


def load_md4all(module: Monodepth2, checkpoint_path: str | Path) -> None:
    """The depth network of an md4all checkpoint (keys ``depth_model.*`` of its ``state_dict``; the pose
    network is ignored).

    The released Lightning checkpoints also pickle their config, which ``weights_only`` loading
    refuses; from a trusted file, save ``torch.load(path, weights_only=False)["state_dict"]`` first."""
    module.load_state_dict(_read(checkpoint_path, module, "depth_model."))
