"""The Rec metric (docs/differences.md#sg-7): a Sketch-a-Net classifier of rasterised sketches, in
Keras.

    python -m sketchgloc_tf2.recognition train --data_dir DIR --categories bee,bus,... \
        --output MODEL_DIR [--image_size 96] [--epochs 10]
    python -m sketchgloc_tf2.recognition eval SAMPLE_DIR --model MODEL_DIR

Upstream ships no classifier; its README asks for a Sketch-a-Net trained on each dataset, and Rec
is the accuracy of that classifier on the generated sketches (the category of the source sketch is
the label). `train` rasterises the real training drawings of the categories exactly as
`sample_abs.py` renders generated sketches (`sketch_common.render`: 48x48, upstream
`draw_strokes` geometry, black 1-px strokes) and fits the network; `eval` reads the PNGs of a
`sample_abs.py` folder (`SAMPLE_DIR/<category>/*.png`) as colour-free ink and prints
`Rec: <accuracy>` and one line per category.

Network (Yu et al., Sketch-a-Net, single-channel, without the multi-scale ensemble;
docs/differences.md#sg-7): the 48x48 ink image is resized (bilinear) to `image_size` (225 in the
paper), then

| layer | op | kernel / stride / pad | filters |
|---|---|---|---|
| L1 | conv + ReLU, max-pool 3/2 | 15x15 / 3 / 0 | 64 |
| L2 | conv + ReLU, max-pool 3/2 | 5x5 / 1 / 0 | 128 |
| L3-L5 | conv + ReLU (x3), max-pool 3/2 after L5 | 3x3 / 1 / 1 | 256 |
| L6 | conv + ReLU + dropout 0.5 ("FC") | the whole remaining map (7x7 at 225) | 512 |
| L7 | conv 1x1 + ReLU + dropout 0.5 | 1x1 | 512 |
| L8 | conv 1x1 (logits) | 1x1 | classes |

A smaller `image_size` keeps every kernel and stride and shrinks L6's kernel to the remaining
map (1x1 at 96, about 1/15 of the work of 225); sizes below 81 leave no map for L3-L5's pooling
and are refused. Training adds small random translations and horizontal flips.
"""

import json
import os

import keras
import numpy as np
from absl import logging

from sketch_common import render
from sketch_common.atomic_io import atomic_path, write_text
from sketch_common.progress import progress_bar
from sketchgloc_tf2.errors import SketchConfigError, SketchDataError

MODEL_FILE = "sketch_a_net.keras"
CONFIG_FILE = "recognition_config.json"
PAPER_IMAGE_SIZE = 225
MIN_IMAGE_SIZE = 81
CONVOLUTIONS = (  # (filters, kernel, stride, padding, pool after)
    (64, 15, 3, "valid", True),
    (128, 5, 1, "valid", True),
    (256, 3, 1, "same", False),
    (256, 3, 1, "same", False),
    (256, 3, 1, "same", True),
)


def _after(size, kernel, stride, padding):
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


def final_map_size(image_size: int) -> int:
    """Side of the map entering L6 (7 for 225, 1 for 96); raises for sizes below 81."""
    size = image_size
    for _, kernel, stride, padding, pool in CONVOLUTIONS:
        size = _after(size, kernel, stride, padding)
        if size < 3 and pool:
            raise SketchConfigError(
                f"image_size {image_size} is too small for Sketch-a-Net's layer table; use "
                f"{MIN_IMAGE_SIZE} or more (225 in the paper, 96 for speed)")
        if pool:
            size = _after(size, 3, 2, "valid")
    return size


def sketch_a_net(num_classes: int, image_size: int = PAPER_IMAGE_SIZE,
                 render_width: int = render.DEFAULT_WIDTH, dropout: float = 0.5,
                 seed: int = 0) -> keras.Model:
    """Builds Sketch-a-Net (see the module table).

    Args:
        num_classes: number of categories.
        image_size: side of the network input after resizing (225 in the paper).
        render_width: side of the ink images it is given (48 as `sample_abs.py` renders).
        dropout: dropout rate after L6 and L7.
        seed: seed of the augmentation and dropout layers.

    Returns:
        A `keras.Model` mapping float32 ink `[B, render_width, render_width, 1]` in [0, 1] to
        logits `[B, num_classes]`.
    """
    l6_kernel = final_map_size(image_size)
    inputs = keras.Input((render_width, render_width, 1), name="ink")
    x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear",
                              name="resize")(inputs)
    x = keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed,
                                       name="random_translation")(x)
    x = keras.layers.RandomFlip("horizontal", seed=seed + 1, name="random_flip")(x)
    for number, (filters, kernel, stride, padding, pool) in enumerate(CONVOLUTIONS, start=1):
        x = keras.layers.Conv2D(filters, kernel, stride, padding=padding, activation="relu",
                                name=f"L{number}")(x)
        if pool:
            x = keras.layers.MaxPooling2D(3, 2, name=f"pool{number}")(x)
    x = keras.layers.Conv2D(512, l6_kernel, activation="relu", name="L6")(x)
    x = keras.layers.Dropout(dropout, seed=seed + 2, name="dropout6")(x)
    x = keras.layers.Conv2D(512, 1, activation="relu", name="L7")(x)
    x = keras.layers.Dropout(dropout, seed=seed + 3, name="dropout7")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="L8")(x)
    logits = keras.layers.Flatten(name="logits")(x)
    return keras.Model(inputs, logits, name="sketch_a_net")


