"""Arrays of a ``.npz`` file read without trusting it: a header may claim any shape (a crafted one, 286 TiB),
and numpy allocates what it claims before reading a byte. :func:`checked_array` compares the claim with
what the archive member holds first."""

from __future__ import annotations

import math

import numpy as np

from ablate.core.errors import AblateError


def checked_array(archive: np.lib.npyio.NpzFile, key: str, where: str) -> np.ndarray:
    """``archive[key]`` (``allow_pickle`` as the archive was opened), or one line when the member's header
    claims more bytes than the member holds (a damaged or crafted file)."""
    member = key if key in archive.zip.namelist() else f"{key}.npy"
    size = archive.zip.getinfo(member).file_size
    with archive.zip.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
        header = handle.tell()
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > size - header:
        raise AblateError(f"{where}: array {key!r} claims {shape} of {dtype} ({claimed:,} bytes) but holds "
                          f"{max(0, size - header):,} bytes; the file is damaged: write it again with numpy.savez")
    return archive[key]
