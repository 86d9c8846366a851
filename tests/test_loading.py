"""model.py discovery, argument filling, optional names, and the data file contract."""

import textwrap

import numpy as np
import pytest
import torch

from cnndoctor.errors import InputError
from cnndoctor.load.data import load_data
from cnndoctor.load.labels import encode_labels
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject
from tests.fixtures.data import gunpoint

HEADER = "import torch\nimport torch.nn as nn\n"
NET = textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, in_channels, num_classes, width=4):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, width, 3, padding=1)
            self.head = nn.Linear(width, num_classes)
        def forward(self, x):
            return self.head(self.conv(x).mean(-1))
""")


def write(tmp_path, body, name="model.py"):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def data(tmp_path, **arrays):
    X_train, y_train, X_test, y_test = gunpoint()
    arrays = arrays or dict(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    np.savez(tmp_path / "data.npz", **arrays)
    return load_data(tmp_path / "data.npz")


def test_single_class_is_the_model_and_arguments_come_from_data(tmp_path):
    mf = load_model_file(write(tmp_path, NET))
    assert (mf.kind, mf.name) == ("class", "Net")
    subject = make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name)
    assert subject.model_arguments == {"in_channels": 1, "num_classes": 2}
    assert subject.build_model().head.out_features == 2


def test_build_model_wins_and_synonyms_are_filled(tmp_path):
    body = NET + textwrap.dedent("""
        def build_model(n_channels, n_classes, length):
            assert length == 150
            return Net(n_channels, n_classes)
    """)
    mf = load_model_file(write(tmp_path, body))
    assert mf.kind == "build_model"
    subject = make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name)
    assert subject.model_arguments == {"n_channels": 1, "n_classes": 2, "length": 150}


def test_module_level_instance(tmp_path):
    mf = load_model_file(write(tmp_path, NET + "model = Net(1, 2)\n"))
    assert mf.kind == "instance"


def test_outermost_class_is_chosen_over_its_blocks(tmp_path):
    body = textwrap.dedent("""
        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv1d(c, c, 3, padding=1)
            def forward(self, x):
                return x + self.conv(x)

        class ResNet(nn.Module):
            def __init__(self, in_channels, num_classes):
                super().__init__()
                self.stem = nn.Conv1d(in_channels, 4, 3, padding=1)
                self.blocks = nn.Sequential(Block(4), Block(4))
                self.head = nn.Linear(4, num_classes)
            def forward(self, x):
                return self.head(self.blocks(self.stem(x)).mean(-1))
    """)
    assert load_model_file(write(tmp_path, body)).name == "ResNet"


def test_ambiguous_classes_need_a_name(tmp_path):
    body = NET + NET.replace("class Net", "class Other")
    with pytest.raises(InputError, match="several nn.Module classes.*model.py:ClassName"):
        load_model_file(write(tmp_path, body))
    assert load_model_file(f"{write(tmp_path, body)}:Other").name == "Other"


def test_optional_names_and_overrides(tmp_path):
    body = NET + textwrap.dedent("""
        criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
        learning_rate = 0.01
        batch_size = 16
        def make_optimizer(params):
            return torch.optim.SGD(params, lr=0.5, momentum=0.9)
        def preprocess(X):
            return X * 2
    """)
    mf = load_model_file(write(tmp_path, body))
    subject = make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name, options=mf.options, batch_size=8)
    # the factory's lr is what the user's loop runs; the disagreeing module-level lr is named in a note
    assert subject.lr == 0.5 and subject.batch_size == 8
    assert subject.settings_source["lr"] == "make_optimizer in model file"
    assert subject.settings_source["batch_size"] == "command line"
    assert any("lr = 0.01" in n and "SGD (lr 0.5, momentum 0.9)" in n for n in subject.notes)
    opt = subject.make_optimizer(subject.build_model().parameters())
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["momentum"] == 0.9
    assert subject.preprocess(np.ones(2)).tolist() == [2, 2]
    assert subject.loss_fn.label_smoothing == 0.1


def test_shuffle_false_in_the_model_file_reads_the_stored_order_at_its_batch_size(tmp_path):
    """GunPoint's 50 training rows, batches of 8, drop_last: 6 batches of consecutive rows, the last 2 rows
    dropped, exactly what DataLoader(train_set, batch_size=8, shuffle=False, drop_last=True) yields."""
    mf = load_model_file(write(tmp_path, NET + "batch_size = 8\ndrop_last = True\nshuffle = False\n"))
    d = data(tmp_path)
    subject = make_subject(mf.target, mf.kind, d, name=mf.name, options=mf.options)
    loop = subject.loader_batches
    assert (loop.sampler, loop.batch_size, loop.drop_last, loop.epoch_order) == ("SequentialSampler", 8, True, "read")
    assert loop.indices == [list(range(i, i + 8)) for i in range(0, 48, 8)]
    assert all(np.array_equal(labels, d.y_train[i:i + 8]) for labels, i in zip(loop.labels, range(0, 48, 8)))
    assert [b.tolist() for b in subject.batch_order.batches] == loop.indices
    assert subject.settings_source["shuffle"] == "model file"
    # --batch-size is the loop's batch size too: the stored order re-read in batches of 10
    subject = make_subject(mf.target, mf.kind, d, name=mf.name, options=mf.options, batch_size=10)
    assert subject.loader_batches.indices == [list(range(i, i + 10)) for i in range(0, 50, 10)]


def test_shuffle_false_over_a_split_cnndoctor_made_walks_every_stored_row(tmp_path):
    X_train, y_train, X_test, y_test = gunpoint()
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    d = data(tmp_path, X=X, y=y)
    assert d.test_name == "split" and np.array_equal(d.X_train, X[d.train_rows])
    assert np.all(np.diff(d.train_rows) > 0) and len(d.train_rows) == 160
    mf = load_model_file(write(tmp_path, NET + "batch_size = 16\nshuffle = False\n"))
    subject = make_subject(mf.target, mf.kind, d, name=mf.name, options=mf.options)
    loop = subject.loader_batches
    assert loop.dataset_size == 200 and np.array_equal(np.concatenate(loop.labels), y)  # the user's whole X
    order = subject.batch_order
    assert order.how == "split" and [len(b) for b in order.batches] == [16] * 10
    assert np.array_equal(np.concatenate(order.batches), np.arange(160))  # the kept rows, in their stored order


def test_shuffle_in_the_model_file_that_is_not_a_bool_is_not_a_setting(tmp_path):
    for line, source in (("from random import shuffle\n", None), ("shuffle = True\n", "model file")):
        mf = load_model_file(write(tmp_path, NET + line))
        subject = make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name, options=mf.options)
        assert subject.loader_batches is None and subject.batch_order is None
        assert subject.settings_source.get("shuffle") == source


def test_model_args_fill_and_reject(tmp_path):
    mf = load_model_file(write(tmp_path, NET))
    subject = make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name, model_args={"width": 6})
    assert subject.build_model().conv.out_channels == 6
    with pytest.raises(InputError, match="takes no such parameter"):
        make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name, model_args={"depth": 3})


def test_unfillable_argument_is_explained(tmp_path):
    body = NET.replace("width=4", "width")
    mf = load_model_file(write(tmp_path, body))
    with pytest.raises(InputError, match="--model-arg width=VALUE"):
        make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name)


@pytest.mark.slow
def test_instance_factory_never_touches_user_weights(tmp_path):
    from cnndoctor import diagnose
    from tests.fixtures.models import TinyCNN

    model = TinyCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X_train, y_train, X_test, y_test = gunpoint()
    diagnose(model, (X_train, y_train), (X_test, y_test), progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_keys_are_case_insensitive_and_val_is_accepted(tmp_path):
    X_train, y_train, X_test, y_test = gunpoint()
    d = data(tmp_path, x_train=X_train, Y_TRAIN=y_train, x_val=X_test, y_val=y_test)
    assert d.test_name == "val" and len(d.X_test) == 150


def test_x_y_alone_is_split_stratified_and_stated(tmp_path):
    X_train, y_train, _, _ = gunpoint()
    d = data(tmp_path, X=X_train, y=y_train)
    assert (len(d.X_train), len(d.X_test)) == (40, 10)
    assert "split X, y 80/20" in d.notes[0] and "stratified" in d.notes[0]
    assert sorted(np.bincount(d.y_test).tolist()) == [5, 5]


def test_label_kinds_keep_the_raw_values():
    assert encode_labels(np.array([1, 2, 3])).kind == "integer"
    onehot = encode_labels(np.eye(3)[[0, 2, 1]])
    assert onehot.kind == "one-hot" and onehot.train.tolist() == [0, 2, 1]
    s = encode_labels(np.array(["b", "a", "b"]), np.array(["a"]))
    assert s.kind == "string" and s.train.tolist() == [1, 0, 1] and s.raw_train.tolist() == ["b", "a", "b"]
    f = encode_labels(np.array([1.0, 2.0]))
    assert f.kind == "float-integer" and f.train.tolist() == [1, 2]


def test_one_channel_data_gets_a_channel_axis_not_a_transpose(run):
    from tests.fixtures.models import TinyCNN

    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D101"])
    assert report.subject["layout"] == "(N, 1, 150), channel axis added"


def test_nlc_model_is_fed_its_layout_as_stored(run):
    class PermutingCNN(torch.nn.Module):  # takes (N, L, C) like a Keras model and permutes itself
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = torch.nn.Conv1d(in_channels, 4, 3)
            self.head = torch.nn.Linear(4, num_classes)

        def forward(self, x):
            return self.head(self.conv(x.permute(0, 2, 1)).mean(-1))

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 50, 3)).astype(np.float32)
    y = np.arange(30) % 3
    report = run(PermutingCNN, (X, y), (X, y), select=["D101"])
    assert report.subject["layout"] == "(N, 50, 3), as stored"
    assert report.subject["channels"] == 3 and report.subject["stored_layout"] == "(N, L, C)"


def test_integer_inputs_are_cast_and_the_report_says_what_the_users_own_loop_meets():
    from cnndoctor.load.data import data_from_arrays

    rng = np.random.default_rng(0)
    X = rng.integers(0, 4096, (20, 1, 50)).astype(np.int16)  # 12-bit ADC counts stored as int16
    y = np.arange(20) % 2
    data = data_from_arrays(X[:16], y[:16], X[16:], y[16:])
    assert data.X_train.dtype == np.float32 and np.array_equal(data.X_train, X[:16].astype(np.float32))
    (note,) = [n for n in data.notes if "int16" in n]
    assert "torch.tensor(X_train)" in note and ".float()" in note and "exactly" in note
    # what the note warns about is real: the user's own loop fails on the stored dtype
    with pytest.raises(RuntimeError):
        torch.nn.Conv1d(1, 2, 3)(torch.tensor(X[:2]))
    assert not any("stored as" in n for n in data_from_arrays(X[:16].astype(np.float32), y[:16]).notes)
    wide = data_from_arrays(X[:16].astype(np.int64) << 20, y[:16], X[16:].astype(np.int64), y[16:])
    assert any("lose precision" in n for n in wide.notes)
