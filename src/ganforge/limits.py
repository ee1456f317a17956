"""The bounds every command checks its arguments against, defined once.

Each is a sanity limit far above any sensible setting, chosen so that a typo or a hostile value is
refused in one message before any work, instead of running for hours, allocating gigabytes or ending
in a traceback. Commands import these names (``ganforge.args`` builds its argparse validators from
them); a limit used in a message is always quoted from here, so the message and the check agree.
"""

from __future__ import annotations

# Seeds: torch.Generator().manual_seed takes any of these, numpy.random.RandomState (KID's subsets)
# exactly these, and the file names they appear in stay short. train.seed, --seed(s), --noise-seed.
SEED_MAX = 2**32 - 1

# Images in one grid picture (a 64 x 64 grid): generate --grid / --class-grid, mix (rows x columns,
# headers included), truncation (seeds x psi values), variation --draws; train.grid_size too.
GRID_MAX = 4096

# Frames of one interpolation (frames per transition x transitions, + the last frame): they are held
# in memory together, so this is the same memory as the largest grid.
FRAMES_MAX = 4096

# Samples of one metric (the N of fid{N}k, eqt{N}k_int, ...): 20x the largest published protocol (50k).
# Metrics draw their latents up front, so an unbounded N was an allocation of N x z_dim floats.
METRIC_SAMPLES_MAX = 1_000_000

# Images per forward pass in generate / translate --batch-size.
FORWARD_BATCH_MAX = 4096

# Images per training step (train.batch_size) and per eval --batch-size.
BATCH_MAX = 65536

# Optimisation steps of `ganforge project` (the official projector runs 1000); one progress frame is
# kept every 10 steps, so the progress GIF stays below FRAMES_MAX frames.
PROJECT_STEPS_MAX = 10_000

# Learning rate of `ganforge project` (the official projector uses 0.1): finite, > 0 and at most this.
PROJECT_LR_MAX = 10.0

# Truncation psi (generate --psi and the style tools): finite and -PSI_MAX..PSI_MAX (1 = none, 0 = the
# W mean; published figures use -1..1.5).
PSI_MAX = 100.0

# Frames per second of interpolate's GIF/MP4: a GIF frame lasts a whole number of 10 ms, so 100 is the
# fastest a GIF can play.
FPS_MAX = 100

# Inputs shown beside their outputs by translate --grid.
TRANSLATE_GRID_MAX = 64

# Processes on one machine for train --nproc (one GPU each, or gloo processes on the CPU).
NPROC_MAX = 1024

# Whole-job restarts of train --nproc ... --max-restarts.
MAX_RESTARTS_MAX = 100

# Bytes in one file or folder name (the limit of ext4, XFS, btrfs, tmpfs, APFS; NTFS: 255 UTF-16 units),
# and in a whole path given on the command line (Linux's PATH_MAX).
FILE_NAME_MAX = 255
PATH_MAX = 4096

# generate --z-trunc (BigGAN's truncation by resampling z): entries beyond +-T are drawn again, so a
# smaller T redraws nearly every entry many times over, and beyond 100 no normal draw is ever redrawn.
Z_TRUNC_MIN, Z_TRUNC_MAX = 0.05, 100.0

# Config bounds (ganforge.validation's rules; the data layer checks resolutions against the same one).
# Training length in kimg, latent size, base channel width, discriminator steps per G step, image side
# length, number of classes.
KIMG_MAX = 1e7
Z_DIM_MAX = 8192
WIDTH_MAX = 1024
N_CRITIC_MAX = 100
RESOLUTION_MAX = 4096
NUM_CLASSES_MAX = 100_000
