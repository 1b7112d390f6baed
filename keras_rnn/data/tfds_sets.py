"""Named `tensorflow-datasets` sets, prepared once (downloaded, or built from a manual directory)."""

from __future__ import annotations

from pathlib import Path

from keras_rnn import UserError


def prepared_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None, check=None):
    """The tfds builder of `name`, prepared (downloads when online; `manual_dir` builds offline);
    `check(builder)` refuses a set from its info before anything is downloaded."""
    import tensorflow as tf  # noqa: F401  (tensorflow before tensorflow_datasets)
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import download_manager

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as err:  # DatasetNotFoundError and friends
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(
            f"unknown tensorflow-datasets set {name!r} ({first}): see "
            "https://www.tensorflow.org/datasets/catalog for the names"
        ) from None
    if check is not None:
        check(builder)
    if manual_dir is not None and not Path(manual_dir).is_dir():
        raise UserError(
            f"--tfds-manual-dir {manual_dir} is not a directory: give the folder holding the "
            "set's files (for tiny_shakespeare: input.txt)"
        )
    if not builder.is_prepared():
        print(f"Preparing tensorflow-datasets '{name}' in {builder.data_dir} ...")
        config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
        try:
            builder.download_and_prepare(download_config=config)
        except download_manager.NonMatchingChecksumError:
            raise UserError(
                f"the files in {manual_dir} are not the ones '{name}' expects (checksum "
                "mismatch): put the original download there"
            ) from None
        except OSError as err:  # no network, unreachable host
            raise UserError(
                f"could not download '{name}' ({err}); run once online, or give the files "
                "to --tfds-manual-dir where the set supports it"
            ) from None
    return builder


def split_names(builder) -> list[str]:
    """The builder's splits in train, validation, test order (all three while the set's info
    does not list them yet, as under `tfds.testing.mock_data`)."""
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(builder.info.splits or order, key=lambda s: order.get(s, 3))


def tagged_splits(name: str, token_feature: str, tag_feature: str, data_dir: str | None = None):
    """{split: TaggedText} of a `tensorflow-datasets` sequence-labelling set (e.g. conll2003:
    `tokens` and `ner`, `pos` or `chunks`): `token_feature` a Sequence of Text, `tag_feature` a
    Sequence of ClassLabel, tags as the ClassLabel's names (all of them, in its order: the run's
    tags). A `dev` split is the validation split. Sequences whose token and tag counts differ,
    empty ones and ones over MAX_TAG_WORDS are skipped and counted."""
    import tensorflow_datasets as tfds

    from keras_rnn.data.conll import TaggedText
    from keras_rnn.limits import MAX_TAG_WORDS

    def inner(builder, key):
        feature = dict(builder.info.features.items()).get(key)  # a FeaturesDict has no .get
        return feature.feature if isinstance(feature, tfds.features.Sequence) else None

    def check(builder):
        words, tags = inner(builder, token_feature), inner(builder, tag_feature)
        if not isinstance(words, tfds.features.Text) or not isinstance(tags, tfds.features.ClassLabel):
            raise UserError(
                f"tensorflow-datasets '{name}' has no sequence of texts --token-feature {token_feature!r} "
                f"and sequence of ClassLabels --tag-feature {tag_feature!r} (its features: "
                f"{', '.join(builder.info.features)})"
            )

    builder = prepared_builder(name, data_dir=data_dir, check=check)
    names = list(inner(builder, tag_feature).names)
    splits = split_names(builder)
    if "train" not in splits:
        raise UserError(f"tensorflow-datasets '{name}' has no train split (it has {', '.join(splits)})")

    def read(split):
        out, skipped = TaggedText([], [], f"tensorflow-datasets {name} {split}", tag_names=names), 0
        for number, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split)), 1):
            words = [w.decode("utf-8").strip() for w in example[token_feature]]
            ids = example[tag_feature]
            if not words or len(words) != len(ids) or len(words) > MAX_TAG_WORDS or not all(words):
                skipped += 1
                continue
            out.words.append(words)
            out.tags.append([names[int(i)] for i in ids])
            out.lines.append(number)
        if skipped:
            print(f"{out.source}: skipped {skipped} sequence(s): empty, over {MAX_TAG_WORDS:,} words, or "
                  "token and tag counts differing")  # fmt: skip
        if not out.words:
            raise UserError(f"{out.source} holds no usable sequence")
        return out

    found = {"train": read("train")}
    for split, held in (("validation", ("validation", "dev")), ("test", ("test",))):
        available = [s for s in held if s in splits]
        if available:
            found[split] = read(available[0])
    return found
