"""Datasets: shapes, seeded determinism, metadata, user files with errors that name the place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modstudio.engine.data import (
    Augmentation,
    BatchStream,
    ClassSubsets,
    Curriculum,
    difficulty,
    load_dataset,
    make_splits,
    one_vs_rest,
)
from modstudio.engine.errors import DataError
from modstudio.graph.model import DataSection

SHAPES = {
    "moons": ((2,), 2),
    "circles": ((2,), 2),
    "blobs": ((2,), 3),
    "spirals": ((2,), 2),
    "xor": ((2,), 2),
    "checkerboard": ((2,), 2),
    "regimes": ((2,), 2),
    "parity": ((12, 1), 2),
    "digits": ((1, 8, 8), 10),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_builtin_datasets_have_the_documented_shapes_and_classes(name):
    options = {"samples": 200} if name != "digits" else {}
    if name == "parity":
        options["length"] = 12
    data = load_dataset(DataSection(dataset=name, options=options))
    shape, classes = SHAPES[name]
    assert data.sample_shape == shape
    assert data.num_classes == classes
    assert set(data.y.unique().tolist()) == set(range(classes))
    assert torch.isfinite(data.x).all()


def test_digits_is_sklearns_real_data_scaled_to_unit_range():
    data = load_dataset(DataSection(dataset="digits"))
    assert len(data) == 1797 and data.x.min() == 0 and data.x.max() == 1


def test_adding_problem_is_regression_with_two_marked_values():
    data = load_dataset(DataSection(dataset="adding", options={"samples": 50, "length": 10}))
    assert data.sample_shape == (10, 2) and data.target == "regression" and data.y.shape == (50, 1)
    assert (data.x[:, :, 1].sum(dim=1) == 2).all()
    marked = (data.x[:, :, 0] * data.x[:, :, 1]).sum(dim=1, keepdim=True)
    assert torch.allclose(marked, data.y, atol=1e-6)


def test_same_seed_same_data_and_split_other_seed_differs():
    a = make_splits(DataSection(dataset="spirals", seed=3))
    b = make_splits(DataSection(dataset="spirals", seed=3))
    c = make_splits(DataSection(dataset="spirals", seed=4))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    assert (len(a.train), len(a.val), len(a.test)) == (700, 150, 150)


def test_regimes_keeps_the_region_of_every_sample_and_regions_follow_their_own_rule():
    data = load_dataset(DataSection(dataset="regimes", options={"samples": 4000, "regions": 4}))
    regions = data.regions
    assert regions is not None and regions.shape == (4000,)
    assert sorted(regions.unique().tolist()) == [0, 1, 2, 3]
    angle = torch.atan2(data.x[:, 1], data.x[:, 0]) % (2 * torch.pi)
    assert torch.equal(regions, (angle // (torch.pi / 2)).long().clamp(0, 3))
    # one linear rule per region: a logistic fit inside a region is near perfect, across all regions it is not
    from sklearn.linear_model import LogisticRegression

    inside = regions == 0
    fit_one = LogisticRegression().fit(data.x[inside], data.y[inside]).score(data.x[inside], data.y[inside])
    fit_all = LogisticRegression().fit(data.x, data.y).score(data.x, data.y)
    assert fit_one > 0.97 and fit_all < 0.85
    split = make_splits(DataSection(dataset="regimes"))
    assert split.train.regions is not None and len(split.train.regions) == len(split.train)


def test_bad_options_are_named():
    with pytest.raises(DataError, match=r"data\.options\.noise: must be >= 0"):
        load_dataset(DataSection(dataset="moons", options={"noise": -1}))
    with pytest.raises(DataError, match=r"no option 'sampels'"):
        load_dataset(DataSection(dataset="moons", options={"sampels": 10}))
    with pytest.raises(DataError, match=r"no dataset named 'mnist'"):
        load_dataset(DataSection(dataset="mnist"))
    with pytest.raises(DataError, match=r"data\.options\.samples: must be a whole number"):
        load_dataset(DataSection(dataset="moons", options={"samples": "many"}))


def test_csv_standardised_with_train_statistics_and_text_target_mapped(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["height,weight,kind"]
    for i in range(100):
        lines.append(f"{rng.normal(170, 10):.2f},{rng.normal(70, 5):.2f},{'cat' if i % 2 else 'dog'}")
    (tmp_path / "pets.csv").write_text("\n".join(lines))
    section = DataSection(dataset="csv", options={"path": "pets.csv", "target": "kind"})
    data = load_dataset(section, tmp_path)
    assert data.class_names == ["cat", "dog"] and data.num_classes == 2 and data.sample_shape == (2,)
    split = make_splits(section, tmp_path)
    assert torch.allclose(split.train.x.mean(dim=0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(split.train.x.std(dim=0, unbiased=False), torch.ones(2), atol=1e-4)
    assert not torch.allclose(split.test.x.mean(dim=0), torch.zeros(2), atol=1e-5)


def test_csv_errors_name_file_line_and_column(tmp_path):
    file = tmp_path / "bad.csv"
    file.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 3, column 'b': is not a number: 'oops'"):
        load_dataset(DataSection(dataset="csv", options={"path": str(file)}))
    file.write_text("a,b,label\n1,2,x\n3,4\n")
    with pytest.raises(DataError, match=r"line 3: 2 values but the header has 3 columns"):
        load_dataset(DataSection(dataset="csv", options={"path": str(file)}))
    with pytest.raises(DataError, match=r"no column named 'kind'"):
        load_dataset(DataSection(dataset="csv", options={"path": str(file), "target": "kind"}))
    with pytest.raises(DataError, match=r"does not exist"):
        load_dataset(DataSection(dataset="csv", options={"path": "missing.csv"}), tmp_path)


def test_numpy_files_and_their_errors(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 3), np.float32), y=np.arange(20) % 4)
    data = load_dataset(DataSection(dataset="numpy", options={"path": "d.npz"}), tmp_path)
    assert data.sample_shape == (3,) and data.num_classes == 4
    np.savez(tmp_path / "e.npz", inputs=np.zeros((20, 3)))
    with pytest.raises(DataError, match=r"no array named x, y \(arrays: inputs\)"):
        load_dataset(DataSection(dataset="numpy", options={"path": "e.npz"}), tmp_path)
    np.save(tmp_path / "x.npy", np.ones((5, 2)))
    np.save(tmp_path / "y.npy", np.linspace(0, 1, 5))
    data = load_dataset(DataSection(dataset="numpy", options={"path": "x.npy", "targets": "y.npy"}), tmp_path)
    assert data.target == "regression" and data.y.shape == (5, 1)


def test_image_folder_reads_one_subfolder_per_class(tmp_path):
    from PIL import Image

    for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (10 + i, 12), colour).save(tmp_path / "img" / label / f"{i}.png")
    (tmp_path / "img" / "red" / "broken.png").write_bytes(b"not a png")
    section = DataSection(dataset="image_folder", options={"path": "img", "image_size": 8})
    with pytest.raises(DataError, match=r"broken\.png: not a readable image"):
        load_dataset(section, tmp_path)
    (tmp_path / "img" / "red" / "broken.png").unlink()
    data = load_dataset(section, tmp_path)
    assert data.sample_shape == (3, 8, 8) and data.class_names == ["blue", "red"]
    assert torch.allclose(data.x[data.y == 1][:, 0], torch.ones(3, 8, 8))  # red channel of the red class
    gray = load_dataset(DataSection(dataset="image_folder", options={"path": "img"}), tmp_path, input_shape=(1, 5, 5))
    assert gray.sample_shape == (1, 5, 5)


def test_batches_cover_the_data_once_per_epoch_and_repeat_with_the_seed():
    split = make_splits(DataSection(dataset="moons", options={"samples": 200}))

    def epoch_of(seed):
        stream = BatchStream(split.train, 32, generator=torch.Generator().manual_seed(seed))
        return torch.cat([b.x for b in stream.epoch(0)])

    first = epoch_of(1)
    assert first.shape == split.train.x.shape
    assert torch.equal(first.sort(dim=0).values, split.train.x.sort(dim=0).values)
    assert torch.equal(first, epoch_of(1)) and not torch.equal(first, epoch_of(2))


def test_image_augmentation_crops_flips_and_keeps_shapes():
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    out = Augmentation(crop_padding=1, flip=True).apply(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    shifted = Augmentation(crop_padding=2).apply(x, torch.Generator().manual_seed(5))
    assert set(shifted.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    with pytest.raises(DataError, match=r"data\.augmentation\.flip: not available for non-image data"):
        Augmentation.from_section({"flip": True}, is_image=False)


def test_curriculum_starts_with_the_easiest_samples_and_widens():
    data = make_splits(DataSection(dataset="blobs", options={"samples": 400, "classes": 2})).train
    curriculum = Curriculum.from_section({"start": 0.25, "epochs": 4})
    stream = BatchStream(data, 50, curriculum=curriculum)
    sizes = [sum(len(b.y) for b in stream.epoch(e)) for e in range(5)]
    assert sizes[0] == -(-len(data) // 4)  # the easiest quarter, rounded up
    assert sizes == sorted(sizes) and sizes[-1] == len(data) == sizes[3]
    score = difficulty(data)
    first = torch.cat([b.x for b in stream.epoch(0)])
    easiest = data.x[score.argsort()[: len(first)]]
    assert torch.equal(first.sort(dim=0).values, easiest.sort(dim=0).values)
    with pytest.raises(DataError, match=r"data\.curriculum\.start"):
        Curriculum.from_section({"start": 2})


def test_class_subsets_map_labels_to_branch_local_targets():
    subsets = ClassSubsets.of([[0, 3], [1, 2, 4]], 5)
    y = torch.tensor([0, 1, 2, 3, 4, 3])
    assert subsets.coarse(y).tolist() == [0, 1, 1, 0, 1, 0]
    mask, local = subsets.local(y, 1)
    assert mask.tolist() == [False, True, True, False, True, False] and local.tolist() == [0, 1, 2]
    assert one_vs_rest(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(DataError, match="class 3 is in branch 0 and branch 1"):
        ClassSubsets.of([[0, 3], [3, 1, 2, 4]], 5)
    with pytest.raises(DataError, match=r"classes \[4\] belong to no branch"):
        ClassSubsets.of([[0, 3], [1, 2]], 5)
