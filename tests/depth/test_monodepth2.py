import numpy as np
import pytest
import torch

from depthforge.depth import monodepth2, network
from depthforge.depth.model import DepthModel, FactoryDepthModel
from tests.conftest import smooth_image


def _perturbed(module: torch.nn.Module) -> torch.nn.Module:
    """Weights that differ from a fresh module's, so that a load that did nothing shows."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.01)
    return module.eval()


def _monodepth2_files(module: monodepth2.Monodepth2, folder, **replace: torch.Tensor) -> tuple:
    """``encoder.pth`` and ``depth.pth`` as monodepth2 saves them: torchvision's unused ``fc`` and the
    image size and stereo flag beside the encoder's weights."""
    encoder = {**module.encoder.state_dict(), "encoder.fc.weight": torch.zeros(1000, 512)}
    encoder |= {"encoder.fc.bias": torch.zeros(1000), "height": 192, "width": 640, "use_stereo": False}
    decoder = {**module.decoder.state_dict(), **replace}
    torch.save(encoder, folder / "encoder.pth")
    torch.save(decoder, folder / "depth.pth")
    return folder / "encoder.pth", folder / "depth.pth"


def test_monodepth2_files_load_without_missing_or_unexpected_keys(tmp_path):
    torch.manual_seed(0)
    released = _perturbed(monodepth2.monodepth2_resnet18().module)
    fresh = monodepth2.monodepth2_resnet18().module.eval()
    monodepth2.load_monodepth2(fresh, *_monodepth2_files(released, tmp_path))
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(fresh(image), released(image))
    disparity = fresh(image)
    assert disparity.shape == (2, 1, 64, 96) and 1 / 100 <= disparity.min() <= disparity.max() <= 1 / 0.1


def test_an_md4all_checkpoint_loads_its_depth_network(tmp_path):
    torch.manual_seed(0)
    released = _perturbed(monodepth2.md4all_resnet50().module)
    state = {f"depth_model.{key}": value for key, value in released.state_dict().items()}
    state |= {"depth_model.encoder.encoder.fc.weight": torch.zeros(1000, 2048), "pose_model.x": torch.ones(3)}
    torch.save({"state_dict": state, "epoch": 19}, tmp_path / "md4all.ckpt")
    fresh = monodepth2.md4all_resnet50().module.eval()
    monodepth2.load_md4all(fresh, tmp_path / "md4all.ckpt")
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(fresh(image), released(image))


def test_a_mismatched_checkpoint_names_its_first_wrong_key(tmp_path):
    module = monodepth2.monodepth2_resnet18().module
    paths = _monodepth2_files(module, tmp_path, **{"decoder.10.conv.weight": torch.zeros(2, 16, 3, 3)})
    with pytest.raises(network.NetworkError, match=r"depth\.pth: 'decoder\.10\.conv\.weight' has shape \(2,"):
        monodepth2.load_monodepth2(module, *paths)
    with pytest.raises(network.NetworkError, match=r"depth\.pth: missing key 'encoder\.conv1\.weight'"):
        monodepth2.load_monodepth2(module, paths[1], paths[1])  # the files swapped
    with pytest.raises(network.NetworkError, match=r"md4all\.ckpt: missing key 'depth_model\.encoder"):
        torch.save({"state_dict": {}}, tmp_path / "md4all.ckpt")
        monodepth2.load_md4all(module, tmp_path / "md4all.ckpt")


def test_the_built_in_network_predicts_saves_and_reloads(tmp_path):
    model = DepthModel.from_pretrained("monodepth2-resnet18")
    assert isinstance(model, FactoryDepthModel) and model.space.value == "relative_inverse_depth"
    image = smooth_image(40, 60)
    depth = model.predict([image])[0]
    assert depth.shape == (40, 60) and np.isfinite(depth).all() and (depth > 0).all()
    _perturbed(model.net)
    changed = model.predict([image])[0]
    model.save_pretrained(tmp_path / "student")
    again = DepthModel.from_pretrained(str(tmp_path / "student"))
    assert again.factory == "monodepth2-resnet18" and np.array_equal(again.predict([image])[0], changed)
    assert network.is_factory("md4all-resnet50") and network.build("md4all-resnet50").space == "inverse_depth"


def test_parameter_names_and_shapes_are_monodepth2s():
    known18 = {
        "encoder.encoder.conv1.weight": (64, 3, 7, 7),
        "encoder.encoder.layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "encoder.encoder.layer4.1.bn2.running_var": (512,),
        "decoder.decoder.0.conv.conv.weight": (256, 512, 3, 3),  # upconv (4, 0)
        "decoder.decoder.1.conv.conv.weight": (256, 512, 3, 3),  # upconv (4, 1): 256 + layer3's 256
        "decoder.decoder.9.conv.conv.weight": (16, 16, 3, 3),  # upconv (0, 1), no skip
        "decoder.decoder.10.conv.weight": (1, 16, 3, 3),  # dispconv 0
        "decoder.decoder.13.conv.weight": (1, 128, 3, 3),  # dispconv 3
    }
    known50 = {
        "encoder.encoder.layer1.0.downsample.1.running_mean": (256,),
        "encoder.encoder.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "decoder.decoder.0.conv.conv.weight": (256, 2048, 3, 3),
        "decoder.decoder.1.conv.conv.weight": (256, 1280, 3, 3),
    }
    for factory, known in [(monodepth2.monodepth2_resnet18, known18), (monodepth2.md4all_resnet50, known50)]:
        state = factory().module.state_dict()
        assert {key: tuple(state[key].shape) for key in known} == known
        assert len([key for key in state if key.startswith("decoder.")]) == 28
