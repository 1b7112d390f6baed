"""Named `tensorflow-datasets` sets, prepared once (downloaded, or built from a manual directory)."""

from __future__ import annotations

from pathlib import Path

from keras_rnn import UserError


def prepared_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None):
    """The tfds builder of `name`, prepared (downloads when online; `manual_dir` builds offline)."""
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