def rasterize_sketches(sketches, width: int = render.DEFAULT_WIDTH, progress: bool = False):
    """Ink images of stroke-3 offset sketches: uint8 `[n, width, width]` (255 = full ink)."""
    images = np.zeros((len(sketches), width, width), np.uint8)
    bar = progress_bar(len(sketches), "sketch") if progress else None
    for index, sketch in enumerate(sketches):
        images[index] = np.round(255.0 * render.rasterize(sketch, width))
        if bar and (index + 1) % 100 == 0:
            bar.update(index + 1)
    if bar:
        bar.update(len(sketches))
    return images


def _as_input(images):
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def train(data_dir: str, categories, output_dir: str, image_size: int = 96, epochs: int = 10,
          batch_size: int = 64, learning_rate: float = 1e-3, num_per_category: int = 70000,
          seed: int = 0) -> dict:
    """Trains Sketch-a-Net on the real training drawings of `categories` and saves it.

    Args:
        data_dir: folder of the `<category>.npz` files.
        categories: category names; their order defines the class ids.
        output_dir: written: `sketch_a_net.keras` and `recognition_config.json`.
        image_size: network input side.
        epochs: passes over the training drawings.
        batch_size: images per step.
        learning_rate: Adam learning rate.
        num_per_category: at most this many drawings per category and split.
        seed: seeds weights, shuffling, augmentation and dropout.

    Returns:
        The saved config (with `valid_accuracy` on the validation drawings).
    """
    from sketchgloc_tf2.data.quickdraw import load_data

    categories = list(categories)
    keras.utils.set_random_seed(seed)
    splits = load_data(data_dir, categories, num_per_category)
    logging.info("rasterising %d training and %d validation drawings", len(splits["train"]),
                 len(splits["valid"]))
    train_images = rasterize_sketches(splits["train"].strokes, progress=True)
    valid_images = rasterize_sketches(splits["valid"].strokes, progress=True)
    model = sketch_a_net(len(categories), image_size, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(_as_input(train_images), splits["train"].labels, batch_size=batch_size,
              epochs=epochs, shuffle=True, verbose=2,
              validation_data=(_as_input(valid_images), splits["valid"].labels))
    _, valid_accuracy = model.evaluate(_as_input(valid_images), splits["valid"].labels,
                                       batch_size=256, verbose=0)
    config = dict(categories=categories, image_size=image_size,
                  render_width=render.DEFAULT_WIDTH, render_margin=render.DEFAULT_MARGIN,
                  render_line_width=render.DEFAULT_LINE_WIDTH, epochs=epochs,
                  train_drawings=len(train_images), valid_drawings=len(valid_images),
                  valid_accuracy=float(valid_accuracy), data_dir=os.path.abspath(data_dir))
    os.makedirs(output_dir, exist_ok=True)
    with atomic_path(os.path.join(output_dir, MODEL_FILE)) as temporary:
        model.save(temporary)
    write_text(os.path.join(output_dir, CONFIG_FILE), json.dumps(config, indent=1))
    return config


def load_recognizer(model_dir: str) -> tuple:
    """`(keras model, config dict)` saved by `train`."""
    config_path = os.path.join(model_dir, CONFIG_FILE)
    model_path = os.path.join(model_dir, MODEL_FILE)
    if not (os.path.exists(config_path) and os.path.exists(model_path)):
        raise SketchConfigError(
            f"{model_dir}: no {MODEL_FILE} / {CONFIG_FILE}; train one with "
            "`python -m sketchgloc_tf2.recognition train --data_dir ... --categories ... "
            f"--output {model_dir}`")
    with open(config_path, encoding="utf-8") as stream:
        config = json.load(stream)
    return keras.saving.load_model(model_path), config


def evaluate_folder(model, config: dict, sample_dir: str, batch_size: int = 256) -> dict:
    """Rec of a `sample_abs.py` folder: accuracy on `SAMPLE_DIR/<category>/*.png`.

    Args:
        model: the classifier.
        config: its config (categories in class order, render width).
        sample_dir: folder with one sub-folder per category, named as in the config.
        batch_size: images per prediction call.

    Returns:
        Dict: `accuracy`, `count`, `per_category` (name -> accuracy), `confusion` (int
        `[classes, classes]`, rows = true class).

    Raises:
        SketchDataError: no category sub-folder with PNGs.
    """
    categories = config["categories"]
    images, labels = [], []
    for label, name in enumerate(categories):
        folder = os.path.join(sample_dir, name)
        if not os.path.isdir(folder):
            logging.warning("%s: no folder for category %s; skipped", sample_dir, name)
            continue
        for file_name in sorted(os.listdir(folder)):
            if file_name.endswith(".png"):
                images.append(render.load_ink(os.path.join(folder, file_name),
                                              config.get("render_width", render.DEFAULT_WIDTH)))
                labels.append(label)
    if not images:
        raise SketchDataError(
            f"{sample_dir}: no <category>/*.png for the categories {categories}; generate them "
            "with sample_abs.py using the same categories")
    logits = model.predict(np.stack(images)[..., None], batch_size=batch_size, verbose=0)
    predicted = np.argmax(logits, axis=1)
    labels = np.asarray(labels)
    confusion = np.zeros((len(categories), len(categories)), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_category = {name: float(confusion[label, label] / confusion[label].sum())
                    for label, name in enumerate(categories) if confusion[label].sum()}
    return dict(accuracy=float(np.mean(predicted == labels)), count=int(len(labels)),
                per_category=per_category, confusion=confusion)


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_recognition")
